"""The OpenAI-compatible chat-completions adapter: OpenAI, llama.cpp's server, vLLM, Ollama.

A thin aiohttp client rather than the `openai` package: the platform already depends on aiohttp,
the protocol we use is one POST (`/chat/completions`, JSON in, JSON or SSE out), and the `openai`
package would bring pydantic and an httpx stack into a service that needs neither. What it does:

- one call per `chat`, with a hard timeout (`AI_TIMEOUT_S`) for the whole call, streamed or not;
- retries on 429 and 5xx (and on a refused connection) with exponential back-off, honouring a
  `Retry-After` header, but only while nothing has been streamed to the user yet, and never past
  the time the answer has left;
- streaming: SSE `data:` lines, text deltas passed on as they come, `tool_calls` deltas accumulated
  by `index` (the id and name arrive in the first delta, the arguments in pieces);
- `max_tokens` per call (the assistant's per-answer token budget decides it);
- a stream must end with `[DONE]` or a `finish_reason`: one that stops short is an error (502), and
  one that closes before its first chunk is retried like a refused connection;
- a server that cannot stream tool calls gets them unstreamed: llama-cpp-python's
  `chatml-function-calling` answers a streamed request with tools by opening the stream and closing
  it empty ("Automatic streaming tool choice is not supported", in its log only). When a streamed call
  *with tools* closes empty, the adapter asks again without streaming, passes the text on in one
  piece, and keeps doing so for calls with tools (calls without tools still stream). (That server
  drops the connection after such a stream, once aiohttp has pooled it: the unstreamed call then
  meets a closed connection and is retried like any broken connection.) A server that answers JSON
  to a streamed request is handled the same way (its text goes out in one piece).

The API key goes in the `Authorization` header and nowhere else: it is never logged, and error
messages quote the upstream's answer, never our request.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp
import msgspec
import structlog

from services.ai.providers.base import Message, ProviderTurn, TokenSink, ToolCall, TurnUsage, estimate_tokens
from shared.errors import BadGateway, GatewayTimeout

log = structlog.get_logger()

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 3
BASE_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
ERROR_EXCERPT_CHARS = 300


class _Retry(Exception):
    def __init__(self, reason: str, after_s: float | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


class _EmptyStream(_Retry):
    """The server opened the event stream and closed it without sending one chunk."""

    def __init__(self) -> None:
        super().__init__("the event stream closed before its first chunk", None)


class OpenAICompatibleProvider:
    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_attempts: int = MAX_ATTEMPTS,
        base_backoff_s: float = BASE_BACKOFF_S,
    ) -> None:
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._base_backoff_s = base_backoff_s
        self._session: aiohttp.ClientSession | None = None
        self.streams_tool_calls = True
        """False once the server closed a streamed call with tools empty: such calls then go unstreamed."""

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def chat(
        self, messages: list[Message], tools: list[dict[str, Any]], *, max_tokens: int, on_token: TokenSink | None = None
    ) -> ProviderTurn:
        stream = on_token is not None and (self.streams_tool_calls or not tools)
        payload = _payload(self.model, messages, tools, max_tokens, stream)
        deadline = time.monotonic() + self._timeout_s
        attempt = 0
        while True:
            attempt += 1
            streamed = _Streamed()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    turn = await self._call(payload, on_token if stream else None, streamed)
                if on_token is not None and not streamed.sse and turn.content:
                    await on_token(turn.content)  # unstreamed answer to a streaming caller: in one piece
                return turn
            except _Retry as retry:
                if isinstance(retry, _EmptyStream) and stream and tools:  # a capability it lacks, not a failure
                    self.streams_tool_calls = False
                    log.warning("ai_provider_cannot_stream_tool_calls", url=self._url, action="asking again unstreamed")
                    stream = False
                    payload = _payload(self.model, messages, tools, max_tokens, stream)
                    attempt -= 1
                    continue
                wait = retry.after_s if retry.after_s is not None else self._backoff(attempt)
                if attempt >= self._max_attempts or streamed.any or time.monotonic() + wait >= deadline:
                    raise BadGateway(f"the AI provider failed: {retry.reason}", details={"attempts": attempt}) from None
                log.warning("ai_provider_retry", reason=retry.reason, attempt=attempt, wait_s=round(wait, 2))
                await asyncio.sleep(wait)
            except TimeoutError:
                raise GatewayTimeout(
                    f"the AI provider did not answer within {self._timeout_s:g} s (AI_TIMEOUT_S)",
                    details={"reason": "provider_timeout", "timeout_s": self._timeout_s},
                ) from None

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_S, self._base_backoff_s * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)

    async def _call(self, payload: bytes, on_token: TokenSink | None, streamed: _Streamed) -> ProviderTurn:
        try:
            async with self._client().post(self._url, data=payload) as response:
                if response.status in RETRY_STATUSES:
                    text = await response.text(errors="replace")
                    raise _Retry(f"HTTP {response.status}: {_excerpt(text)}", _retry_after(response.headers.get("Retry-After")))
                if response.status >= 400:
                    text = await response.text(errors="replace")
                    raise BadGateway(
                        f"the AI provider refused the request: HTTP {response.status}: {_excerpt(text)}",
                        details={"upstream_status": response.status},
                    )
                if on_token is not None and response.content_type == "text/event-stream":
                    streamed.sse = True
                    return await _read_stream(response, on_token, streamed)
                return _read_json(await response.read())
        except aiohttp.ClientConnectionError as exc:  # retried unless text already went out (see `chat`)
            raise _Retry(f"connection failed or broke off: {type(exc).__name__}", None) from None
        except aiohttp.ClientPayloadError as exc:
            raise BadGateway(f"the AI provider's answer was cut short: {exc}") from None


class _Streamed:
    """What an attempt did: whether any text went out to the user (then it cannot be retried), and
    whether the answer came as an event stream at all."""

    any = False
    sse = False


def _payload(model: str, messages: list[Message], tools: list[dict[str, Any]], max_tokens: int, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if tools:
        body["tools"] = tools
        body["tool_choice"] = "auto"
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return msgspec.json.encode(body)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(MAX_BACKOFF_S * 6, max(0.0, float(value)))
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text[:ERROR_EXCERPT_CHARS] + ("…" if len(text) > ERROR_EXCERPT_CHARS else "")


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallOut(msgspec.Struct):
    function: _Function
    id: str | None = None
    index: int | None = None


class _MessageOut(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCallOut] | None = None


class _Choice(msgspec.Struct):
    message: _MessageOut | None = None
    delta: _MessageOut | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Completion(msgspec.Struct):
    choices: list[_Choice] = []
    usage: _Usage | None = None


_completion = msgspec.json.Decoder(_Completion)


def _read_json(data: bytes) -> ProviderTurn:
    try:
        completion = _completion.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadGateway(f"the AI provider's answer is not a chat completion: {exc}") from None
    if not completion.choices or completion.choices[0].message is None:
        raise BadGateway("the AI provider's answer has no message")
    choice = completion.choices[0]
    message = choice.message
    assert message is not None
    calls = [
        ToolCall(id=call.id or f"call_{i}", name=call.function.name or "", arguments=call.function.arguments or "")
        for i, call in enumerate(message.tool_calls or [])
    ]
    content = message.content or ""
    return ProviderTurn(content=content, tool_calls=calls, usage=_usage(completion.usage, content), finish_reason=choice.finish_reason)


def _usage(usage: _Usage | None, content: str) -> TurnUsage:
    if usage is None:
        return TurnUsage(completion_tokens=estimate_tokens(content), estimated=True)
    return TurnUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)


async def _read_stream(response: aiohttp.ClientResponse, on_token: TokenSink, streamed: _Streamed) -> ProviderTurn:
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    usage: _Usage | None = None
    finish: str | None = None
    chunks = 0
    done = False
    async for raw in _sse_data(response):
        if raw == b"[DONE]":
            done = True
            break
        try:
            chunk = _completion.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise BadGateway(f"the AI provider sent a chunk that is not a chat completion chunk: {exc}") from None
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices[:1]:
            finish = choice.finish_reason or finish
            delta = choice.delta or choice.message
            if delta is None:
                continue
            if delta.content:
                text.append(delta.content)
                streamed.any = True
                await on_token(delta.content)
            for position, call in enumerate(delta.tool_calls or []):
                index = call.index if call.index is not None else position
                slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function.name:
                    slot["name"] += call.function.name
                if call.function.arguments:
                    slot["arguments"] += call.function.arguments
    if not chunks and not done:
        raise _EmptyStream()
    if not done and finish is None:
        raise BadGateway(f"the AI provider's stream ended before the answer was complete (after {chunks} chunks)")
    content = "".join(text)
    tool_calls = [
        ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
        for index, slot in sorted(calls.items())
    ]
    return ProviderTurn(content=content, tool_calls=tool_calls, usage=_usage(usage, content), finish_reason=finish)


async def _sse_data(response: aiohttp.ClientResponse):  # type: ignore[no-untyped-def]
    """The payload of each SSE event (its `data:` lines joined), as bytes."""
    data: list[bytes] = []
    async for line in response.content:
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
            continue
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
    if data:
        yield b"\n".join(data)
