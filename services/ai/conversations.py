"""The ai service's endpoints as domain code: a chat turn, and reading or deleting conversations.

A chat turn writes nothing until its answer is complete (see `store.py` for the write order), so a
provider error (502), a timeout (504) or a crash leaves the conversation as it was. Conversations are
owner-scoped like every record: another owner's id is a 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from services.ai.assistant import Answer, Assistant, NoSink, PastTurn, Sink
from services.ai.codeblocks import extract_code
from services.ai.limits import MAX_TURNS_PER_CONVERSATION, TITLE_CHARS
from services.ai.prompt import PROMPT_VERSION
from services.ai.store import ConversationStore, StaleConversation
from services.ai.tools import Toolbox
from shared import subjects
from shared.context import RequestContext
from shared.errors import Conflict, InvalidRequest, LimitExceeded, NotFound
from shared.messages.ai import (
    ChatMessage,
    ChatReply,
    ChatSend,
    Conversation,
    ConversationList,
    ConversationMessages,
    ConversationRef,
    Deleted,
    MessageCreated,
)
from shared.messages.base import Event
from shared.paging import ListPage, decode_cursor, page
from shared.timefmt import now_iso, now_ms

Publish = Callable[[str, Event], Awaitable[None]]
SinkFactory = Callable[[str], Sink]


class Conversations:
    def __init__(
        self, store: ConversationStore, assistant: Assistant, toolbox: Toolbox, publish: Publish, stream_sink: SinkFactory
    ) -> None:
        self._store = store
        self._assistant = assistant
        self._tools = toolbox
        self._publish = publish
        self._stream_sink = stream_sink

    async def chat(self, req: ChatSend, ctx: RequestContext) -> ChatReply:
        asked_at = now_iso()
        conversation = None
        if req.conversation_id is not None:
            conversation = await self._store.get(ctx.owner, req.conversation_id)
            if conversation is None:
                raise NotFound(f"conversation `{req.conversation_id}` not found", details={"field": "conversation_id"})
            if conversation["turns"] >= MAX_TURNS_PER_CONVERSATION:
                raise LimitExceeded(
                    f"this conversation holds {MAX_TURNS_PER_CONVERSATION} exchanges, its limit; start a new one",
                    details={"field": "conversation_id", "limit": "turns", "max": MAX_TURNS_PER_CONVERSATION},
                )
        program_id = req.program_id if req.program_id is not None else (conversation or {}).get("program_id")
        program = None
        if program_id is not None:
            try:
                program = await self._tools.program(program_id, ctx)
            except NotFound:
                raise NotFound(f"program {program_id} not found", details={"field": "program_id"}) from None
        history = []
        if conversation is not None:
            docs = await self._store.exchanges(ctx.owner, conversation["id"], conversation["turns"])
            history = [PastTurn(doc["question"], doc["answer"]["response"]) for doc in docs]

        sink: Sink = self._stream_sink(req.stream_inbox) if req.stream_inbox else NoSink()
        answer = await self._assistant.answer(req.message, history, program, ctx, sink)

        ctx.check_deadline()
        conversation_id = conversation["id"] if conversation else f"conv-{secrets.token_hex(8)}"
        answered_at = now_iso()
        seq = (conversation["turns"] if conversation else 0) + 1
        exchange = self._exchange(ctx, conversation_id, seq, req.message, asked_at, answered_at, answer)
        record = {
            "id": conversation_id,
            "owner": ctx.owner,
            "title": (conversation or {}).get("title") or _title(req.message),
            "created_at": (conversation or {}).get("created_at") or asked_at,
            "updated_at": answered_at,
            "program_id": program_id,
            "turns": seq,
            "activity": await self._store.next_activity(),
        }
        try:
            await self._store.save_turn(ctx.owner, record, exchange, new=conversation is None)
        except StaleConversation:
            raise Conflict(
                "another message was added to this conversation meanwhile; reload it and send again",
                details={"field": "conversation_id"},
            ) from None
        for role in ("user", "assistant"):
            await self._publish(
                subjects.EVT_AI_MESSAGE_CREATED,
                MessageCreated(
                    **ctx.event_fields(), conversation_id=conversation_id, message_id=f"{exchange['id']}:{role[0]}", role=role,
                    provider=self._assistant.provider.name if role == "assistant" else None,
                    has_code=role == "assistant" and answer.code is not None,
                ),
            )
        return ChatReply(
            response=answer.response, conversation_id=conversation_id, code=answer.code, diagnostics=answer.diagnostics,
            tool_calls=answer.tool_calls, provider=self._assistant.provider.name, model=self._assistant.provider.model,
            usage=answer.usage, notes=answer.notes,
        )

    def _exchange(
        self, ctx: RequestContext, conversation_id: str, seq: int, question: str, asked_at: str, answered_at: str, answer: Answer
    ) -> dict[str, Any]:
        provider = self._assistant.provider
        return {
            "id": f"{conversation_id}:{seq}",
            "owner": ctx.owner,
            "conversation_id": conversation_id,
            "seq": seq,
            "question": question,
            "asked_at": asked_at,
            "answered_at": answered_at,
            "stored_ms": now_ms(),
            "request_id": ctx.request_id,
            "answer": {
                "response": answer.response,
                "code": answer.code,
                "diagnostics": msgspec.to_builtins(answer.diagnostics),
                "tool_calls": msgspec.to_builtins(answer.tool_calls),
                "usage": msgspec.to_builtins(answer.usage),
                "notes": answer.notes,
                "provider": provider.name,
                "model": provider.model,
                "prompt_version": PROMPT_VERSION,
            },
        }

    async def list(self, req: ConversationList, ctx: RequestContext) -> ListPage:
        before = decode_cursor(req.cursor)
        if before is not None and type(before) is not int:
            raise InvalidRequest("`cursor` is not a cursor this API gave out", details={"field": "cursor"})
        docs = await self._store.page(ctx.owner, req.limit + 1, before=before, program_id=req.program_id)
        listed = page(list(zip(docs, (msgspec.convert(doc, Conversation) for doc in docs), strict=True)), req.limit,
                      key=lambda pair: pair[0]["activity"])
        return ListPage(items=[conversation for _, conversation in listed.items], next_cursor=listed.next_cursor)

    async def messages(self, req: ConversationMessages, ctx: RequestContext) -> ListPage:
        conversation = await self._get(req.id, ctx)
        after = decode_cursor(req.cursor)
        if after is not None and not (isinstance(after, list) and len(after) == 2 and all(type(x) is int for x in after)):
            raise InvalidRequest("`cursor` is not a cursor this API gave out", details={"field": "cursor"})
        from_seq, after_index = (after[0], after[1]) if after else (1, -1)
        docs = await self._store.exchanges(ctx.owner, req.id, conversation["turns"], from_seq=from_seq, limit=req.limit // 2 + 2)
        items: list[tuple[list[int], ChatMessage]] = []
        for doc in docs:
            for index, message in enumerate(_messages(doc)):
                if [doc["seq"], index] > [from_seq, after_index]:
                    items.append(([doc["seq"], index], message))
        more = len(items) > req.limit or (bool(docs) and docs[-1]["seq"] < conversation["turns"])
        listed = page(items, req.limit, key=lambda pair: pair[0], has_more=more)
        return ListPage(items=[message for _, message in listed.items], next_cursor=listed.next_cursor)

    async def delete(self, req: ConversationRef, ctx: RequestContext) -> Deleted:
        if not await self._store.delete(ctx.owner, req.id):
            raise NotFound(f"conversation `{req.id}` not found", details={"field": "id"})
        return Deleted(id=req.id)

    async def _get(self, conversation_id: str, ctx: RequestContext) -> dict[str, Any]:
        conversation = await self._store.get(ctx.owner, conversation_id)
        if conversation is None:
            raise NotFound(f"conversation `{conversation_id}` not found", details={"field": "id"})
        return conversation


def _messages(doc: dict[str, Any]) -> list[ChatMessage]:
    answer = doc["answer"]
    return [
        ChatMessage(id=f"{doc['id']}:u", role="user", content=doc["question"], code=extract_code(doc["question"]),
                    tool_calls=[], time=doc["asked_at"]),
        msgspec.convert(
            {"id": f"{doc['id']}:a", "role": "assistant", "content": answer["response"], "code": answer["code"],
             "tool_calls": answer["tool_calls"], "time": doc["answered_at"], "diagnostics": answer["diagnostics"],
             "provider": answer["provider"], "model": answer["model"]},
            ChatMessage,
        ),
    ]


def _title(message: str) -> str:
    line = next((line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith("```")), "")
    line = "".join(c if c.isprintable() else " " for c in line)
    line = " ".join(line.split()) or "Conversation"
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
