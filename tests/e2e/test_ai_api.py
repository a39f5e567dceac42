"""The AI routes over real HTTP → NATS → ai service → SQLite, with the built-in offline assistant (the
default: no `AI_BASE_URL` in the test settings). The model-backed path is in `tests/ai/`."""

from __future__ import annotations

import re

from tests.harness import Api

RSI_REQUEST = "Write an RSI mean reversion program for ETH: buy when RSI(21) is below 25, exit above 60"


async def chat(api: Api, message: str, **fields: object) -> dict:
    status, body = await api.post("/api/programs/ai-chat", {"message": message, **fields})
    assert status == 200, body
    return body


async def test_chat_answers_with_code_that_validates_and_says_what_it_is(api: Api) -> None:
    body = await chat(api, RSI_REQUEST)
    assert re.fullmatch(r"conv-[0-9a-f]{16}", body["conversation_id"])
    assert body["provider"] == "builtin" and body["model"]
    assert "not an AI model" in body["response"]
    assert body["diagnostics"]["valid"] is True and body["diagnostics"]["errors"] == []
    assert 'ctx.params.get("rsi_period", 21)' in body["code"] and "ctx.rsi(period)" in body["code"]
    assert 'ctx.params.get("oversold", 25)' in body["code"] and 'ctx.params.get("exit_level", 60)' in body["code"]
    names = [call["name"] for call in body["tool_calls"]]
    assert names == ["list_symbols", "test_run", "validate_code"]
    test_run = body["tool_calls"][1]
    assert test_run["arguments"]["symbol"] == "ETH" and test_run["ok"] is True
    assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


async def test_conversations_are_listed_newest_first_with_titles_and_messages(api: Api) -> None:
    first = await chat(api, "Grid on BTC with levels 1.5% apart")
    second = await chat(api, "What does ctx.position do?")
    await chat(api, "DCA $50 every day", conversation_id=first["conversation_id"])

    status, listed = await api.get("/api/programs/ai-conversations")
    assert status == 200
    assert [c["id"] for c in listed] == [first["conversation_id"], second["conversation_id"]]  # the continued one moved up
    assert listed[0]["title"] == "Grid on BTC with levels 1.5% apart" and listed[0]["turns"] == 2
    assert set(listed[0]) >= {"id", "title", "created_at", "updated_at", "program_id"}

    status, page = await api.get("/api/programs/ai-conversations?limit=1")
    assert status == 200 and len(page) == 1 and "X-Next-Cursor" in api.last_headers
    status, rest = await api.get(f"/api/programs/ai-conversations?limit=1&cursor={api.last_headers['X-Next-Cursor']}")
    assert [c["id"] for c in rest] == [second["conversation_id"]] and "X-Next-Cursor" not in api.last_headers

    status, messages = await api.get(f"/api/programs/ai-conversations/{first['conversation_id']}/messages")
    assert status == 200
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Grid on BTC with levels 1.5% apart" and messages[0]["code"] is None
    assert messages[1]["code"] == first["code"] and messages[1]["tool_calls"] and messages[1]["time"]
    assert "spacing_pct" in messages[1]["code"] and "amount" in messages[3]["code"]

    status, part = await api.get(f"/api/programs/ai-conversations/{first['conversation_id']}/messages?limit=3")
    assert len(part) == 3 and "X-Next-Cursor" in api.last_headers
    status, tail = await api.get(
        f"/api/programs/ai-conversations/{first['conversation_id']}/messages?limit=3&cursor={api.last_headers['X-Next-Cursor']}"
    )
    assert [m["id"] for m in tail] == [messages[3]["id"]]


async def test_conversations_are_owned_and_deletable(api: Api) -> None:
    body = await chat(api, "Breakout of the 55-bar high")
    conv = body["conversation_id"]
    other = Api(api.session, api.base_url)
    assert (await other.get(f"/api/programs/ai-conversations/{conv}/messages"))[0] == 404
    assert (await other.post("/api/programs/ai-chat", {"message": "more", "conversation_id": conv}))[0] == 404
    assert (await other.delete(f"/api/programs/ai-conversations/{conv}"))[0] == 404
    assert (await api.delete(f"/api/programs/ai-conversations/{conv}"))[0] == 204
    assert (await api.get(f"/api/programs/ai-conversations/{conv}/messages"))[0] == 404
    assert (await api.get("/api/programs/ai-conversations"))[1] == []


async def test_program_being_edited_is_context(api: Api) -> None:
    broken = "fn run(ctx) {\n    let qty = 0.01;\n    ctx.buy(ctx.symbol, qtty);\n}\n"
    status, program = await api.post("/api/programs", {"name": "mine", "code": "fn run(ctx) { ctx.hold(\"x\"); }"})
    assert status == 201
    body = await chat(api, f"Why does this fail? ```\n{broken}```", program_id=program["id"])
    assert "unknown variable `qtty`" in body["response"]
    assert body["code"] is not None and "ctx.buy(ctx.symbol, qty)" in body["code"] and body["diagnostics"]["valid"]
    status, listed = await api.get(f"/api/programs/ai-conversations?program_id={program['id']}")
    assert [c["id"] for c in listed] == [body["conversation_id"]] and listed[0]["program_id"] == program["id"]
    status, error = await api.post("/api/programs/ai-chat", {"message": "hi", "program_id": 999999})
    assert status == 404 and error["error"]["details"]["field"] == "program_id"


async def test_bad_requests_name_the_field(api: Api) -> None:
    status, body = await api.post("/api/programs/ai-chat", {"message": ""})
    assert status == 422 and body["error"]["details"]["field"] == "message"
    status, body = await api.post("/api/programs/ai-chat", {"message": "x" * 16_001})
    assert status == 422 and body["error"]["details"]["field"] == "message"
    status, body = await api.post("/api/programs/ai-chat", {"message": "hi", "stream_inbox": "_INBOX.abc"})
    assert status == 422 and body["error"]["details"]["field"] == "stream_inbox"
    status, body = await api.post("/api/programs/ai-chat", {"message": "hi", "conversation_id": "conv-0000000000000000"})
    assert status == 404 and body["error"]["details"]["field"] == "conversation_id"
    status, body = await api.post("/api/programs/ai-chat", {"message": "hi", "conversation_id": "nope"})
    assert status == 422 and body["error"]["details"]["field"] == "conversation_id"
    assert (await api.get("/api/programs/ai-conversations/conv-xyz/messages"))[0] == 404
    status, body = await api.get("/api/programs/ai-conversations?cursor=bm9wZQ")
    assert status == 422 and body["error"]["details"]["field"] == "cursor"


async def test_chat_streams_server_sent_events(api: Api) -> None:
    headers = {"X-Owner": api.owner}
    async with api.session.post(
        api.base_url + "/api/programs/ai-chat", json={"message": RSI_REQUEST, "stream": True}, headers=headers
    ) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        events = parse_sse((await response.read()).decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and "token" in kinds and "tool_call" in kinds and "tool_result" in kinds
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("token")
    done = events[-1][1]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed == done["response"].split("\n\n_Note")[0] or done["response"].startswith(streamed)
    assert done["diagnostics"]["valid"] and done["conversation_id"].startswith("conv-")


async def test_accept_header_streams_and_errors_arrive_as_an_error_event(api: Api) -> None:
    headers = {"X-Owner": api.owner, "Accept": "text/event-stream"}
    async with api.session.post(
        api.base_url + "/api/programs/ai-chat", json={"message": "hi", "conversation_id": "conv-0000000000000001"}, headers=headers
    ) as response:
        assert response.status == 200
        events = parse_sse((await response.read()).decode())
    assert [kind for kind, _ in events] == ["error"]
    assert events[0][1]["status"] == 404 and events[0][1]["error"]["details"]["field"] == "conversation_id"


def parse_sse(text: str) -> list[tuple[str, dict]]:
    import json

    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        kind = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((kind, json.loads(data)))
    return events
