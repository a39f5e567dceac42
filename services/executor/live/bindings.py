"""Bindings: a program bound to a paper account, run by a signal pool firing or by a schedule.

Rules (each refusal names its field):
- A binding needs at least one trigger: `signal_pool_ids` (one or more pools) or `schedule`
  (`{"interval": "15m"}` / `{"cron": "*/15 * * * *"}`, UTC, market clock). The reference's bare
  `{"program_id": 1, "account_id": 1}` is therefore a 422 with `details.field` = `schedule` and a
  message naming both ways to add a trigger: a binding that never runs would look live and do nothing.
- `program_id` (asked from the registry with the caller's identity), `account_id` and every pool must
  exist for this owner; otherwise 422 naming the field (`signal_pool_ids[1]`). `program_version`
  (None = always the latest) must be one of the program's versions.
- `symbol` (the program's `ctx.symbol`) and `timeframe` default to the first signal of the first pool;
  a schedule-only binding must name its `symbol` (timeframe default 1h). Symbols must be known.
- One ENABLED binding per (program, account, symbol): a second is a 409 naming the first. Enforced by
  a claim document keyed by the triple (`store.claim_binding_key`), so two concurrent requests cannot
  both win.
- `state` (the program's `ctx.state`), `last_run_at` are written by runs only. Edits are a
  compare-and-set on `rev`, so they never overwrite a run's state (runs move `run_seq`, not `rev`).
- Disabling stops new runs at once (the run side checks `enabled` before running).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from services.executor.live.common import Publish, announce, field_error, filters, id_cursor, signal_error, unset
from services.executor.live.store import ACCOUNTS, BINDING, BINDINGS, SIGNAL_POOLS, LiveStore, binding_key
from shared import subjects
from shared.context import RequestContext
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.limits import MAX_BINDING_PARAMS_BYTES
from shared.market import MarketData, parse_timeframe
from shared.messages.live import (
    Binding,
    BindingCount,
    BindingCountQuery,
    BindingCreate,
    BindingList,
    BindingRef,
    BindingSchedule,
    BindingUpdate,
    LiveDeleted,
    ScheduleSpec,
)
from shared.messages.programs import Program
from shared.paging import ListPage, page
from shared.signals import SignalError, parse_schedule
from shared.timefmt import now_iso

NO_TRIGGER = (
    "a binding needs a trigger: give `signal_pool_ids` (one or more signal pools) or `schedule` "
    '({"interval": "15m"} or {"cron": "*/15 * * * *"}, UTC)'
)
DEFAULT_TIMEFRAME = "1h"
_encoder = msgspec.json.Encoder()


class ProgramLookup(Protocol):
    async def program(self, program_id: int, ctx: RequestContext) -> Program:
        """The caller's program; raises NotFound when it does not exist for them."""
        ...


def binding_view(doc: dict[str, Any]) -> Binding:
    schedule = doc.get("schedule")
    return Binding(
        id=doc["id"],
        program_id=doc["program_id"],
        account_id=doc["account_id"],
        enabled=bool(doc["enabled"]),
        symbol=doc["symbol"],
        timeframe=doc["timeframe"],
        signal_pool_ids=list(doc.get("signal_pool_ids") or []),
        schedule=None if not schedule else BindingSchedule(**schedule),
        params=dict(doc.get("params") or {}),
        program_version=doc.get("program_version"),
        state=dict(doc.get("state") or {}),
        last_run_at=doc.get("last_run_at"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _schedule_doc(spec: ScheduleSpec | None) -> dict[str, str] | None:
    if spec is None:
        return None
    try:
        return parse_schedule(msgspec.to_builtins(spec)).to_doc()
    except SignalError as exc:
        raise signal_error(exc) from None


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    if len(_encoder.encode(params)) > MAX_BINDING_PARAMS_BYTES:
        raise field_error("params", f"must be at most {MAX_BINDING_PARAMS_BYTES // 1024} KiB as JSON")
    return params


class Bindings:
    def __init__(self, store: LiveStore, market: MarketData, programs: ProgramLookup, publish: Publish) -> None:
        self._store = store
        self._market = market
        self._programs = programs
        self._publish = publish

    # -- checks ----------------------------------------------------------------------------------------
    async def _pools(self, owner: str, pool_ids: list[int]) -> list[dict[str, Any]]:
        seen: set[int] = set()
        docs = []
        for i, pool_id in enumerate(pool_ids):
            if pool_id in seen:
                raise field_error(f"signal_pool_ids[{i}]", f"signal pool {pool_id} is listed twice")
            seen.add(pool_id)
            doc = await self._store.get(SIGNAL_POOLS, owner, pool_id)
            if doc is None:
                raise field_error(f"signal_pool_ids[{i}]", f"signal pool {pool_id} not found")
            docs.append(doc)
        return docs

    async def _symbol(self, symbol: str) -> str:
        known = await self._market.symbols()
        if symbol in known:
            return symbol
        folded = {name.upper(): name for name in known}
        if symbol.upper() not in folded:
            shown = ", ".join(sorted(known)[:20])
            raise field_error("symbol", f"unknown symbol {symbol!r}; known symbols: {shown}")
        return folded[symbol.upper()]

    async def _program(self, program_id: int, version: int | None, ctx: RequestContext) -> None:
        try:
            program = await self._programs.program(program_id, ctx)
        except NotFound:
            raise field_error("program_id", f"program {program_id} not found") from None
        if version is not None and version > program.version:
            raise field_error("program_version", f"program {program_id} has no version {version} (latest is {program.version})")

    async def _claim(self, owner: str, doc: dict[str, Any]) -> None:
        key = binding_key(doc["program_id"], doc["account_id"], doc["symbol"])
        holder = await self._store.claim_binding_key(owner, key, int(doc["id"]))
        if holder is not None:
            if holder < 0:
                raise Conflict("another request is changing the same binding; retry")
            raise Conflict(
                f"binding {holder} already runs program {doc['program_id']} on account {doc['account_id']} for "
                f"{doc['symbol']}; disable it first (one enabled binding per program, account and symbol)",
                details={"binding_ids": [holder], "field": "enabled"},
            )

    async def require(self, owner: str, binding_id: int) -> dict[str, Any]:
        doc = await self._store.get(BINDINGS, owner, binding_id)
        if doc is None:
            raise NotFound(f"binding {binding_id} not found")
        return doc

    # -- endpoints -------------------------------------------------------------------------------------
    async def get(self, req: BindingRef, ctx: RequestContext) -> Binding:
        return binding_view(await self.require(ctx.owner, req.id))

    async def list(self, req: BindingList, ctx: RequestContext) -> ListPage:
        where = filters(req, ("program_id", "account_id", "enabled", "symbol"))
        docs = await self._store.page_by_id(BINDINGS, ctx.owner, where, req.limit, id_cursor(req.cursor))
        return page([binding_view(d) for d in docs], req.limit, key=lambda b: b.id)

    async def count(self, req: BindingCountQuery, ctx: RequestContext) -> BindingCount:
        where = {"program_id": req.program_id}
        total = await self._store.count(BINDINGS, ctx.owner, where)
        docs = await self._store.find(BINDINGS, ctx.owner, where, limit=20) if total else []
        return BindingCount(count=total, binding_ids=[int(d["id"]) for d in docs])

    async def create(self, req: BindingCreate, ctx: RequestContext) -> Binding:
        if not req.signal_pool_ids and req.schedule is None:
            raise no_trigger()
        schedule = _schedule_doc(req.schedule)
        pools = await self._pools(ctx.owner, list(req.signal_pool_ids))
        first = pools[0]["signals"][0] if pools else None
        if req.symbol is None and first is None:
            raise field_error("symbol", "a binding with only a schedule must name the symbol its program runs on")
        symbol = await self._symbol(req.symbol if req.symbol is not None else first["symbol"])  # type: ignore[index]
        timeframe = self._timeframe(req.timeframe, first)
        params = _check_params(req.params)
        if await self._store.get(ACCOUNTS, ctx.owner, req.account_id) is None:
            raise field_error("account_id", f"account {req.account_id} not found")
        await self._program(req.program_id, req.program_version, ctx)
        ctx.check_deadline()
        binding_id = await self._store.next_id(BINDINGS)
        now = now_iso()
        doc = {
            "id": binding_id,
            "owner": ctx.owner,
            "program_id": req.program_id,
            "account_id": req.account_id,
            "enabled": req.enabled,
            "symbol": symbol,
            "timeframe": timeframe,
            "signal_pool_ids": list(req.signal_pool_ids),
            "schedule": schedule,
            "params": params,
            "program_version": req.program_version,
            "state": {},
            "last_run_at": None,
            "run_seq": 0,
            "rev": 0,
            "created_at": now,
            "updated_at": now,
        }
        if req.enabled:
            await self._claim(ctx.owner, doc)
            await self._store.index_add(BINDING, ctx.owner, binding_id)
        try:
            await self._store.insert(BINDINGS, doc)
        except BaseException:
            if req.enabled:  # give back what this create took (a crash here is covered by the claim's grace)
                await self._store.release_binding_key(ctx.owner, binding_key(req.program_id, req.account_id, symbol), binding_id)
                await self._store.index_remove(BINDING, ctx.owner, binding_id)
            raise
        await announce(self._publish, subjects.EVT_BINDING_CREATED, ctx, "binding", binding_id, req.enabled)
        return binding_view(doc)

    @staticmethod
    def _timeframe(given: str | None, first_signal: dict[str, Any] | None) -> str:
        if given is None:
            return first_signal["timeframe"] if first_signal else DEFAULT_TIMEFRAME
        try:
            return parse_timeframe(given)
        except ValueError as exc:
            raise field_error("timeframe", str(exc)) from None

    async def update(self, req: BindingUpdate, ctx: RequestContext) -> Binding:
        current = await self.require(ctx.owner, req.id)
        changes: dict[str, Any] = {}
        if not unset(req.signal_pool_ids):
            await self._pools(ctx.owner, list(req.signal_pool_ids))
            changes["signal_pool_ids"] = list(req.signal_pool_ids)
        if not unset(req.schedule):
            changes["schedule"] = _schedule_doc(req.schedule)
        if not changes.get("signal_pool_ids", current.get("signal_pool_ids")) and not changes.get("schedule", current.get("schedule")):
            raise no_trigger()
        if not unset(req.symbol):
            changes["symbol"] = await self._symbol(req.symbol)
        if not unset(req.timeframe):
            changes["timeframe"] = self._timeframe(req.timeframe, None)
        if not unset(req.params):
            changes["params"] = _check_params(req.params)
        if not unset(req.program_version):
            await self._program(int(current["program_id"]), req.program_version, ctx)
            changes["program_version"] = req.program_version
        if not unset(req.enabled):
            changes["enabled"] = req.enabled
        after = {**current, **changes}
        old_key = binding_key(current["program_id"], current["account_id"], current["symbol"])
        new_key = binding_key(after["program_id"], after["account_id"], after["symbol"])
        ctx.check_deadline()
        if after["enabled"]:
            await self._claim(ctx.owner, after)
            await self._store.index_add(BINDING, ctx.owner, req.id)
        rev = int(current.get("rev") or 0)
        changes.update(rev=rev + 1, updated_at=now_iso())
        where = {"rev": {"$in": [0, None]}} if rev == 0 else {"rev": rev}
        doc = await self._store.update(BINDINGS, ctx.owner, req.id, changes, where=where)
        if doc is None:
            if after["enabled"] and (not current["enabled"] or new_key != old_key):
                await self._store.release_binding_key(ctx.owner, new_key, req.id)
            await self.require(ctx.owner, req.id)
            raise Conflict(f"binding {req.id} was changed by another request; read it again and retry")
        if current["enabled"] and (not after["enabled"] or new_key != old_key):
            await self._store.release_binding_key(ctx.owner, old_key, req.id)
        if not after["enabled"]:
            await self._store.index_remove(BINDING, ctx.owner, req.id)
        await announce(self._publish, subjects.EVT_BINDING_UPDATED, ctx, "binding", req.id, bool(doc["enabled"]))
        return binding_view(doc)

    async def delete(self, req: BindingRef, ctx: RequestContext) -> LiveDeleted:
        current = await self.require(ctx.owner, req.id)
        ctx.check_deadline()
        if not await self._store.delete(BINDINGS, ctx.owner, req.id):
            raise NotFound(f"binding {req.id} not found")
        await self._store.release_binding_key(ctx.owner, binding_key(current["program_id"], current["account_id"], current["symbol"]), req.id)
        await self._store.index_remove(BINDING, ctx.owner, req.id)
        await announce(self._publish, subjects.EVT_BINDING_DELETED, ctx, "binding", req.id)
        return LiveDeleted(id=req.id)


def no_trigger() -> InvalidRequest:
    """The 422 of a binding without pools or schedule; `details.fields` names both ways to fix it."""
    return InvalidRequest(NO_TRIGGER, details={"field": "schedule", "fields": ["signal_pool_ids", "schedule"], "reason": NO_TRIGGER})
