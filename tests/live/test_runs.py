"""Live runs on a real SQLite store: the one write, exactly once, account serialisation, errors, preview.

The program runs through `work.run_job` exactly as in production; only where it runs differs (a thread
instead of the worker pool, which has its own tests), so these stay fast. The registry is replaced by
a table of program code, since what is under test is the run and its ledger.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.executor.live.executions import Executions
from services.executor.live.ledger import Ledger
from services.executor.live.preview import Preview
from services.executor.live.runs import RunHandler
from services.executor.live.store import ACCOUNTS, BINDINGS, LiveStore
from services.executor.live.work import MarketConfig
from shared.context import RequestContext
from shared.errors import NotFound
from shared.market.market_data import build_market_data
from shared.market.store_sqlite import SqliteCandleStore
from shared.messages.base import Event
from shared.messages.live import ExecutionList, ExecutionRef, PreviewRequest, RunOrder, Trigger
from shared.store.sqlite import SqliteStore
from shared.timefmt import now_ms, to_iso

TOGGLE = """
fn run(ctx) {
    let n = ctx.state.get("n", 0);
    ctx.state.n = n + 1;
    ctx.log("run " + str(n + 1) + " on " + ctx.trigger.get("type", "?"));
    let rsi = ctx.rsi(14);
    if ctx.position() == null {
        ctx.buy(ctx.symbol, 0.01, "open");
    } else {
        ctx.close(ctx.symbol, "close");
    }
}
"""
FAILING = """
fn run(ctx) {
    ctx.state.n = 99;
    let x = 1 / 0;
}
"""
TOO_BIG = """
fn run(ctx) {
    ctx.buy(ctx.symbol, 1000000, "all in");
}
"""


class Programs:
    def __init__(self) -> None:
        self.code_by_id: dict[int, str] = {}

    async def code(self, owner: str, program_id: int, version: int | None) -> tuple[str, int]:
        if program_id not in self.code_by_id:
            raise NotFound(f"program {program_id} not found")
        return self.code_by_id[program_id], version or 1


async def in_thread(fn: Any, *args: Any, timeout: float) -> Any:
    return await asyncio.to_thread(fn, *args)


class World:
    """A store, market data and a run handler, plus helpers to make accounts and bindings."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ids = itertools.count(1)
        self.events: list[tuple[str, Event]] = []
        self.programs = Programs()

    async def open(self) -> World:
        path = self.tmp / "hyperoru.db"
        self.store = SqliteStore(path)
        self.live = await LiveStore.open(self.store)
        self.ledger = await Ledger.open(self.store, accounts=ACCOUNTS.name, bindings=BINDINGS.name)
        self.market = build_market_data(SqliteCandleStore(path))
        self.config = MarketConfig(sqlite_path=str(path))
        self.handler = RunHandler(self.ledger, self.programs, in_thread, self.publish, self.market.now, self.config)
        self.preview = Preview(self.ledger, self.programs, in_thread, self.market.now, self.config)
        self.executions = Executions(self.ledger)
        return self

    async def publish(self, subject: str, event: Event) -> None:
        self.events.append((subject, event))

    async def account(self, owner: str, capital: float = 10_000.0) -> int:
        account_id = next(self.ids)
        await self.store.collection(ACCOUNTS.name).insert({
            "id": account_id, "owner": owner, "name": "paper", "account_type": "program", "mode": "paper",
            "initial_capital": capital, "fee_rate": 0.001, "leverage": 1.0, "broker": None, "seq": 0,
        })
        return account_id

    async def binding(self, owner: str, account_id: int, code: str, **extra: Any) -> int:
        binding_id = next(self.ids) + 1000
        program_id = binding_id + 5000
        self.programs.code_by_id[program_id] = code
        await self.store.collection(BINDINGS.name).insert({
            "id": binding_id, "owner": owner, "program_id": program_id, "account_id": account_id, "enabled": True,
            "symbol": "BTC", "timeframe": "1h", "signal_pool_ids": [], "schedule": {"interval": "1m"}, "params": {},
            "program_version": None, "state": {}, "last_run_at": None, "run_seq": 0, **extra,
        })
        return binding_id

    async def doc(self, collection: str, owner: str, id: int) -> dict[str, Any]:
        found = await self.store.collection(collection).get(owner, id)
        assert found is not None
        return found


def order(owner: str, binding_id: int, t: int) -> RunOrder:
    trigger = Trigger(id=f"schedule-{t}", type="schedule", time=to_iso(t), time_ms=t)
    return RunOrder(owner=owner, binding_id=binding_id, trigger=trigger, queued_at_ms=now_ms())


def ctx(owner: str) -> RequestContext:
    return RequestContext(request_id="test", owner=owner)


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    w = await World(tmp_path).open()
    yield w
    await w.store.close()


async def executions_of(world: World, owner: str, **filters: Any) -> list[dict[str, Any]]:
    page = await world.executions.list(ExecutionList(limit=500, **filters), ctx(owner))
    return [msgspec.to_builtins(item) for item in page.items]


def reconcile(world_account: dict[str, Any], fills: list[dict[str, Any]], capital: float) -> None:
    broker = world_account["broker"]
    realized = sum(f["realized_pnl"] for f in fills)
    fees = sum(f["fee"] for f in fills)
    assert broker["cash"] - capital == pytest.approx(realized - fees, abs=1e-6)


async def test_a_run_stores_execution_fills_state_and_account_together(world: World) -> None:
    owner = "alice"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE)
    report = await world.handler.handle(order(owner, binding_id, 60_000 * 10))
    assert report.outcome == "executed" and report.status == "ok"
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    binding = await world.doc(BINDINGS.name, owner, binding_id)
    assert account["seq"] == 1 and account["broker"]["positions"][0]["symbol"] == "BTC"
    assert binding["state"] == {"n": 1} and binding["run_seq"] == 1 and binding["last_run_at"]
    [summary] = await executions_of(world, owner)
    assert summary["status"] == "ok" and summary["action"] == "buy" and summary["binding_id"] == binding_id
    assert summary["trigger"]["type"] == "schedule"
    detail = await world.executions.get(ExecutionRef(id=summary["id"]), ctx(owner))
    assert detail.fills[0].quantity == 0.01 and detail.fees > 0
    assert detail.logs == ["run 1 on schedule"]
    assert detail.values.indicators[0].indicator == "rsi"
    fills = await world.store.collection("live_fills").find(owner, {"account_id": account_id})
    assert len(fills) == 1 and fills[0]["execution_id"] == summary["id"]
    subjects = [s for s, _ in world.events]
    assert subjects == ["evt.executor.execution.completed", "evt.executor.order.filled"]


async def test_the_same_trigger_twice_runs_once(world: World) -> None:
    owner = "bob"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE)
    first = await world.handler.handle(order(owner, binding_id, 120_000))
    again = await world.handler.handle(order(owner, binding_id, 120_000))
    assert first.outcome == "executed" and again.outcome == "duplicate"
    assert again.execution_id == first.execution_id
    assert len(await executions_of(world, owner)) == 1
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 1
    # the events of the duplicate reuse the first run's ids: JetStream drops them as duplicates
    ids = [e.id for _, e in world.events]
    assert len(set(ids)) == len(ids) // 2


async def test_concurrent_runs_on_one_account_are_serialised_and_reconcile(world: World) -> None:
    owner = "carol"
    account_id = await world.account(owner)
    b1 = await world.binding(owner, account_id, TOGGLE)
    b2 = await world.binding(owner, account_id, TOGGLE, symbol="ETH")
    orders = [order(owner, b, t * 60_000) for t in range(1, 9) for b in (b1, b2)]
    # Two replicas (each with its own in-process locks) on one store: only the ledger keeps them apart.
    other = RunHandler(world.ledger, world.programs, in_thread, world.publish, world.market.now, world.config)
    replicas = [world.handler, other]
    reports = await asyncio.gather(
        *(replicas[i % 2].handle(o) for i, o in enumerate(orders)), other.handle(orders[0]), world.handler.handle(orders[3])
    )
    assert sorted(r.outcome for r in reports).count("executed") == 16
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    assert account["seq"] == 16
    entries = await world.store.collection("live_ledger").find(owner, {"account_id": account_id}, order_by=(("seq", 1),))
    assert [e["seq"] for e in entries] == list(range(1, 17))
    fills = await world.store.collection("live_fills").find(owner, {"account_id": account_id})
    assert len(fills) == 16  # every run opened or closed: one fill each, none twice
    reconcile(account, fills, 10_000.0)
    for binding_id in (b1, b2):
        assert (await world.doc(BINDINGS.name, owner, binding_id))["state"] == {"n": 8}


async def test_a_run_committed_but_not_applied_is_applied_once_on_redelivery(world: World) -> None:
    owner = "dave"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE)
    run = order(owner, binding_id, 180_000)
    binding = await world.doc(BINDINGS.name, owner, binding_id)
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    # The replica commits the entry and dies before applying it (or acking the message).
    entry = await world.handler._execute(run, "%d:%s" % (binding_id, run.trigger.id), binding, account, 0)
    assert await world.ledger.commit(entry)
    assert await executions_of(world, owner) == []
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 0
    # Redelivered: nothing runs again, the committed run is applied.
    report = await world.handler.handle(run)
    assert report.outcome == "duplicate" and report.execution_id == entry["execution"]["id"]
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    assert account["seq"] == 1 and account["broker"] == entry["account"]
    assert len(await executions_of(world, owner)) == 1
    assert len(await world.store.collection("live_fills").find(owner)) == 1
    assert (await world.doc(BINDINGS.name, owner, binding_id))["state"] == {"n": 1}


async def test_a_committed_entry_is_applied_before_the_next_run_of_the_account(world: World) -> None:
    owner = "erin"
    account_id = await world.account(owner)
    b1 = await world.binding(owner, account_id, TOGGLE)
    b2 = await world.binding(owner, account_id, TOGGLE, symbol="ETH")
    run = order(owner, b1, 240_000)
    entry = await world.handler._execute(run, "%d:%s" % (b1, run.trigger.id), await world.doc(BINDINGS.name, owner, b1),
                                         await world.doc(ACCOUNTS.name, owner, account_id), 0)
    assert await world.ledger.commit(entry)
    report = await world.handler.handle(order(owner, b2, 240_000))
    assert report.outcome == "executed"
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    assert account["seq"] == 2 and {p["symbol"] for p in account["broker"]["positions"]} == {"BTC", "ETH"}


async def test_a_failing_program_is_an_error_execution_and_the_binding_keeps_running(world: World) -> None:
    owner = "frank"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, FAILING)
    report = await world.handler.handle(order(owner, binding_id, 300_000))
    assert report.status == "error"
    detail = await world.executions.get(ExecutionRef(id=report.execution_id or 0), ctx(owner))
    assert detail.error is not None and detail.error.line == 4 and (detail.error.column or 0) > 0
    assert "zero" in detail.error.message
    binding = await world.doc(BINDINGS.name, owner, binding_id)
    assert binding["state"] == {} and binding["enabled"] is True
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["broker"]["cash"] == 10_000.0
    assert world.events[0][0] == "evt.executor.execution.failed"
    world.programs.code_by_id[binding["program_id"]] = TOGGLE  # fixed: the next trigger runs normally
    assert (await world.handler.handle(order(owner, binding_id, 360_000))).status == "ok"


async def test_an_order_the_broker_refuses_is_a_rejected_execution(world: World) -> None:
    owner = "gina"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOO_BIG)
    report = await world.handler.handle(order(owner, binding_id, 420_000))
    assert report.status == "rejected"
    detail = await world.executions.get(ExecutionRef(id=report.execution_id or 0), ctx(owner))
    assert detail.fills == [] and "exceed" in detail.rejections[0].reason
    assert [s for s, _ in world.events] == ["evt.executor.execution.completed", "evt.executor.order.rejected"]


async def test_a_disabled_or_deleted_binding_does_not_run(world: World) -> None:
    owner = "hank"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE, enabled=False)
    assert (await world.handler.handle(order(owner, binding_id, 480_000))).outcome == "skipped"
    assert (await world.handler.handle(order(owner, 999_999, 480_000))).outcome == "skipped"
    assert await executions_of(world, owner) == []


async def test_preview_returns_the_decision_and_would_be_fills_and_changes_nothing(world: World) -> None:
    owner = "ivy"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE, state={"n": 4})
    await world.handler.handle(order(owner, binding_id, 540_000))
    before_account = await world.doc(ACCOUNTS.name, owner, account_id)
    before_binding = await world.doc(BINDINGS.name, owner, binding_id)
    before_ledger = await world.store.collection("live_ledger").find(owner)
    result = await world.preview.preview(PreviewRequest(id=binding_id), ctx(owner))
    assert result.action == "close" and result.symbol == "BTC" and result.status == "ok"
    assert result.fills and result.fills[0].side == "sell" and result.state == {"n": 6}
    assert result.logs == ["run 6 on manual"]
    assert await world.doc(ACCOUNTS.name, owner, account_id) == before_account
    assert await world.doc(BINDINGS.name, owner, binding_id) == before_binding
    assert await world.store.collection("live_ledger").find(owner) == before_ledger
    assert len(await executions_of(world, owner)) == 1
    assert len(await world.store.collection("live_fills").find(owner)) == 1


async def test_executions_filter_and_page_newest_first(world: World) -> None:
    owner = "jack"
    a1, a2 = await world.account(owner), await world.account(owner)
    b1 = await world.binding(owner, a1, TOGGLE)
    b2 = await world.binding(owner, a2, FAILING)
    for t in range(1, 4):
        await world.handler.handle(order(owner, b1, t * 60_000))
        await world.handler.handle(order(owner, b2, t * 60_000))
    everything = await executions_of(world, owner)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert {e["binding_id"] for e in await executions_of(world, owner, binding_id=b1)} == {b1}
    assert {e["account_id"] for e in await executions_of(world, owner, account_id=a2)} == {a2}
    assert len(await executions_of(world, owner, status="error")) == 3
    first = await world.executions.list(ExecutionList(limit=4), ctx(owner))
    rest = await world.executions.list(ExecutionList(limit=4, cursor=first.next_cursor), ctx(owner))
    assert [e.id for e in first.items + rest.items] == [e["id"] for e in everything] and rest.next_cursor is None
    assert await executions_of(world, "someone-else") == []
    assert "orders" not in everything[0] and "logs" not in everything[0]
