"""The execution log: `GET /api/programs/executions/` (newest first, filtered, paged) and one execution.

Executions are written only by `ledger.apply` (a projection of the run's ledger entry), so what is
listed here is exactly what happened to the accounts. The list shows the summary; one execution adds
the orders, fills, fees, the values the program read, its log and its error (with line and column).
"""

from __future__ import annotations

from typing import Any

from services.executor.live.ledger import Ledger
from shared.context import RequestContext
from shared.errors import InvalidRequest, NotFound
from shared.messages.live import ExecutionList, ExecutionRef
from shared.paging import ListPage, decode_cursor, page
from shared.timefmt import parse_time

SUMMARY = (
    "id", "program_id", "action", "symbol", "quantity", "reason", "executed_at", "binding_id", "account_id",
    "trigger", "status", "program_version", "duration_ms",
)
HIDDEN = ("owner", "run_key", "queued_at_ms")


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: doc.get(key) for key in SUMMARY}


def detail(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in HIDDEN}


class Executions:
    def __init__(self, ledger: Ledger) -> None:
        self._executions = ledger.executions

    async def list(self, req: ExecutionList, ctx: RequestContext) -> ListPage:
        where: dict[str, Any] = {}
        for name in ("program_id", "binding_id", "account_id", "status"):
            value = getattr(req, name)
            if value is not None:
                where[name] = value
        if req.since is not None:
            try:
                where["executed_at_ms"] = {"$gte": parse_time(req.since)}
            except ValueError:
                raise InvalidRequest("`since` is not an ISO date or date-time", details={"field": "since"}) from None
        after = decode_cursor(req.cursor)
        if after is not None:
            if not isinstance(after, int) or isinstance(after, bool):
                raise InvalidRequest("`cursor` is not a cursor this API gave out", details={"field": "cursor"})
            where["id"] = {"$lt": after}
        docs = await self._executions.find(ctx.owner, where, order_by=(("id", -1),), limit=req.limit + 1)
        return page([summary(doc) for doc in docs], req.limit, key=lambda item: item["id"])

    async def get(self, req: ExecutionRef, ctx: RequestContext) -> dict[str, Any]:
        doc = await self._executions.get(ctx.owner, req.id)
        if doc is None:
            raise NotFound(f"execution {req.id} not found", details={"field": "id"})
        return detail(doc)
