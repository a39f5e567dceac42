"""The provider port: one chat-completion call with tools, in OpenAI's message format.

Messages are the OpenAI chat format as plain dicts (`role`, `content`, `tool_calls`,
`tool_call_id`): it is what every OpenAI-compatible server speaks, and the built-in assistant reads
the same list, so the assistant loop (`services/ai/assistant.py`) has one shape to handle.

Errors: a provider raises `shared.errors.BadGateway` (502: the upstream refused, failed or answered
nonsense) or `GatewayTimeout` (504: it did not answer within `AI_TIMEOUT_S`), with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

Message = dict[str, Any]
TokenSink = Callable[[str], Awaitable[None]]
"""Called with each piece of the answer's text as it arrives (streaming)."""


class ToolCall(msgspec.Struct, kw_only=True):
    id: str
    name: str
    arguments: str
    """JSON text, exactly as the model wrote it (it may be invalid: the tool loop reports that back)."""


class TurnUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


class ProviderTurn(msgspec.Struct, kw_only=True):
    content: str
    tool_calls: list[ToolCall]
    usage: TurnUsage
    finish_reason: str | None = None


class Provider(Protocol):
    name: str
    """`openai-compatible` or `builtin` (shown to users as `provider`)."""
    model: str

    async def chat(
        self, messages: list[Message], tools: list[dict[str, Any]], *, max_tokens: int, on_token: TokenSink | None = None
    ) -> ProviderTurn:
        """One completion. `on_token` given: stream the text through it as it comes."""
        ...

    async def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """About 4 characters a token: used only when a provider does not report usage (marked `estimated`)."""
    return max(1, len(text) // 4)
