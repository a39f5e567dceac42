"""The model-backed assistant against a fake OpenAI-compatible server, end to end: HTTP → gateway →
NATS → ai service → fake provider, with the real executor, registry and backtester as tools."""

from __future__ import annotations

import asyncio
import json

import nats
import nats.aio.msg

from tests.ai.conftest import AI_TIMEOUT_S, API_KEY
from tests.ai.fake_openai import FakeOpenAI
from tests.e2e.test_ai_api import parse_sse
from shared.settings import Settings
from tests.harness import Api, RunningPlatform

GOOD = """fn run(ctx) {
    let rsi = ctx.rsi(14);
    if is_null(rsi) {
        ctx.hold("warming up");
        return;
    }
    if rsi < 30 {
        ctx.buy(ctx.symbol, 0.01, "oversold");
    } else {
        ctx.hold("no setup");
    }
}
"""
BROKEN = GOOD.replace("if rsi < 30", "if rsii < 30")


def fenced(code: str, before: str = "Here it is:") -> str:
    return f"{before}\n\n```hyperoru\n{code}```\n"


async def test_tool_loop_feeds_results_back_and_checks_the_final_code(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset(
        {"tool_calls": [("validate_code", {"code": GOOD}), ("list_symbols", {})]},
        {"tool_calls": [("test_run", {"code": GOOD, "symbol": "BTC"})]},
        {"content": fenced(GOOD), "usage": {"prompt_tokens": 300, "completion_tokens": 50, "total_tokens": 350}},
    )
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "RSI program please"})
    assert status == 200, body
    assert body["provider"] == "openai-compatible" and body["model"] == "fake-model"
    assert body["code"] == GOOD and body["diagnostics"] == {"valid": True, "errors": [], "warnings": []}
    assert [(c["name"], c["ok"]) for c in body["tool_calls"]] == [
        ("validate_code", True), ("list_symbols", True), ("test_run", True), ("validate_code", True)]
    assert "BTC" in body["tool_calls"][1]["result"] and body["tool_calls"][2]["result"].startswith("BTC 1h at ")
    assert body["usage"] == {"prompt_tokens": 500, "completion_tokens": 90, "total_tokens": 590, "provider_calls": 3, "estimated": False}

    first, second, third = fake_openai.requests
    assert first["model"] == "fake-model" and {t["function"]["name"] for t in first["tools"]} >= {
        "validate_code", "test_run", "quick_backtest", "query_market_data", "get_program", "read_guide_section", "list_symbols"}
    assert first["messages"][0]["role"] == "system" and "fn run(ctx)" in first["messages"][0]["content"]
    assert "ctx.position()" in first["messages"][0]["content"]  # the prompt carries the guide's ctx table
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0", "call_1"]
    assert json.loads(tool_messages[0]["content"])["valid"] is True
    assert "BTC" in json.loads(tool_messages[1]["content"])["symbols"]
    assert second["messages"][-3]["tool_calls"][0]["function"]["name"] == "validate_code"
    assert json.loads([m for m in third["messages"] if m["role"] == "tool"][-1]["content"])["status"] == "ok"
    assert all(h.get("Authorization") == f"Bearer {API_KEY}" for h in fake_openai.headers)


async def test_repair_loop_sends_the_diagnostics_back_until_the_code_compiles(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"content": fenced(BROKEN)}, {"content": fenced(GOOD, "Fixed:")})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "RSI program"})
    assert status == 200, body
    assert body["code"] == GOOD and body["diagnostics"]["valid"] is True
    assert [(c["name"], c["ok"]) for c in body["tool_calls"]] == [("validate_code", False), ("validate_code", True)]
    repair = fake_openai.requests[1]["messages"][-1]
    assert repair["role"] == "user" and "does not compile" in repair["content"] and "rsii" in repair["content"]
    assert fake_openai.requests[1]["messages"][-2] == {"role": "assistant", "content": fenced(BROKEN)}


async def test_code_that_never_compiles_is_answered_honestly(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"content": fenced(BROKEN)}, {"content": fenced(BROKEN)}, {"content": fenced(BROKEN)})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "RSI program"})
    assert status == 200, body
    assert len(fake_openai.requests) == 3  # the first answer and AI_REPAIR_ROUNDS = 2 repairs
    assert body["code"] == BROKEN and body["diagnostics"]["valid"] is False
    assert body["diagnostics"]["errors"][0]["message"].startswith("unknown variable `rsii`")
    assert "This program does not compile" in body["response"] and "after 2 attempts" in body["response"]
    assert "unknown variable `rsii`" in body["response"]


async def test_code_passed_only_to_a_tool_is_the_proposal(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"tool_calls": [("validate_code", {"code": GOOD})]}, {"content": "The program above validates."})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "write it"})
    assert status == 200 and body["code"] == GOOD and body["diagnostics"]["valid"]


async def test_bad_tool_arguments_and_unknown_tools_go_back_to_the_model(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset(
        {"tool_calls": [("validate_code", "{not json"), ("launch_rocket", {}), ("test_run", {"code": GOOD})]},
        {"content": "No code this time."},
    )
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hm"})
    assert status == 200, body
    assert body["code"] is None and body["diagnostics"] is None
    assert [(c["name"], c["ok"]) for c in body["tool_calls"]] == [("validate_code", False), ("launch_rocket", False), ("test_run", False)]
    results = [json.loads(m["content"]) for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in results[0]["error"] and "no tool `launch_rocket`" in results[1]["error"]
    assert "`symbol` is required" in results[2]["error"]


async def test_tool_rounds_are_limited(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset(*[{"tool_calls": [("list_symbols", {})]}] * 3, {"content": "done"})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "loop"})
    assert status == 200, body
    assert len(body["tool_calls"]) == 3 and "tools" not in fake_openai.requests[3]  # AI_MAX_TOOL_ROUNDS = 3


async def test_streams_tokens_and_tool_calls_through_the_gateway(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"tool_calls": [("list_symbols", {})]}, {"content": fenced(GOOD, "Streaming answer.")})
    async with model_api.session.post(
        model_api.base_url + "/api/programs/ai-chat", json={"message": "RSI", "stream": True}, headers={"X-Owner": model_api.owner}
    ) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        events = parse_sse((await response.read()).decode())
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["tool_call", "tool_result"] and kinds[-1] == "done"
    assert events[0][1] == {"name": "list_symbols", "arguments": {}}
    assert kinds.count("token") >= 3  # the fake streams the text in thirds
    assert "".join(data["text"] for kind, data in events if kind == "token") == fenced(GOOD, "Streaming answer.")
    assert kinds[-3:-1] == ["tool_call", "tool_result"]  # the final validation, after the text
    assert events[-1][1]["code"] == GOOD and events[-1][1]["diagnostics"]["valid"]
    assert all(request.get("stream") is True for request in fake_openai.requests)


async def test_rate_limits_are_retried_after_the_time_asked(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"status": 429, "retry_after": 0}, {"status": 503}, {"content": "ok"})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hi"})
    assert status == 200 and body["response"] == "ok" and len(fake_openai.requests) == 3


async def test_provider_errors_are_502_and_store_nothing(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset(*[{"status": 500, "message": "model crashed"}] * 3)
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hi"})
    assert status == 502 and body["error"]["code"] == "bad_gateway" and "model crashed" in body["error"]["message"]
    fake_openai.reset({"status": 401, "message": "invalid api key"})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hi"})
    assert status == 502 and "HTTP 401" in body["error"]["message"] and len(fake_openai.requests) == 1
    fake_openai.reset({"raw": b"<html>proxy error</html>"})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hi"})
    assert status == 502 and "not a chat completion" in body["error"]["message"]
    assert API_KEY not in json.dumps(body)
    assert (await model_api.get("/api/programs/ai-conversations"))[1] == []


async def test_provider_timeouts_are_504_and_store_nothing(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"content": "hi"})
    status, first = await model_api.post("/api/programs/ai-chat", {"message": "hello"})
    assert status == 200
    fake_openai.reset({"sleep": AI_TIMEOUT_S + 1, "content": "too late"})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "again", "conversation_id": first["conversation_id"]})
    assert status == 504 and "AI_TIMEOUT_S" in body["error"]["message"]
    _, messages = await model_api.get(f"/api/programs/ai-conversations/{first['conversation_id']}/messages")
    assert [m["content"] for m in messages] == ["hello", "hi"]  # the failed turn left nothing behind


async def test_stream_errors_arrive_as_an_error_event(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"status": 500}, {"status": 500}, {"status": 500})
    async with model_api.session.post(
        model_api.base_url + "/api/programs/ai-chat", json={"message": "hi", "stream": True}, headers={"X-Owner": model_api.owner}
    ) as response:
        events = parse_sse((await response.read()).decode())
    assert [kind for kind, _ in events] == ["error"] and events[0][1]["status"] == 502


async def test_history_and_program_context_reach_the_model(model_api: Api, fake_openai: FakeOpenAI) -> None:
    status, program = await model_api.post("/api/programs", {"name": "edited", "code": GOOD})
    assert status == 201
    fake_openai.reset({"content": "first answer"}, {"content": "second answer"})
    _, first = await model_api.post("/api/programs/ai-chat", {"message": "first question", "program_id": program["id"]})
    _, second = await model_api.post("/api/programs/ai-chat", {"message": "second question", "conversation_id": first["conversation_id"]})
    assert second["conversation_id"] == first["conversation_id"]
    messages = fake_openai.requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in messages[1:]] == ["first question", "first answer", "second question"]
    assert "editing saved program" in messages[0]["content"] and "ctx.rsi(14)" in messages[0]["content"]


async def test_token_budget_stops_the_answer(model_api: Api, fake_openai: FakeOpenAI) -> None:
    fake_openai.reset({"tool_calls": [("list_symbols", {})], "usage": {"prompt_tokens": 40_000, "completion_tokens": 10}})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "hi"})
    assert status == 200 and len(fake_openai.requests) == 1
    assert "token budget" in body["response"] and body["notes"] == ["the token budget (32000) was reached"]


async def test_each_stored_message_publishes_an_event(model_api: Api, fake_openai: FakeOpenAI, model_settings: Settings) -> None:
    nc = await nats.connect(model_settings.nats_url)
    received: list[dict] = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        received.append(json.loads(msg.data))

    await nc.subscribe("evt.ai.message.created", cb=collect)
    await nc.flush()
    fake_openai.reset({"content": fenced(GOOD)})
    status, body = await model_api.post("/api/programs/ai-chat", {"message": "q"})
    assert status == 200
    async with asyncio.timeout(5):
        while len(received) < 2:
            await asyncio.sleep(0.02)
    await nc.close()
    assert [(e["role"], e["conversation_id"], e["owner"]) for e in received] == [
        ("user", body["conversation_id"], model_api.owner), ("assistant", body["conversation_id"], model_api.owner)]
    assert received[1]["has_code"] is True and received[1]["provider"] == "openai-compatible"


async def test_a_restarted_ai_service_has_every_conversation(
    model_api: Api, fake_openai: FakeOpenAI, model_platform: RunningPlatform, model_settings: Settings
) -> None:
    from services.ai.service import build as build_ai

    fake_openai.reset({"content": "kept"})
    _, before = await model_api.post("/api/programs/ai-chat", {"message": "remember me"})
    old = next(s for s in model_platform.services if s.name == "ai")
    await old.stop()
    new = await build_ai(model_settings)
    await new.connect()
    await new.serve()
    model_platform.services[model_platform.services.index(old)] = new
    for _ in range(100):  # until the gateway sees the restarted service (503 "retry shortly" before that)
        status, listed = await model_api.get("/api/programs/ai-conversations")
        if status != 503:
            break
        await asyncio.sleep(0.1)
    assert status == 200 and [(c["id"], c["title"]) for c in listed] == [(before["conversation_id"], "remember me")]
    _, messages = await model_api.get(f"/api/programs/ai-conversations/{before['conversation_id']}/messages")
    assert [m["content"] for m in messages] == ["remember me", "kept"]
