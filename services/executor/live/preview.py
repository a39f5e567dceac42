"""Preview-run: what would this binding do right now? Runs the program, places nothing, changes nothing.

It is the very computation of a live run (`work.run_job`, in the worker pool, at the market clock's
now, with the binding's account, params and state) and differs only in what is done with the
outcome: nothing. It reads the account and binding without writing: when a run has committed but not
yet been applied (see `ledger.py`), the preview reads that committed entry rather than applying it,
so even finishing someone else's write is left to the runs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.executor.live.ledger import Ledger
from services.executor.live.runs import Offload, ProgramCode, broker_doc
from services.executor.live.work import MarketConfig, binding_job, run_job
from shared.context import RequestContext
from shared.errors import NotFound, Unavailable
from shared.messages.live import PreviewError, PreviewFill, PreviewRejection, PreviewRequest, PreviewResult
from shared.messages.runs import Decision
from shared.signals.replay import program_trigger
from shared.timefmt import to_iso


class Preview:
    def __init__(self, ledger: Ledger, programs: ProgramCode, offload: Offload, market_now: Any, market_config: MarketConfig,
                 *, timeout_s: float = 10.0) -> None:
        self._ledger = ledger
        self._programs = programs
        self._offload = offload
        self._now = market_now
        self._market_config = market_config
        self._timeout = timeout_s

    async def _current(self, owner: str, binding: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(broker doc, ctx.state) as the next run would see them, read-only."""
        account_id = int(binding["account_id"])
        account = await self._ledger.accounts.get(owner, account_id)
        if account is None:
            raise NotFound(f"account {account_id} of binding {binding['id']} not found", details={"field": "account_id"})
        broker, state = broker_doc(account), dict(binding.get("state") or {})
        pending = await self._ledger.pending(owner, account_id, int(account.get("seq") or 0))
        if pending is not None:
            # a reset / settings step may leave `account` None: a fresh broker from the (changed) settings
            changed = {**account, **(pending.get("account_changes") or {}), "broker": pending["account"]}
            broker = broker_doc(changed)
            if pending.get("binding_id") == binding["id"] and pending.get("binding"):
                state = dict(pending["binding"]["state"])
        return broker, state

    async def preview(self, req: PreviewRequest, ctx: RequestContext) -> PreviewResult:
        from shared.workers import WorkerCrashed, WorkTimeout

        binding = await self._ledger.bindings.get(ctx.owner, req.id)
        if binding is None:
            raise NotFound(f"binding {req.id} not found", details={"field": "id"})
        code, version = await self._programs.code(ctx.owner, int(binding["program_id"]), binding.get("program_version"))
        broker, state = await self._current(ctx.owner, binding)
        at = self._now()
        trigger = program_trigger("manual", at)
        job = binding_job(binding, code, at, broker, state, trigger, self._market_config)
        try:
            outcome = await self._offload(run_job, job, timeout=self._timeout)
        except WorkTimeout:
            raise Unavailable(f"the preview took longer than {self._timeout:g} s and was stopped") from None
        except WorkerCrashed as exc:
            raise Unavailable(f"the preview's worker died: {exc}") from None
        decision = outcome.decision
        error = outcome.error
        return PreviewResult(
            action=str(decision.get("action", "hold")),
            symbol=decision.get("symbol"),
            quantity=decision.get("quantity"),
            reason=decision.get("reason"),
            status="ok" if outcome.status == "ok" else "error",
            binding_id=int(binding["id"]),
            program_id=int(binding["program_id"]),
            program_version=version,
            account_id=int(binding["account_id"]),
            orders=msgspec.convert(outcome.orders, list[Decision]),
            fills=[
                PreviewFill(
                    time=to_iso(int(f["time"])), symbol=f["symbol"], side=f["side"], quantity=f["quantity"], price=f["price"],
                    fee=f["fee"], notional=f["notional"], realized_pnl=f["realized_pnl"], reason=f["reason"],
                    order_reason=f.get("order_reason"),
                )
                for f in outcome.fills
            ],
            rejections=[
                PreviewRejection(action=r["action"], symbol=r["symbol"], quantity=r["quantity"], reason=r["reason"],
                                 order_reason=r.get("order_reason"))
                for r in outcome.rejections
            ],
            logs=outcome.logs,
            state=outcome.state,
            time=to_iso(at),
            price=outcome.price,
            duration_ms=outcome.duration_ms,
            error=PreviewError(kind=error["kind"], message=error["message"], line=error.get("line"), column=error.get("column"))
            if error else None,
        )
