"""The live resources' collections: accounts, signal pools, bindings, and the cross-owner index of what is enabled.

One `CollectionSpec` per collection and small methods, so the run side (ledger, executions, fills in
`ledger.py`) can sit beside it on the same `Store`. Documents (what the run side may rely on):

- `live_accounts`: `id, owner, name, account_type, mode, initial_capital, fee_rate, leverage, broker`
  (`PaperAccount.to_doc()`, or None before the first run and after a reset: a fresh broker from the
  settings), `seq` (the account's ledger step, see `ledger.py`), `created_at, updated_at, reset_at`.
- `live_signal_pools`: `id, owner, name, logic, signals` (canonical, see `shared.signals.Signal.to_doc`),
  `enabled, last_fired_at, created_at, updated_at`.
- `live_bindings`: `id, owner, program_id, account_id, enabled, symbol, timeframe, signal_pool_ids,
  schedule` (`{"interval": …}` | `{"cron": …}` | None), `params, program_version, state, last_run_at,
  run_seq` (written by runs), `rev` (written by edits: compare-and-set), `created_at, updated_at`.
- `live_binding_keys`: `id = "<owner>/<program>:<account>:<symbol>"` → `binding_id, claimed_ms`: the claim that makes
  "one enabled binding per (program, account, symbol)" hold under concurrent requests (the primary
  key decides). A claim left by a crash is taken over once its binding is gone or disabled.
- `live_index`: owner `#live` (not a valid HTTP owner, so no user can read it): one document per
  enabled pool or binding, `kind, ref_owner, ref_id`. Every other query is owner-scoped; the trigger
  clock needs "every enabled pool/binding of every owner", which this index answers. It is written
  BEFORE a resource is enabled and removed AFTER it is disabled or deleted, so it is always a superset
  (a crash leaves at most a stale entry, which readers drop by re-reading the resource).

Fills (`live_fills`) are written by runs (`ledger.py`); here they are only listed and, with their
account, deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from services.executor.live.ledger import FILLS, LEDGER
from shared.store import Collection, CollectionSpec, Doc, DuplicateKeyError, Store
from shared.timefmt import now_ms

ACCOUNTS = CollectionSpec("live_accounts", indexes=(("mode",),))
SIGNAL_POOLS = CollectionSpec("live_signal_pools", indexes=(("enabled",),))
BINDINGS = CollectionSpec(
    "live_bindings", indexes=(("program_id",), ("account_id",), ("enabled",), ("symbol",))
)
BINDING_KEYS = CollectionSpec("live_binding_keys")
INDEX = CollectionSpec("live_index", indexes=(("kind",),))
SPECS = (ACCOUNTS, SIGNAL_POOLS, BINDINGS, BINDING_KEYS, INDEX, FILLS, LEDGER)

INDEX_OWNER = "#live"
CLAIM_GRACE_MS = 60_000
"""Longer than any request may take (REQUEST_TIMEOUT_S): a claim this young may belong to a request in flight."""
POOL, BINDING = "pool", "binding"


def index_id(kind: str, owner: str, ref_id: int) -> str:
    return f"{kind}:{owner}:{ref_id}"


def binding_key(program_id: int, account_id: int, symbol: str) -> str:
    return f"{program_id}:{account_id}:{symbol}"


def _claim_id(owner: str, key: str) -> str:
    """Ids are unique across owners in the store; the claim's id carries its owner so owners never meet."""
    return f"{owner}/{key}"


class LiveStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    async def open(cls, store: Store) -> LiveStore:
        for spec in SPECS:
            await store.ensure(spec)
        return cls(store)

    def _c(self, spec: CollectionSpec) -> Collection:
        return self.store.collection(spec.name)

    async def next_id(self, spec: CollectionSpec) -> int:
        return await self.store.next_id(spec.name)

    # -- generic, per collection ------------------------------------------------------------------------
    async def insert(self, spec: CollectionSpec, doc: Doc) -> None:
        await self._c(spec).insert(doc)

    async def get(self, spec: CollectionSpec, owner: str, id: int | str) -> Doc | None:
        return await self._c(spec).get(owner, id)

    async def update(
        self, spec: CollectionSpec, owner: str, id: int | str, changes: Mapping[str, Any], where: Mapping[str, Any] | None = None
    ) -> Doc | None:
        return await self._c(spec).update(owner, id, changes, where=where)

    async def delete(self, spec: CollectionSpec, owner: str, id: int | str) -> bool:
        return await self._c(spec).delete(owner, id)

    async def find(self, spec: CollectionSpec, owner: str, where: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Doc]:
        return await self._c(spec).find(owner, where, order_by=(("id", 1),), limit=limit)

    async def count(self, spec: CollectionSpec, owner: str, where: Mapping[str, Any] | None = None) -> int:
        return await self._c(spec).count(owner, where)

    async def page_by_id(
        self, spec: CollectionSpec, owner: str, where: Mapping[str, Any], limit: int, before_id: int | None
    ) -> list[Doc]:
        """Newest first (ids descend), `limit + 1` documents so the caller can tell the last page."""
        conditions = dict(where)
        if before_id is not None:
            conditions["id"] = {"$lt": before_id}
        return await self._c(spec).find(owner, conditions, order_by=(("id", -1),), limit=limit + 1)

    async def page_by_time(
        self,
        spec: CollectionSpec,
        owner: str,
        where: Mapping[str, Any],
        limit: int,
        after: tuple[int, int | str] | None,
        time_field: str = "time_ms",
    ) -> list[Doc]:
        """Newest first by (`time_field`, id), `limit + 1` documents; `after` is the last (time, id) seen.

        The store's filters have no OR, so the keyset "(t < T) or (t = T and id < I)" is two reads.
        """
        order = ((time_field, -1), ("id", -1))
        c = self._c(spec)
        if after is None:
            return await c.find(owner, where, order_by=order, limit=limit + 1)
        t, last_id = after
        same_time = await c.find(owner, {**where, time_field: t, "id": {"$lt": last_id}}, order_by=order, limit=limit + 1)
        if len(same_time) > limit:
            return same_time
        base = dict(where)
        bounds = dict(base.get(time_field) or {}) if isinstance(base.get(time_field), Mapping) else {}
        bounds["$lt"] = t
        base[time_field] = bounds
        older = await c.find(owner, base, order_by=order, limit=limit + 1 - len(same_time))
        return same_time + older

    async def delete_where(self, spec: CollectionSpec, owner: str, where: Mapping[str, Any]) -> int:
        return await self._c(spec).delete_many(owner, where)

    # -- one enabled binding per (program, account, symbol) -----------------------------------------------
    async def claim_binding_key(self, owner: str, key: str, binding_id: int) -> int | None:
        """Claim `key` for `binding_id`; returns None when claimed, else the id of the holder (-1: retry).

        A claim is written before its binding is (created or enabled), so a young claim is honoured
        whatever its binding looks like yet; one older than `CLAIM_GRACE_MS` whose binding is gone,
        disabled or moved to another triple was left by a crash, and is taken over.
        """
        keys = self._c(BINDING_KEYS)
        claim_id = _claim_id(owner, key)
        for _ in range(3):
            try:
                await keys.insert({"id": claim_id, "owner": owner, "key": key, "binding_id": binding_id, "claimed_ms": now_ms()})
                return None
            except DuplicateKeyError:
                pass
            claim = await keys.get(owner, claim_id)
            if claim is None:
                continue  # released meanwhile: try the insert again
            holder_id = int(claim["binding_id"])
            if holder_id == binding_id:
                return None
            if now_ms() - int(claim.get("claimed_ms") or 0) < CLAIM_GRACE_MS:
                return holder_id
            holder = await self.get(BINDINGS, owner, holder_id)
            if holder is not None and holder.get("enabled") and binding_key(holder["program_id"], holder["account_id"], holder["symbol"]) == key:
                return holder_id
            taken = await keys.update(owner, claim_id, {"binding_id": binding_id, "claimed_ms": now_ms()}, where={"binding_id": holder_id})
            if taken is not None:
                return None
        return -1

    async def release_binding_key(self, owner: str, key: str, binding_id: int) -> None:
        await self._c(BINDING_KEYS).delete_many(owner, {"id": _claim_id(owner, key), "binding_id": binding_id})

    # -- the cross-owner index of enabled pools and bindings ----------------------------------------------
    async def index_add(self, kind: str, owner: str, ref_id: int) -> None:
        await self._c(INDEX).replace({"id": index_id(kind, owner, ref_id), "owner": INDEX_OWNER, "kind": kind, "ref_owner": owner, "ref_id": ref_id})

    async def index_remove(self, kind: str, owner: str, ref_id: int) -> None:
        await self._c(INDEX).delete(INDEX_OWNER, index_id(kind, owner, ref_id))

    async def _enabled_all(self, kind: str, spec: CollectionSpec) -> list[Doc]:
        entries = await self._c(INDEX).find(INDEX_OWNER, {"kind": kind}, order_by=(("id", 1),))
        by_owner: dict[str, list[int]] = defaultdict(list)
        for entry in entries:
            by_owner[entry["ref_owner"]].append(int(entry["ref_id"]))
        docs: list[Doc] = []
        c = self._c(spec)
        for owner, ids in by_owner.items():
            for start in range(0, len(ids), 500):
                docs.extend(await c.find(owner, {"id": {"$in": ids[start : start + 500]}, "enabled": True}, order_by=(("id", 1),)))
        return docs

    async def enabled_pools_all(self) -> list[Doc]:
        """Every enabled signal pool of every owner (each doc carries its `owner`)."""
        return await self._enabled_all(POOL, SIGNAL_POOLS)

    async def enabled_bindings_all(self) -> list[Doc]:
        """Every enabled binding of every owner (each doc carries its `owner`)."""
        return await self._enabled_all(BINDING, BINDINGS)

    async def mark_pool_fired(self, owner: str, pool_id: int, fired_at: str) -> None:
        await self._c(SIGNAL_POOLS).update(owner, pool_id, {"last_fired_at": fired_at})
