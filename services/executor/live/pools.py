"""Signal pools: conditions on the market that trigger bindings (evaluated by the trigger clock).

Every pool is validated by `shared.signals.parse_pool` — the code that later evaluates it — against
the symbols the market data knows right now, and stored in canonical form (symbols in their known
spelling, metrics with their defaults: `rsi` is stored as `rsi(14)`). Errors name the signal by index
(`details.field` = `signals[2].metric`).

A pool used by bindings cannot be deleted (409 naming them); disabling it stops it firing at once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.executor.live.common import Publish, announce, field_error, id_cursor, in_use, signal_error, unset
from services.executor.live.store import BINDINGS, POOL, SIGNAL_POOLS, LiveStore
from shared import subjects
from shared.context import RequestContext
from shared.errors import NotFound
from shared.market import MarketData
from shared.messages.live import LiveDeleted, PoolCreate, PoolList, PoolRef, PoolSignal, PoolUpdate, SignalPool, SignalSpec
from shared.paging import ListPage, page
from shared.signals import SignalError, parse_pool
from shared.timefmt import now_iso


def pool_view(doc: dict[str, Any]) -> SignalPool:
    signals = [PoolSignal(**signal) for signal in doc["signals"]]
    return SignalPool(
        id=doc["id"],
        name=doc["name"],
        logic=doc["logic"],
        signals=signals,
        signals_count=len(signals),
        enabled=bool(doc["enabled"]),
        last_fired_at=doc.get("last_fired_at"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class Pools:
    def __init__(self, store: LiveStore, market: MarketData, publish: Publish) -> None:
        self._store = store
        self._market = market
        self._publish = publish

    async def _canonical(self, logic: str, signals: list[SignalSpec]) -> list[dict[str, Any]]:
        known = set(await self._market.symbols())
        try:
            pool = parse_pool(logic, [msgspec.to_builtins(s) for s in signals], known_symbols=known)
        except SignalError as exc:
            raise signal_error(exc) from None
        return [signal.to_doc() for signal in pool.signals]

    async def require(self, owner: str, pool_id: int, field: str | None = None) -> dict[str, Any]:
        doc = await self._store.get(SIGNAL_POOLS, owner, pool_id)
        if doc is None:
            if field is not None:
                raise field_error(field, f"signal pool {pool_id} not found")
            raise NotFound(f"signal pool {pool_id} not found")
        return doc

    async def get(self, req: PoolRef, ctx: RequestContext) -> SignalPool:
        return pool_view(await self.require(ctx.owner, req.id))

    async def list(self, req: PoolList, ctx: RequestContext) -> ListPage:
        where = {} if req.enabled is None else {"enabled": req.enabled}
        docs = await self._store.page_by_id(SIGNAL_POOLS, ctx.owner, where, req.limit, id_cursor(req.cursor))
        return page([pool_view(d) for d in docs], req.limit, key=lambda p: p.id)

    async def create(self, req: PoolCreate, ctx: RequestContext) -> SignalPool:
        name = req.name.strip()
        if not name:
            raise field_error("name", "must not be blank")
        signals = await self._canonical(req.logic, req.signals)
        ctx.check_deadline()
        pool_id = await self._store.next_id(SIGNAL_POOLS)
        now = now_iso()
        doc = {
            "id": pool_id,
            "owner": ctx.owner,
            "name": name,
            "logic": req.logic,
            "signals": signals,
            "enabled": req.enabled,
            "last_fired_at": None,
            "created_at": now,
            "updated_at": now,
        }
        if req.enabled:
            await self._store.index_add(POOL, ctx.owner, pool_id)  # before: the index is a superset
        await self._store.insert(SIGNAL_POOLS, doc)
        await announce(self._publish, subjects.EVT_SIGNAL_POOL_CREATED, ctx, "signal_pool", pool_id, req.enabled)
        return pool_view(doc)

    async def update(self, req: PoolUpdate, ctx: RequestContext) -> SignalPool:
        current = await self.require(ctx.owner, req.id)
        changes: dict[str, Any] = {}
        if not unset(req.name):
            changes["name"] = req.name.strip()
            if not changes["name"]:
                raise field_error("name", "must not be blank")
        if not unset(req.signals) or not unset(req.logic):
            logic = current["logic"] if unset(req.logic) else req.logic
            signals = req.signals if not unset(req.signals) else [msgspec.convert(s, SignalSpec) for s in current["signals"]]
            changes["signals"] = await self._canonical(logic, signals)
            changes["logic"] = logic
        if not unset(req.enabled):
            changes["enabled"] = req.enabled
        changes["updated_at"] = now_iso()
        ctx.check_deadline()
        if changes.get("enabled") is True:
            await self._store.index_add(POOL, ctx.owner, req.id)
        doc = await self._store.update(SIGNAL_POOLS, ctx.owner, req.id, changes)
        if doc is None:
            raise NotFound(f"signal pool {req.id} not found")
        if changes.get("enabled") is False:
            await self._store.index_remove(POOL, ctx.owner, req.id)
        await announce(self._publish, subjects.EVT_SIGNAL_POOL_UPDATED, ctx, "signal_pool", req.id, bool(doc["enabled"]))
        return pool_view(doc)

    async def delete(self, req: PoolRef, ctx: RequestContext) -> LiveDeleted:
        await self.require(ctx.owner, req.id)
        users = [int(b["id"]) for b in await self._store.find(BINDINGS, ctx.owner) if req.id in b.get("signal_pool_ids", [])]
        if users:
            raise in_use(f"signal pool {req.id} is used by bindings; remove it from them or delete them first", "bindings", users)
        ctx.check_deadline()
        if not await self._store.delete(SIGNAL_POOLS, ctx.owner, req.id):
            raise NotFound(f"signal pool {req.id} not found")
        await self._store.index_remove(POOL, ctx.owner, req.id)
        await announce(self._publish, subjects.EVT_SIGNAL_POOL_DELETED, ctx, "signal_pool", req.id)
        return LiveDeleted(id=req.id)
