"""Opt-in: the model-backed assistant against a real local model server. Skipped (with the reason)
unless `AI_LIVE_BASE_URL` is set, e.g. `http://127.0.0.1:8765/v1`; the README's "AI assistant"
section has the commands (llama-cpp-python's server with SmolLM2-135M-Instruct and
`--chat_format chatml-function-calling`, in a virtualenv of its own).

It checks the protocol and the tool plumbing, never answer quality: a 135M model's text is junk and
varies. What must hold whatever the model says:
- the adapter gets a complete OpenAI-shaped turn, streamed or not (a stream that the server closes
  empty, as llama-cpp-python does for streamed tool calls, must not pass as an empty answer);
- a tool call the model makes has one of our names and JSON arguments, and the server accepts the
  follow-up we build from it (the assistant message with `tool_calls`, then `role: tool` results);
- end to end (HTTP → gateway → NATS → ai service → the model, with the real executor, registry and
  backtester as tools): every tool the model called was run and recorded, the reply carries the
  contract fields, the exchange is stored, and a streamed answer ends in `done` with the same reply.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio

from services.ai.assistant import _assistant_with_calls  # the follow-up message exactly as the loop builds it
from services.ai.providers.base import ProviderTurn
from services.ai.providers.openai_compat import OpenAICompatibleProvider
from services.ai.tools import TOOL_NAMES, TOOL_SPECS
from shared.natsserver import NatsServer
from shared.settings import Settings, load_settings
from tests.e2e.test_ai_api import parse_sse
from tests.harness import Api, RunningPlatform, start_platform

LIVE_URL = os.environ.get("AI_LIVE_BASE_URL")
LIVE_MODEL = os.environ.get("AI_LIVE_MODEL", "default")
pytestmark = pytest.mark.skipif(
    not LIVE_URL, reason="AI_LIVE_BASE_URL is not set: no local llama.cpp (or other OpenAI-compatible) server to talk to"
)

ASK_FOR_SYMBOLS = [
    {"role": "system", "content": "You are a tool-using assistant. Call the list_symbols tool."},
    {"role": "user", "content": "Which symbols can I trade? Use the tool."},
]
LIST_SYMBOLS_ONLY = [spec for spec in TOOL_SPECS if spec["function"]["name"] == "list_symbols"]


def check_turn(turn: ProviderTurn) -> None:
    """A complete turn: the server finished it, and any tool call names one of our tools."""
    assert isinstance(turn.content, str)
    assert turn.finish_reason is not None, f"the server never finished the answer: {turn}"
    for call in turn.tool_calls:
        assert call.id and call.name in TOOL_NAMES, call
        assert isinstance(json.loads(call.arguments or "{}"), dict), call
    assert turn.usage.completion_tokens >= 0 and (turn.usage.estimated or turn.usage.prompt_tokens > 0), turn.usage


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[OpenAICompatibleProvider]:
    assert LIVE_URL is not None
    provider = OpenAICompatibleProvider(LIVE_URL, model=LIVE_MODEL, timeout_s=120)
    yield provider
    await provider.close()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_live_server_speaks_chat_completions_with_tools(provider: OpenAICompatibleProvider, stream: bool) -> None:
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    turn = await provider.chat(ASK_FOR_SYMBOLS, TOOL_SPECS, max_tokens=128, on_token=on_token if stream else None)
    check_turn(turn)
    if stream:
        assert "".join(tokens) == turn.content


async def test_live_server_streams_text_without_tools(provider: OpenAICompatibleProvider) -> None:
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    turn = await provider.chat([{"role": "user", "content": "Say hello."}], [], max_tokens=16, on_token=on_token)
    check_turn(turn)
    assert not turn.tool_calls and turn.content and "".join(tokens) == turn.content
    assert len(tokens) >= 2, "a streamed answer came in one piece"


async def test_live_server_takes_the_tool_results_we_send_back(provider: OpenAICompatibleProvider) -> None:
    first = await provider.chat(ASK_FOR_SYMBOLS, LIST_SYMBOLS_ONLY, max_tokens=64)
    check_turn(first)
    assert [call.name for call in first.tool_calls][:1] == ["list_symbols"], (
        f"the model made no list_symbols call when asked to, so the follow-up cannot be checked: {first}")
    messages = [
        *ASK_FOR_SYMBOLS,
        _assistant_with_calls(first),
        *({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"symbols": ["BTC", "ETH"]})} for call in first.tool_calls),
    ]
    check_turn(await provider.chat(messages, LIST_SYMBOLS_ONLY, max_tokens=64))
    check_turn(await provider.chat(messages, [], max_tokens=32))  # the last round: no tools offered


# --- end to end: a platform whose ai service talks to the live server ---------------------------

@pytest.fixture(scope="module")
def live_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("ai-live-jetstream")) as server:
        yield server


@pytest.fixture(scope="module")
def live_settings(tmp_path_factory: pytest.TempPathFactory, live_nats: NatsServer) -> Settings:
    assert LIVE_URL is not None
    return load_settings({
        "NATS_URL": live_nats.url, "DATA_DIR": str(tmp_path_factory.mktemp("ai-live-data")), "LOG_LEVEL": "warning",
        "LOG_FORMAT": "json", "AI_BASE_URL": LIVE_URL, "AI_MODEL": LIVE_MODEL,
        # a cold ~6,000-token system prompt takes a 135M model on 2 busy cores well over a minute
        "AI_TIMEOUT_S": "240", "AI_ANSWER_TIMEOUT_S": "290",  # (the test's HTTP client gives up at 300 s)
        "AI_MAX_TOOL_ROUNDS": "1", "AI_REPAIR_ROUNDS": "1",  # one tool round, then the answer (+ one repair)
    })


@pytest_asyncio.fixture(scope="module")
async def live_platform(live_settings: Settings) -> AsyncIterator[RunningPlatform]:
    from services.ai.service import build as build_ai
    from services.backtester.service import build as build_backtester
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    running = await start_platform(live_settings, [build_registry, build_executor, build_backtester, build_ai])
    yield running
    await running.stop()


@pytest.fixture
def live_api(live_platform: RunningPlatform, http_session: aiohttp.ClientSession) -> Api:
    return Api(http_session, live_platform.base_url)


QUESTION = "Which symbols can I trade? Call the list_symbols tool."


def check_reply(body: dict) -> None:
    assert body["provider"] == "openai-compatible" and body["model"] == LIVE_MODEL, body
    assert body["conversation_id"].startswith("conv-") and isinstance(body["response"], str)
    usage = body["usage"]
    assert 1 <= usage["provider_calls"] <= 1 + 1 + 1, usage  # the tool round, the answer, one repair at most
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0, usage
    for call in body["tool_calls"]:
        assert call["name"] in TOOL_NAMES and isinstance(call["result"], str) and isinstance(call["ok"], bool), call
        if call["name"] == "list_symbols" and call["ok"]:
            assert "BTC" in call["result"], call  # the executor really answered
    if body["code"] is None:
        assert body["diagnostics"] is None
    else:  # whatever the model wrote was validated, and the answer says so if it does not compile
        assert body["tool_calls"][-1]["name"] == "validate_code" and body["diagnostics"]["valid"] in (True, False)
        assert body["diagnostics"]["valid"] or "does not compile" in body["response"]


async def check_stored(api: Api, body: dict) -> None:
    status, messages = await api.get(f"/api/programs/ai-conversations/{body['conversation_id']}/messages")
    assert status == 200, messages
    user, assistant = messages[-2:]
    assert (user["role"], user["content"]) == ("user", QUESTION)
    assert (assistant["role"], assistant["content"], assistant["code"]) == ("assistant", body["response"], body["code"])
    assert [c["name"] for c in assistant["tool_calls"]] == [c["name"] for c in body["tool_calls"]]


async def test_live_model_end_to_end(live_api: Api) -> None:
    status, body = await live_api.post("/api/programs/ai-chat", {"message": QUESTION})
    assert status == 200, body
    check_reply(body)
    assert body["tool_calls"] and body["tool_calls"][0]["name"] == "list_symbols" and body["tool_calls"][0]["ok"], (
        "the model's list_symbols call was not run", body["tool_calls"])
    assert body["usage"]["provider_calls"] >= 2 and not body["notes"], body  # the result went back, the model answered
    assert not body["usage"]["estimated"]  # an unstreamed answer carries the server's usage
    await check_stored(live_api, body)


async def test_live_model_end_to_end_streamed(live_api: Api) -> None:
    async with live_api.session.post(
        live_api.base_url + "/api/programs/ai-chat", json={"message": QUESTION, "stream": True},
        headers={"X-Owner": live_api.owner},
    ) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        events = parse_sse((await response.read()).decode())
    kinds = [kind for kind, _ in events]
    assert kinds and kinds[-1] == "done" and "error" not in kinds, events
    body = events[-1][1]
    check_reply(body)
    calls = [data for kind, data in events if kind == "tool_call"]
    results = [data for kind, data in events if kind == "tool_result"]
    assert [c["name"] for c in calls] == [r["name"] for r in results] == [c["name"] for c in body["tool_calls"]]
    assert [k for k in kinds if k.startswith("tool_")] == ["tool_call", "tool_result"] * len(calls)  # each call, then its result
    assert body["tool_calls"] and body["tool_calls"][0]["name"] == "list_symbols" and body["tool_calls"][0]["ok"]
    assert body["usage"]["provider_calls"] >= 2 and not body["notes"], body
    text = "".join(data["text"] for kind, data in events if kind == "token")
    if body["diagnostics"] is None or body["diagnostics"]["valid"]:  # else the answer has the errors appended
        assert text.endswith(body["response"]), (text, body["response"])  # the answer's text went out as tokens
    await check_stored(live_api, body)
