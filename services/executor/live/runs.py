"""One live run: take a run message, run the binding's program, commit the outcome once.

The order of steps is what makes a run happen exactly once however often its message is delivered
(JetStream redelivers after a crash or a lost ack):

1. Read the binding; a disabled or deleted binding ends here (disabling stops new runs at once).
2. Read the account head `seq`, and apply a committed-but-unapplied entry at `seq + 1` first.
3. Look for the run key (`<binding id>:<trigger id>`) in the ledger, AFTER reading the head: if a
   run with this key committed before our read we see it; if it commits after, it holds step
   `seq + 1` or later and our commit of `seq + 1` clashes (see `ledger.py`). Found → done.
4. Run the program in the worker pool (never on the loop) at the market clock's now, fill the orders
   on a copy of the account, and commit ONE ledger entry `<account>:<seq + 1>`. A clash means
   another run of this account won the step: go back to 2 with fresh state.
5. Apply the entry (executions, fills, binding state, account), publish the events (their ids are
   derived from the run key, so publishing again after a crash is dropped by JetStream), then ack.

Runs of one account are also serialised inside a replica (an asyncio lock per account), so clashes
only happen between replicas. A program that fails is an execution with `status: error`; the binding
keeps running. Failures of the platform (store or registry unreachable) leave the message un-acked
for redelivery instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import structlog

from services.executor.live.accounts import account_config
from services.executor.live.ledger import Ledger, entry_id
from services.executor.live.work import MarketConfig, RunJob, RunOutcome, binding_job, run_job
from shared import subjects
from shared.errors import NotFound
from shared.messages.base import Event
from shared.messages.live import ExecutionEvent, OrderEvent, RunOrder
from shared.signals.replay import program_trigger
from shared.timefmt import now_ms, to_iso
from shared.trading.account import PaperAccount

log = structlog.get_logger()

MAX_ATTEMPTS = 30
CLASH_BACKOFF_S = 0.02
Offload = Callable[..., Awaitable[Any]]
"""`offload(fn, *args, timeout=…)`: run `fn` in a worker process (`WorkerPool.run`)."""
Publish = Callable[[str, Event], Awaitable[None]]


class ProgramCode(Protocol):
    async def code(self, owner: str, program_id: int, version: int | None) -> tuple[str, int]:
        """(code, version) of the program (the latest version when `version` is None); NotFound if gone."""
        ...


def run_key(binding_id: int, trigger_id: str) -> str:
    return f"{binding_id}:{trigger_id}"


def broker_doc(account: dict[str, Any]) -> dict[str, Any]:
    """The paper broker state of an account doc (a fresh one from its settings before the first run)."""
    broker = account.get("broker")
    if broker:
        return dict(broker)
    return PaperAccount(account_config(account)).to_doc()  # every broker setting of the account


def event_id(key: str, kind: str) -> str:
    """Deterministic event ids: an event published again after a crash is a duplicate JetStream drops."""
    return f"{key}:{kind}"


@dataclass(frozen=True, slots=True)
class RunReport:
    """What happened to one run message (for logs, tests and the benchmark)."""

    outcome: str  # executed | duplicate | skipped
    execution_id: int | None = None
    status: str | None = None


class RunHandler:
    def __init__(
        self,
        ledger: Ledger,
        programs: ProgramCode,
        offload: Offload,
        publish: Publish,
        market_now: Callable[[], int],
        market_config: MarketConfig,
        *,
        run_timeout_s: float = 10.0,
    ) -> None:
        self._ledger = ledger
        self._programs = programs
        self._offload = offload
        self._publish = publish
        self._now = market_now
        self._market_config = market_config
        self._timeout = run_timeout_s
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, account_id: int) -> asyncio.Lock:
        lock = self._locks.get(account_id)
        if lock is None:
            lock = self._locks[account_id] = asyncio.Lock()
        return lock

    async def handle(self, order: RunOrder) -> RunReport:
        owner, binding_id = order.owner, order.binding_id
        key = run_key(binding_id, order.trigger.id)
        binding = await self._ledger.bindings.get(owner, binding_id)
        if binding is None or not binding.get("enabled", False):
            # This message's run may have committed before the binding was disabled or deleted, on a
            # replica that died before applying it: finish that step as an enabled binding's redelivery
            # would. Else the account stays behind its ledger, and its reset answers 409 for ever (a
            # position without TP/SL or liquidation price is not watched, so nothing else applies it).
            done = await self._ledger.find_run(owner, key)
            if done is not None:
                async with self.account_lock(int(done["account_id"])):
                    await self._ledger.recover(owner, int(done["account_id"]))
                await self._publish_events(done)
                return RunReport("duplicate", done["execution"]["id"], done["execution"]["status"])
            log.info("run_skipped", binding_id=binding_id, trigger=order.trigger.id, why="binding disabled or deleted")
            return RunReport("skipped")
        account_id = int(binding["account_id"])
        async with self.account_lock(account_id):
            return await self._run(order, key, binding, account_id)

    @contextlib.asynccontextmanager
    async def account_lock(self, account_id: int) -> AsyncIterator[None]:
        """Steps of one account (runs, and the exit watch's fills) one at a time inside this replica."""
        lock = self._lock(account_id)
        async with lock:
            try:
                yield
            finally:
                if not lock._waiters:  # type: ignore[attr-defined]  # drop idle locks: accounts come and go
                    self._locks.pop(account_id, None)

    async def _run(self, order: RunOrder, key: str, binding: dict[str, Any], account_id: int) -> RunReport:
        owner = order.owner
        for attempt in range(MAX_ATTEMPTS):
            seq = await self._ledger.recover(owner, account_id)
            if seq < 0:
                log.info("run_skipped", binding_id=order.binding_id, why="account deleted")
                return RunReport("skipped")
            done = await self._ledger.find_run(owner, key)
            if done is not None:
                await self._publish_events(done)  # recover() applied it; its events may not have gone out
                return RunReport("duplicate", done["execution"]["id"], done["execution"]["status"])
            account = await self._ledger.accounts.get(owner, account_id)
            binding = await self._ledger.bindings.get(owner, order.binding_id) or binding
            if account is None or int(account.get("seq") or 0) != seq:
                continue
            entry = await self._execute(order, key, binding, account, seq)
            if await self._ledger.commit(entry):
                await self._ledger.apply(entry)
                await self._publish_events(entry)
                execution = entry["execution"]
                log.info("run_executed", execution_id=execution["id"], binding_id=order.binding_id,
                         status=execution["status"], action=execution["action"], seq=entry["seq"])
                return RunReport("executed", execution["id"], execution["status"])
            log.info("run_step_taken", binding_id=order.binding_id, account_id=account_id, seq=seq + 1)
            await asyncio.sleep(random.uniform(0, CLASH_BACKOFF_S * (attempt + 1)))  # another replica is on this account
        raise RuntimeError(f"account {account_id}: could not take a ledger step in {MAX_ATTEMPTS} attempts")

    async def _execute(self, order: RunOrder, key: str, binding: dict[str, Any], account: dict[str, Any], seq: int) -> dict[str, Any]:
        """Run the program and build the ledger entry (nothing is written here)."""
        owner = order.owner
        trigger = msgspec.to_builtins(order.trigger)
        program_id = int(binding["program_id"])
        at = self._now()
        started = time.perf_counter()
        try:
            code, version = await self._programs.code(owner, program_id, binding.get("program_version"))
        except NotFound:
            code, version = None, int(binding.get("program_version") or 0)
        before = broker_doc(account)
        if code is None:
            outcome = _platform_error("program not found (deleted?)", binding, before, trigger)
        else:
            run_trigger = program_trigger(order.trigger.type, order.trigger.time_ms, order.trigger.pool, trigger["signals"])
            job = binding_job(binding, code, at, before, dict(binding.get("state") or {}), run_trigger, self._market_config)
            outcome = await self._run_job(job, binding, before, trigger)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        execution_id = await self._ledger.next_execution_id()
        return build_entry(order, key, binding, int(account["id"]), seq + 1, execution_id, version, at, outcome, duration_ms)

    async def _run_job(self, job: RunJob, binding: dict[str, Any], before: dict[str, Any], trigger: dict[str, Any]) -> RunOutcome:
        from shared.workers import WorkerCrashed, WorkTimeout

        try:
            return await self._offload(run_job, job, timeout=self._timeout)
        except WorkTimeout:
            return _platform_error(f"the run took longer than {self._timeout:g} s and was stopped", binding, before, trigger)
        except WorkerCrashed as exc:
            return _platform_error(f"the run's worker died: {exc}", binding, before, trigger)

    async def _publish_events(self, entry: dict[str, Any]) -> None:
        execution = entry["execution"]
        key, owner = entry["run_key"], entry["owner"]
        base = {"time": execution["executed_at"], "owner": owner, "correlation_id": key}
        status = execution["status"]
        subject = subjects.EVT_EXECUTION_FAILED if status == "error" else subjects.EVT_EXECUTION_COMPLETED
        error = execution.get("error")
        await self._publish(subject, ExecutionEvent(
            id=event_id(key, "execution"), **base, execution_id=execution["id"], binding_id=execution["binding_id"],
            program_id=execution["program_id"], account_id=execution["account_id"], status=status,
            action=execution["action"], symbol=execution["symbol"], trigger=execution["trigger"],
            error=error["message"] if error else None,
        ))
        for n, fill in enumerate(execution["fills"]):
            await self._publish(subjects.EVT_ORDER_FILLED, OrderEvent(
                id=event_id(key, f"fill-{n}"), **base, execution_id=execution["id"], binding_id=execution["binding_id"],
                account_id=execution["account_id"], symbol=fill["symbol"], side=fill["side"], quantity=fill["quantity"],
                price=fill["price"], fee=fill["fee"], reason=fill.get("order_reason"),
            ))
        for n, rejection in enumerate(execution["rejections"]):
            await self._publish(subjects.EVT_ORDER_REJECTED, OrderEvent(
                id=event_id(key, f"rejection-{n}"), **base, execution_id=execution["id"],
                binding_id=execution["binding_id"], account_id=execution["account_id"], symbol=rejection["symbol"],
                side=rejection["action"], quantity=rejection["quantity"], reason=rejection["reason"],
            ))


def _platform_error(message: str, binding: dict[str, Any], before: dict[str, Any], trigger: dict[str, Any]) -> RunOutcome:
    symbol = str(binding.get("symbol"))
    return RunOutcome(
        status="error",
        decision={"action": "hold", "symbol": symbol, "quantity": 0.0, "reason": f"run failed: {message}"},
        orders=[], logs=[], error={"kind": "limit" if "longer" in message else "runtime", "message": message, "line": None, "column": None},
        state=dict(binding.get("state") or {}), fills=[], rejections=[], account=before, price=None, values={},
        duration_ms=0.0, steps=0,
    )


def execution_status(outcome: RunOutcome) -> str:
    if outcome.status != "ok":
        return "error"
    if outcome.orders and not outcome.fills:
        return "rejected"
    return "ok"


def build_entry(
    order: RunOrder, key: str, binding: dict[str, Any], account_id: int, seq: int, execution_id: int,
    version: int, at_ms: int, outcome: RunOutcome, duration_ms: float,
) -> dict[str, Any]:
    """The ledger entry of one run: the execution, its fills, the binding's new state, the account after."""
    owner = order.owner
    trigger = msgspec.to_builtins(order.trigger)
    executed_at = to_iso(at_ms)
    fills = [
        {
            "id": f"{execution_id}-{n}", "owner": owner, "account_id": account_id, "binding_id": order.binding_id,
            "program_id": int(binding["program_id"]), "execution_id": execution_id, "seq": seq, "n": n,
            "time": to_iso(int(fill["time"])), "time_ms": int(fill["time"]), "symbol": fill["symbol"], "side": fill["side"],
            "quantity": fill["quantity"], "price": fill["price"], "fee": fill["fee"], "notional": fill["notional"],
            "realized_pnl": fill["realized_pnl"], "reason": fill["reason"], "order_reason": fill.get("order_reason"),
        }
        for n, fill in enumerate(outcome.fills)
    ]
    decision = outcome.decision
    execution = {
        "id": execution_id,
        "owner": owner,
        "program_id": int(binding["program_id"]),
        "program_version": version,
        "binding_id": order.binding_id,
        "account_id": account_id,
        "action": str(decision.get("action", "hold")),
        "symbol": decision.get("symbol"),
        "quantity": decision.get("quantity"),
        "reason": decision.get("reason"),
        "executed_at": executed_at,
        "executed_at_ms": at_ms,
        "trigger": {k: trigger[k] for k in ("id", "type", "pool", "signals", "time")},
        "status": execution_status(outcome),
        "duration_ms": duration_ms,
        "run_key": key,
        "seq": seq,
        "orders": outcome.orders,
        "fills": [{k: v for k, v in f.items() if k not in ("owner", "id")} for f in fills],
        "rejections": outcome.rejections,
        "fees": round(sum(f["fee"] for f in outcome.fills), 10),
        "values": outcome.values,
        "logs": outcome.logs,
        "error": outcome.error,
        "state": outcome.state,
        "queued_at_ms": order.queued_at_ms,
        "latency_ms": max(0, now_ms() - order.queued_at_ms),
    }
    return {
        "id": entry_id(account_id, seq),
        "owner": owner,
        "account_id": account_id,
        "seq": seq,
        "run_key": key,
        "binding_id": order.binding_id,
        "execution": execution,
        "fills": fills,
        "binding": {
            "state": outcome.state,
            "last_run_at": executed_at,
            "run_seq": int(binding.get("run_seq") or 0) + 1,
        },
        "account": outcome.account,
    }
