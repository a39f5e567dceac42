"""Where the trigger clock keeps its cursor: the market-time close it handled last.

A system document (owner `#live`, which no HTTP owner can be, as in live-resources' index), so a
restarted replica catches up the closes it missed instead of starting from now (see `clock.py`).
"""

from __future__ import annotations

from shared.store import CollectionSpec, Store

CLOCK = CollectionSpec("live_clock")
SYSTEM_OWNER = "#live"
CURSOR_ID = "cursor"


class ClockCursor:
    def __init__(self, store: Store) -> None:
        self._docs = store.collection(CLOCK.name)

    @classmethod
    async def open(cls, store: Store) -> ClockCursor:
        await store.ensure(CLOCK)
        return cls(store)

    async def load(self) -> int | None:
        doc = await self._docs.get(SYSTEM_OWNER, CURSOR_ID)
        return int(doc["t"]) if doc else None

    async def save(self, t_ms: int) -> None:
        await self._docs.replace({"id": CURSOR_ID, "owner": SYSTEM_OWNER, "t": t_ms})
