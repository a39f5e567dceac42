"""A fake OpenAI-compatible chat-completions server (aiohttp), speaking the real wire protocol.

Each test gives it a script: one step per expected request, taken in order. A step is a reply
(`content`, `tool_calls`, `usage`), or a failure (`status` with an optional `retry_after`, `sleep`
seconds before answering, `raw` bytes). Replies go out as JSON, or, when the request asks for
`"stream": true`, as SSE chunks the way OpenAI sends them: text in several deltas, each tool call
split over deltas (id and name first, the arguments in pieces, by `index`), usage in a last chunk,
then `data: [DONE]`. Every request body and its headers are recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


class ChatCompletionsServer:
    """What every stand-in chat-completions server shares: serve `_complete` at `/v1/chat/completions`
    on a free loopback port (`url` is the API base a provider is pointed at), and stop."""

    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


@dataclass
class FakeOpenAI(ChatCompletionsServer):
    script: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def reset(self, *steps: dict[str, Any]) -> None:
        self.script = list(steps)
        self.requests.clear()
        self.headers.clear()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.script:
            return web.json_response({"error": {"message": "the fake has no scripted reply left"}}, status=400)
        step = self.script.pop(0)
        if "sleep" in step:
            await asyncio.sleep(step["sleep"])
        if "status" in step:
            headers = {"Retry-After": str(step["retry_after"])} if "retry_after" in step else None
            return web.json_response({"error": {"message": step.get("message", "scripted failure")}}, status=step["status"], headers=headers)
        if "raw" in step:
            return web.Response(body=step["raw"], content_type="application/json")
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(step.get("tool_calls", []))
        ]
        usage = step.get("usage", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120})
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message = {"role": "assistant", "content": step.get("content")}
            if calls:
                message["tool_calls"] = calls
            return web.json_response({"id": "cmpl-1", "object": "chat.completion", "model": body.get("model"),
                                      "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> None:
            chunk = {"id": "cmpl-1", "object": "chat.completion.chunk", "model": body.get("model"),
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        content = step.get("content") or ""
        third = max(1, len(content) // 3)
        for start in range(0, len(content), third):
            await send({"content": content[start : start + third]})
        for i, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            await send({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}]})
            await send({"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]})
        await send({}, finish)
        if body.get("stream_options", {}).get("include_usage"):
            await response.write(f"data: {json.dumps({'id': 'cmpl-1', 'choices': [], 'usage': usage})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
