"""Streaming an answer's progress to the gateway while it is being made.

NATS request/reply carries one reply, so progress travels beside it: the gateway puts an inbox
subject in the request (`ChatSend.stream_inbox`, never settable by a client; it is also the
request's reply subject), listens on it, and turns each `StreamChunk` published there into a
Server-Sent Event. The final reply (or the error envelope) goes to the same inbox as the request's
reply, and the gateway sends it as `done` (or `error`). Chunks and reply leave this service on one
NATS connection and reach one subscription, in order. Chunks are best effort: a lost one loses a few
characters of progress, never the answer, which `done` carries whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client

from shared.messages.ai import StreamChunk

log = structlog.get_logger()
CHUNK_HEADER = "X-Stream-Chunk"  # the gateway's `services/gateway/streams.py` tells chunks from the reply by it
_encode = msgspec.json.Encoder().encode


class InboxSink:
    def __init__(self, client: Callable[[], Client], inbox: str) -> None:
        self._client = client
        self._inbox = inbox
        self._broken = False

    async def _send(self, chunk: StreamChunk) -> None:
        if self._broken:
            return
        try:
            await self._client().publish(self._inbox, _encode(chunk), headers={CHUNK_HEADER: chunk.event})
        except Exception as exc:  # progress is best effort; the answer itself still goes back as the reply
            self._broken = True
            log.warning("ai_stream_publish_failed", error=str(exc))

    async def token(self, text: str) -> None:
        await self._send(StreamChunk(event="token", data={"text": text}))

    async def tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        await self._send(StreamChunk(event="tool_call", data={"name": name, "arguments": arguments}))

    async def tool_result(self, name: str, summary: str, ok: bool) -> None:
        await self._send(StreamChunk(event="tool_result", data={"name": name, "result": summary, "ok": ok}))
