"""What the run against a real llama.cpp server (`test_live_model.py`, opt-in) found, kept as tests
that always run: a small aiohttp stand-in answers exactly the way llama-cpp-python 0.3.36's server
with `--chat_format chatml-function-calling` did.

- A streamed request *with tools*: `200 text/event-stream`, then the stream closes without one chunk
  (the server raises "Automatic streaming tool choice is not supported" inside the stream), and the
  connection is dropped. The adapter used to take that for an empty answer.
- An assistant message with `"content": null` next to its `tool_calls` is refused (HTTP 500, pydantic
  "Input should be a valid string"): the assistant loop must send `""`.
- Streams without tools work, with `[DONE]` and no usage chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from services.ai.assistant import _assistant_with_calls
from services.ai.providers.base import ProviderTurn, ToolCall, TurnUsage
from services.ai.providers.openai_compat import OpenAICompatibleProvider
from services.ai.tools import TOOL_SPECS
from shared.errors import BadGateway
from tests.ai.fake_openai import ChatCompletionsServer

ASK = [{"role": "user", "content": "Which symbols can I trade?"}]


class LlamaCppLike(ChatCompletionsServer):
    """Answers like llama-cpp-python's server. `cut`: streams stop after one text chunk, with no
    finish_reason and no `[DONE]`; `ignore_stream`: JSON even to a streamed request (some servers)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cut = False
        self.ignore_stream = False

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        for message in body["messages"]:
            if message["role"] == "assistant" and not isinstance(message.get("content"), str):
                return web.json_response({"error": {"message": "Input should be a valid string"}}, status=500)
        tools, stream = bool(body.get("tools")), bool(body.get("stream")) and not self.ignore_stream
        if stream:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            if tools:  # "Automatic streaming tool choice is not supported": nothing is sent
                response.force_close()
                await response.write_eof()
                return response
            for delta, finish in (({"role": "assistant"}, None), ({"content": "Hel"}, None), ({"content": "lo"}, None), ({}, "stop")):
                if self.cut and finish is None and "content" in delta and delta["content"] == "lo":
                    response.force_close()
                    await response.write_eof()
                    return response
                chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        if tools:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call__0_list_symbols", "type": "function", "function": {"name": "list_symbols", "arguments": "{ }"}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "Hello"}, "stop"
        return web.json_response({"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                  "usage": {"prompt_tokens": 700, "completion_tokens": 2, "total_tokens": 702}})


@pytest_asyncio.fixture
async def server() -> AsyncIterator[LlamaCppLike]:
    fake = LlamaCppLike()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def provider(server: LlamaCppLike) -> AsyncIterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(server.url, model="m", timeout_s=10, base_backoff_s=0.01)
    yield provider
    await provider.close()


async def test_a_stream_closed_empty_with_tools_is_asked_again_unstreamed(server: LlamaCppLike, provider: OpenAICompatibleProvider) -> None:
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    turn = await provider.chat(ASK, TOOL_SPECS, max_tokens=64, on_token=on_token)
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls] == [("call__0_list_symbols", "list_symbols", "{ }")]
    assert turn.finish_reason == "tool_calls" and turn.usage == TurnUsage(prompt_tokens=700, completion_tokens=2)
    assert not provider.streams_tool_calls
    assert server.requests[0].get("stream") is True and all("stream" not in r for r in server.requests[1:])

    server.requests.clear()  # from now on calls with tools go unstreamed at once, and their text still reaches on_token
    turn = await provider.chat(ASK, TOOL_SPECS, max_tokens=64, on_token=on_token)
    assert turn.tool_calls and [r.get("stream") for r in server.requests] == [None]
    turn = await provider.chat(ASK, [], max_tokens=64, on_token=on_token)  # without tools: still streamed
    assert turn.content == "Hello" and tokens == ["Hel", "lo"] and server.requests[-1]["stream"] is True


async def test_a_stream_cut_short_is_a_502(server: LlamaCppLike, provider: OpenAICompatibleProvider) -> None:
    async def on_token(text: str) -> None:
        return None

    server.cut = True
    with pytest.raises(BadGateway, match="stream ended before the answer was complete"):
        await provider.chat(ASK, [], max_tokens=64, on_token=on_token)


async def test_a_json_answer_to_a_streaming_caller_reaches_it_in_one_piece(server: LlamaCppLike, provider: OpenAICompatibleProvider) -> None:
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    server.ignore_stream = True
    turn = await provider.chat(ASK, [], max_tokens=64, on_token=on_token)
    assert server.requests[-1]["stream"] is True and turn.content == "Hello" and tokens == ["Hello"]


async def test_the_follow_up_after_tool_calls_is_accepted(server: LlamaCppLike, provider: OpenAICompatibleProvider) -> None:
    first = await provider.chat(ASK, TOOL_SPECS, max_tokens=64)
    follow_up = _assistant_with_calls(first)
    assert follow_up["content"] == "" and follow_up["tool_calls"][0]["function"] == {"name": "list_symbols", "arguments": "{ }"}
    messages = [*ASK, follow_up, {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": '{"symbols": ["BTC"]}'}]
    answer = await provider.chat(messages, [], max_tokens=64)
    assert answer.content == "Hello"


def test_a_tool_call_turn_with_text_keeps_it() -> None:
    turn = ProviderTurn(content="Let me look.", tool_calls=[ToolCall(id="c1", name="list_symbols", arguments="{}")], usage=TurnUsage())
    assert _assistant_with_calls(turn)["content"] == "Let me look."
