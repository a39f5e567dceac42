"""Messages of the AI assistant: a chat turn, its reply, conversations and their messages, the event.

Field names are the API's contract (issue 11, `api-reference.md`). Conversation ids are strings
`conv-<16 hex>`. `ChatRequest` is what a client sends; `ChatSend` is what the gateway puts on the bus:
the same fields plus `stream_inbox`, the NATS subject the gateway listens on for the streamed chunks
(`services/gateway/streams.py`). A client can never set `stream_inbox` (the gateway decodes the body
as `ChatRequest`, which forbids unknown fields), so nobody can make the ai service publish to a
subject of their choosing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.messages.base import Cursor, Event, Id, Limit, Reply, Request
from shared.messages.runs import Diagnostic

CONVERSATION_ID_PATTERN = r"conv-[0-9a-f]{16}"
MESSAGE_MAX_CHARS = 16_000
"""A chat message, in characters (about 4,000 tokens): room for a program and a question about it."""
STREAM_INBOX_PATTERN = r"^_INBOX\.[A-Za-z0-9]{1,64}$"

ConversationId = Annotated[
    str, msgspec.Meta(pattern=f"^{CONVERSATION_ID_PATTERN}$", description="e.g. conv-1f3a5c7e9b2d4f60")
]
ChatText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MESSAGE_MAX_CHARS, description=f"1-{MESSAGE_MAX_CHARS} characters")
]


class ChatRequest(Request):
    """`POST /api/programs/ai-chat`."""

    message: ChatText
    conversation_id: ConversationId | None = None
    program_id: Id | None = None
    """The program being edited: its code is given to the assistant as context."""
    stream: bool = False
    """Answer as Server-Sent Events (`token`, `tool_call`, `tool_result`, `done`, `error`)."""


class ChatSend(ChatRequest, kw_only=True):
    """On the bus: the client's request, plus where to publish streamed chunks (set by the gateway)."""

    stream_inbox: Annotated[str, msgspec.Meta(pattern=STREAM_INBOX_PATTERN)] | None = None


class ToolCallRecord(Reply):
    """One thing the assistant did: the tool, its arguments, and a one-line result."""

    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool = True


class Usage(Reply):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    provider_calls: int = 0
    estimated: bool = False
    """True when the provider did not report token counts and they were estimated (4 characters a token)."""


class CodeDiagnostics(Reply):
    """The validator's verdict on `code` (executor `validate`)."""

    valid: bool
    errors: list[Diagnostic]
    warnings: list[Diagnostic]


class ChatReply(Reply):
    response: str
    conversation_id: str
    code: str | None
    diagnostics: CodeDiagnostics | None
    tool_calls: list[ToolCallRecord]
    provider: str
    """`builtin` (the offline assistant, not a model) or `openai-compatible`."""
    model: str
    usage: Usage
    notes: list[str] = []
    """What the client should know about how the answer was made (older turns left out, budget reached)."""


class StreamChunk(msgspec.Struct, kw_only=True):
    """One chunk published to a stream inbox; the gateway sends it as an SSE event of the same name."""

    event: Literal["token", "tool_call", "tool_result"]
    data: dict[str, Any]


class ConversationList(Request):
    limit: Limit = 50
    cursor: Cursor | None = None
    program_id: Id | None = None


class ConversationRef(Request):
    id: ConversationId


class ConversationMessages(Request):
    id: ConversationId
    limit: Limit = 50
    cursor: Cursor | None = None


class Conversation(Reply):
    id: str
    title: str
    created_at: str
    updated_at: str
    program_id: int | None
    turns: int


class ChatMessage(Reply):
    id: str
    role: Literal["user", "assistant"]
    content: str
    code: str | None
    tool_calls: list[ToolCallRecord]
    time: str
    diagnostics: CodeDiagnostics | None = None
    provider: str | None = None
    model: str | None = None


class Deleted(Reply):
    id: str


class MessageCreated(Event):
    """`evt.ai.message.created`: one per stored message (the user's and the assistant's)."""

    conversation_id: str
    message_id: str
    role: Literal["user", "assistant"]
    provider: str | None = None
    has_code: bool = False
