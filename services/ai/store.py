"""The ai service's collections: conversations, and their exchanges. The only module that touches them.

An *exchange* is one question and its answer, stored as ONE document: the store has no
multi-document transactions, and a question must never be kept without its answer (nor an answer
without its question). The messages list shows each exchange as two messages.

Write order of a chat turn (crash-only): the exchange first (id `<conversation>:<seq>`, so a
duplicate `seq` from a concurrent turn is refused), then the conversation record (compare-and-set
on `turns`). A crash between the two leaves an exchange no conversation points to (`seq` above the
conversation's `turns`): it is never listed, and the next turn of that conversation overwrites it.
So a turn is either wholly visible or not at all. Nothing is written before the answer is complete.
"""

from __future__ import annotations

from typing import Any

from shared.store import CollectionSpec, DuplicateKeyError, Store

CONVERSATIONS = CollectionSpec("ai_conversations", indexes=(("activity",), ("program_id", "activity")))
EXCHANGES = CollectionSpec("ai_exchanges", indexes=(("conversation_id", "seq"),))


ORPHAN_AGE_MS = 60_000
"""An exchange above its conversation's `turns` this old is an orphan of a crash (a turn's two writes
are milliseconds apart), and the next turn may take its place."""


class StaleConversation(Exception):
    """Another turn of the same conversation was stored first."""


class ConversationStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: Store) -> ConversationStore:
        await store.ensure(CONVERSATIONS)
        await store.ensure(EXCHANGES)
        return cls(store)

    async def get(self, owner: str, conversation_id: str) -> dict[str, Any] | None:
        return await self._store.collection(CONVERSATIONS.name).get(owner, conversation_id)

    async def next_activity(self) -> int:
        """A strictly increasing number per stored turn: the list's order (timestamps can tie)."""
        return await self._store.next_id("ai_activity")

    async def page(self, owner: str, limit: int, *, before: int | None = None, program_id: int | None = None) -> list[dict[str, Any]]:
        """Most recently active first; `before` = the `activity` of the last one seen (the cursor)."""
        where: dict[str, Any] = {}
        if program_id is not None:
            where["program_id"] = program_id
        if before is not None:
            where["activity"] = {"$lt": before}
        return await self._store.collection(CONVERSATIONS.name).find(owner, where or None, order_by=(("activity", -1),), limit=limit)

    async def exchanges(
        self, owner: str, conversation_id: str, up_to: int, *, from_seq: int = 1, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Exchanges `from_seq`..`up_to` (the conversation's `turns`: never an orphan above it), oldest first."""
        if from_seq > up_to:
            return []
        docs = await self._store.collection(EXCHANGES.name).find(
            owner, {"conversation_id": conversation_id, "seq": {"$gte": from_seq}}, order_by=(("seq", 1),), limit=limit
        )
        return [doc for doc in docs if doc["seq"] <= up_to]

    async def save_turn(self, owner: str, conversation: dict[str, Any], exchange: dict[str, Any], *, new: bool) -> dict[str, Any]:
        """Store a completed exchange, then the conversation advanced to it (see the module docstring)."""
        exchanges = self._store.collection(EXCHANGES.name)
        conversations = self._store.collection(CONVERSATIONS.name)
        try:
            await exchanges.insert(exchange)
        except DuplicateKeyError:
            existing = await exchanges.get(owner, exchange["id"])
            current = None if new else await conversations.get(owner, conversation["id"])
            committed = current is not None and current["turns"] >= exchange["seq"]
            if committed or existing is None or existing.get("stored_ms", 0) > exchange["stored_ms"] - ORPHAN_AGE_MS:
                raise StaleConversation from None  # stored by another turn, or one being stored right now
            await exchanges.replace(exchange)  # an orphan of a turn that crashed before its last write
        if new:
            await conversations.replace(conversation)
            return conversation
        changes = {k: conversation[k] for k in ("turns", "updated_at", "activity")}
        updated = await conversations.update(owner, conversation["id"], changes, where={"turns": exchange["seq"] - 1})
        if updated is None:
            raise StaleConversation
        return updated

    async def delete(self, owner: str, conversation_id: str) -> bool:
        deleted = await self._store.collection(CONVERSATIONS.name).delete(owner, conversation_id)
        await self._store.collection(EXCHANGES.name).delete_many(owner, {"conversation_id": conversation_id})
        return deleted
