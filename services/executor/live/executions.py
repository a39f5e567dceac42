"""The execution log: `GET /api/programs/executions/` (newest first, filtered, paged) and one execution.

Executions are written only by `ledger.apply` (a projection of the run's ledger entry), so what is
listed here is exactly what happened to the accounts. The list shows the summary; one execution adds
the orders, fills, fees, the values the program read, its log and its error (with line and column).
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.executor.live.common import filters, id_cursor, since_ms
from services.executor.live.ledger import Ledger
from shared.context import RequestContext
from shared.errors import NotFound
from shared.messages.live import Execution, ExecutionList, ExecutionRef, ExecutionSummary
from shared.paging import ListPage, page


def summary(doc: dict[str, Any]) -> ExecutionSummary:
    return msgspec.convert(doc, ExecutionSummary)


def detail(doc: dict[str, Any]) -> Execution:
    return msgspec.convert(doc, Execution)


class Executions:
    def __init__(self, ledger: Ledger) -> None:
        self._executions = ledger.executions

    async def list(self, req: ExecutionList, ctx: RequestContext) -> ListPage:
        where = filters(req, ("program_id", "binding_id", "account_id", "status"))
        since = since_ms(req.since)
        if since is not None:
            where["executed_at_ms"] = {"$gte": since}
        after = id_cursor(req.cursor)
        if after is not None:
            where["id"] = {"$lt": after}
        docs = await self._executions.find(ctx.owner, where, order_by=(("id", -1),), limit=req.limit + 1)
        return page([summary(doc) for doc in docs], req.limit, key=lambda item: item.id)

    async def get(self, req: ExecutionRef, ctx: RequestContext) -> Execution:
        doc = await self._executions.get(ctx.owner, req.id)
        if doc is None:
            raise NotFound(f"execution {req.id} not found", details={"field": "id"})
        return detail(doc)
