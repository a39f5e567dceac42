"""Long and streamed answers (the AI chat): Server-Sent Events over NATS request/reply.

NATS request/reply carries one reply, so a streamed answer travels in two parts:
1. the gateway makes an inbox subject, subscribes to it, and publishes the request with that inbox
   as its reply subject AND in the message's `stream_inbox` field (a field the client cannot set:
   the route's request type forbids it; it is added here after the body was decoded);
2. the service publishes progress chunks (`StreamChunk`: `token`, `tool_call`, `tool_result`, with
   header `X-Stream-Chunk`) to the inbox while it works, then answers the request as usual, which
   sends the reply (or the error envelope) to the same inbox.

Chunks and reply leave the service on one connection and arrive on one subscription, in order, so
the reply is the end of the stream and no chunk can be missed or overtaken (a design with a separate
request reply would race the chunk reader). The gateway forwards each chunk as an SSE event of the
same name, and ends with `done` (the whole reply) or `error` (the error envelope, plus `status`). A
comment line (`: keep-alive`) goes out every `KEEPALIVE_S` of silence so proxies and clients do not
time out.

The same route without streaming (no `"stream": true`, no `Accept: text/event-stream`) answers one
JSON reply. Either way it waits up to `AI_ANSWER_TIMEOUT_S` (an answer may take several model and
tool calls), not the gateway's usual `REQUEST_TIMEOUT_S`. If the client goes away mid-stream, the
gateway stops listening; the service still finishes (and stores) the answer.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import msgspec
import nats.errors
import structlog
from aiohttp import web
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro.request import ERROR_CODE_HEADER

from services.gateway.app import (
    BUS_KEY, OWNER_KEY, REQUEST_ID_KEY, SETTINGS_KEY, bus_errors, check_fits, encode_message, error_status,
)
from services.gateway.body import read_body
from services.gateway.requests import RequestBuilder
from services.gateway.routes import Route
from shared import subjects
from shared.context import now_ms
from shared.errors import AppError, GatewayTimeout, Unavailable

log = structlog.get_logger()

KEEPALIVE_S = 10.0
REPLY_GRACE_S = 2.0
"""Waited beyond the answer's own deadline: the service's 504 envelope is better than ours."""
EVENT_STREAM = "text/event-stream"
CHUNK_HEADER = "X-Stream-Chunk"
"""Set on progress chunks (to the event name), never on the reply: how the two are told apart."""
_encode = msgspec.json.Encoder().encode


class _Chunk(msgspec.Struct):
    event: str
    data: msgspec.Raw


_chunk = msgspec.json.Decoder(_Chunk)


class StreamingForwarder:
    """The handler of a `Route(..., streams=True)`."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.builder = RequestBuilder(route.request, method=route.method, query=route.query)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await read_body(request, False)
        message = self.builder.build(raw, request.match_info, request.query)
        body: dict[str, Any] = msgspec.to_builtins(message)
        stream = bool(body.get("stream")) or EVENT_STREAM in request.headers.get("Accept", "")
        settings = request.app[SETTINGS_KEY]
        nc: Client = request.app[BUS_KEY].client
        wait_s = settings.ai_answer_timeout_s
        headers = {
            subjects.REQUEST_ID_HEADER: request[REQUEST_ID_KEY],
            subjects.OWNER_HEADER: request[OWNER_KEY],
            subjects.DEADLINE_HEADER: str(now_ms() + int(wait_s * 1000)),
        }
        if not stream:
            reply = await self._request(nc, body, headers, wait_s)
            return _json_reply(reply, self.route.status)
        inbox = nc.new_inbox()
        body["stream"] = True
        body["stream_inbox"] = inbox
        try:
            sub = await nc.subscribe(inbox)
        except nats.errors.Error:
            raise Unavailable("the message bus is not connected; retry shortly") from None
        try:
            return await self._stream(request, nc, sub, body, headers, wait_s)
        finally:
            with suppress(Exception):
                await sub.unsubscribe()

    async def _request(self, nc: Client, body: dict[str, Any], headers: dict[str, str], wait_s: float) -> Msg:
        payload = encode_message(_encode, body)
        check_fits(payload, headers, nc)
        with bus_errors(self.route.subject, wait_s):
            return await nc.request(self.route.subject, payload, timeout=wait_s + REPLY_GRACE_S, headers=headers)

    async def _stream(
        self, request: web.Request, nc: Client, sub: Any, body: dict[str, Any], headers: dict[str, str], wait_s: float
    ) -> web.StreamResponse:
        """Publish the request with the inbox as its reply subject: chunks and the reply then arrive on
        one subscription, in the order the service sent them, and the reply ends the stream."""
        payload = encode_message(_encode, body)
        check_fits(payload, headers, nc)
        with bus_errors(self.route.subject, wait_s):  # a publish raises only the size and connection errors
            await nc.publish(self.route.subject, payload, reply=body["stream_inbox"], headers=headers)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": EVENT_STREAM, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        give_up = asyncio.get_running_loop().time() + wait_s + REPLY_GRACE_S
        try:
            while True:
                left = give_up - asyncio.get_running_loop().time()
                if left <= 0:
                    error = GatewayTimeout(f"`{self.route.subject}` did not answer within {wait_s:g} s")
                    await response.write(_error_event(error))
                    break
                try:
                    msg = await sub.next_msg(timeout=min(KEEPALIVE_S, left))
                except nats.errors.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                except nats.errors.Error:  # the connection closed under us
                    error = Unavailable("the message bus connection was lost; retry")
                    await response.write(_error_event(error))
                    break
                if msg.headers and msg.headers.get(CHUNK_HEADER):
                    await _write_chunk(response, msg)
                    continue
                await response.write(_final(self.route.subject, msg))
                break
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):  # the client went away: stop listening
            log.info("sse_client_gone", subject=self.route.subject)
            raise
        return response


def _final(subject: str, msg: Msg) -> bytes:
    """The reply as the last event: `done`, or `error` with the envelope and its HTTP `status`."""
    headers = msg.headers or {}
    if headers.get("Status") == "503" and not msg.data:  # the server's "no responders" answer
        error = Unavailable(f"no service is answering `{subject}` right now; retry shortly")
        return _error_event(error)
    if ERROR_CODE_HEADER in headers:
        data = msgspec.json.decode(msg.data)
        data["status"] = error_status(headers[ERROR_CODE_HEADER])
        return _sse("error", _encode(data))
    return _sse("done", msg.data)


async def _write_chunk(response: web.StreamResponse, msg: Msg) -> None:
    try:
        chunk = _chunk.decode(msg.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return  # not a chunk of ours: nothing to forward
    if chunk.event in ("token", "tool_call", "tool_result"):
        await response.write(_sse(chunk.event, bytes(chunk.data)))


def _error_event(error: AppError) -> bytes:
    """An error of the gateway's own as the last event: the envelope plus its HTTP `status`."""
    return _sse("error", _encode({**msgspec.to_builtins(error.envelope()), "status": error.status}))


def _sse(event: str, data: bytes) -> bytes:
    # JSON has no raw newlines, so each event's data is one `data:` line.
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def _json_reply(reply: Msg, status: int) -> web.Response:
    if reply.headers and ERROR_CODE_HEADER in reply.headers:
        return web.Response(status=error_status(reply.headers[ERROR_CODE_HEADER]), body=reply.data, content_type="application/json")
    return web.Response(status=status, body=reply.data, content_type="application/json")
