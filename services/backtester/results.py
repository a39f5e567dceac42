"""Reading backtests back (record, history, curve, trades, triggers, markers) and cancelling one.

Every list is a `ListPage` bounded by count and bytes; its cursor is the position of the last item
(result lists) or the record's sequence number (history), so pages stay stable while jobs arrive.

The store keeps plain documents (a record's `metrics` is one dict, a trigger's context is made by
`items.py`); the replies convert them into the typed Structs (`BacktestMetrics`, `TriggerContext`), so
what is sent is what the OpenAPI document states.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from services.backtester.store import EQUITY, MARKERS, TRADES, TRIGGERS, BacktestStore
from shared import subjects
from shared.context import RequestContext
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.jobs import is_terminal
from shared.messages.backtests import (
    Backtest,
    BacktestAccepted,
    BacktestEvent,
    BacktestHistory,
    BacktestItems,
    BacktestRef,
    BacktestSummary,
    EquityPoint,
    EquityQuery,
    TriggerDetail,
    TriggerRef,
)
from shared.paging import ListPage, decode_cursor, encode_cursor, page
from shared.timefmt import now_iso, to_iso

TRIGGER_LIST_FIELDS = ("id", "type", "symbol", "price", "timestamp")


def _index_cursor(cursor: str | None) -> int:
    """Position of the first item of this page (the cursor holds the last one already sent)."""
    key = decode_cursor(cursor)
    if key is None:
        return 0
    if isinstance(key, bool) or not isinstance(key, int) or key < 0:
        raise InvalidRequest("`cursor` is not a cursor this API gave out", details={"field": "cursor"})
    return key + 1


def paged(items: Sequence[Any], keys: Sequence[Any], limit: int) -> ListPage:
    """`page` over items whose sort keys are given alongside (`items` may hold one more than `limit`)."""
    result = page(items, limit, key=lambda _: None)
    if result.next_cursor is not None:
        result.next_cursor = encode_cursor(keys[len(result.items) - 1])
    return result


class Results:
    def __init__(self, store: BacktestStore, publish: Callable[[str, BacktestEvent], Awaitable[None]],
                 broadcast_cancel: Callable[[str], Awaitable[None]], drop_message: Callable[[str], Awaitable[None]]) -> None:
        self._store = store
        self._publish = publish
        self._broadcast_cancel = broadcast_cancel
        self._drop_message = drop_message

    async def _doc(self, owner: str, backtest_id: str) -> dict[str, Any]:
        doc = await self._store.get(owner, backtest_id)
        if doc is None:
            raise NotFound(f"backtest {backtest_id} not found", details={"field": "bt_id"})
        return doc

    async def get(self, req: BacktestRef, ctx: RequestContext) -> Backtest:
        return msgspec.convert(await self._doc(ctx.owner, req.bt_id), Backtest)

    async def history(self, req: BacktestHistory, ctx: RequestContext) -> ListPage:
        before = decode_cursor(req.cursor)
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise InvalidRequest("`cursor` is not a cursor this API gave out", details={"field": "cursor"})
        docs = await self._store.history(
            ctx.owner, limit=req.limit + 1, before_seq=before, program_id=req.program_id, status=req.status
        )
        return paged([msgspec.convert(doc, BacktestSummary) for doc in docs], [doc["seq"] for doc in docs], req.limit)

    async def _items(self, name: str, req: BacktestItems | EquityQuery, ctx: RequestContext, *,
                     contexts: bool = True) -> tuple[list[Any], int]:
        await self._doc(ctx.owner, req.bt_id)
        start = _index_cursor(req.cursor)
        return await self._store.read_items(ctx.owner, name, req.bt_id, start, req.limit + 1, contexts=contexts), start

    async def equity(self, req: EquityQuery, ctx: RequestContext) -> ListPage:
        items, start = await self._items(EQUITY.name, req, ctx)
        points = [EquityPoint(time=to_iso(int(ms)), equity=value) for ms, value in items]
        return paged(points, range(start, start + len(points)), req.limit)

    async def trades(self, req: BacktestItems, ctx: RequestContext) -> ListPage:
        items, start = await self._items(TRADES.name, req, ctx)
        return paged(items, range(start, start + len(items)), req.limit)

    async def triggers(self, req: BacktestItems, ctx: RequestContext) -> ListPage:
        items, start = await self._items(TRIGGERS.name, req, ctx, contexts=False)
        listed = [{name: item[name] for name in TRIGGER_LIST_FIELDS} for item in items]
        return paged(listed, range(start, start + len(listed)), req.limit)

    async def markers(self, req: BacktestItems, ctx: RequestContext) -> ListPage:
        items, start = await self._items(MARKERS.name, req, ctx)
        return paged(items, range(start, start + len(items)), req.limit)

    async def trigger(self, req: TriggerRef, ctx: RequestContext) -> TriggerDetail:
        hex_id, _, n = req.trigger_id.removeprefix("trig-").rpartition("-")
        backtest_id = f"bt-{hex_id}"
        found = await self._store.read_items(ctx.owner, TRIGGERS.name, backtest_id, int(n), 1)
        if not found:
            raise NotFound(f"trigger {req.trigger_id} not found", details={"field": "trigger_id"})
        return msgspec.convert({**found[0], "backtest_id": backtest_id}, TriggerDetail)

    async def cancel(self, req: BacktestRef, ctx: RequestContext) -> BacktestAccepted:
        """Cancel a queued or running job (idempotent); a finished one is a 409."""
        for _ in range(5):
            doc = await self._doc(ctx.owner, req.bt_id)
            status = doc["status"]
            if status == "cancelled":
                return BacktestAccepted(backtest_id=req.bt_id, status="cancelled")
            if is_terminal(status):
                raise Conflict(f"backtest {req.bt_id} is already {status}", details={"field": "bt_id", "status": status})
            moved = await self._store.move(ctx.owner, req.bt_id, status, "cancelled", {"finished_at": now_iso()})
            if moved is None:
                continue  # it moved meanwhile (claimed, or finished): look again
            await self._broadcast_cancel(req.bt_id)
            if status == "queued":
                await self._drop_message(req.bt_id)
            await self._publish(subjects.EVT_BACKTEST_CANCELLED, _event(ctx, moved))
            return BacktestAccepted(backtest_id=req.bt_id, status="cancelled")
        raise Conflict(f"backtest {req.bt_id} kept changing; retry the cancel", details={"field": "bt_id"})


def _event(ctx: RequestContext, doc: dict[str, Any]) -> BacktestEvent:
    from services.backtester.runner import backtest_event

    return backtest_event(ctx, doc, int(doc.get("attempts") or 0))
