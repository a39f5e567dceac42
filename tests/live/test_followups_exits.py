"""Take-profit / stop-loss / liquidation between runs, on a real SQLite store and the simulator's candles.

A run opens a bracketed position (the real run path, `work.run_job` in a thread); then the exit watch
is asked about each following 1-minute close, as the clock does. The expected exit is computed here
independently: the broker's `check_exits` over the same candles, one after the other, from the first
candle that opened after the position did. Checked: one fill in the ledger and the fills collection
(no execution, no binding), `order.filled` published once, the account flat and reconciled, the same
candle checked again (or by a second replica at once) changing nothing, and the exposure index.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from services.executor.live.exits import CANDLE_MS, ExitWatch, exit_key
from services.executor.live.ledger import LEDGER, entry_id
from services.executor.live.runs import RunHandler
from services.executor.live.store import ACCOUNTS
from shared import subjects
from shared.messages.live import OrderEvent
from shared.timefmt import parse_time
from shared.trading import PaperAccount
from tests.live.test_runs import World, in_thread, order

T_RUN = parse_time("2026-03-02T10:00:05Z")
FIRST_CANDLE = T_RUN - T_RUN % CANDLE_MS + CANDLE_MS  # the first candle opening after the position
BRACKET = """
fn run(ctx) {
    if ctx.position() == null {
        let band = ctx.params.get("band", 0.001);
        ctx.buy(ctx.symbol, 0.01, #{reason: "bracket", take_profit: ctx.price * (1 + band), stop_loss: ctx.price * (1 - band)});
    }
}
"""


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    w = await World(tmp_path).open()
    w.handler = RunHandler(w.ledger, w.programs, in_thread, w.publish, lambda: T_RUN, w.config)
    w.watch = ExitWatch(w.ledger, w.market, w.publish, w.handler.account_lock)
    yield w
    await w.store.close()


async def open_bracket(world: World, owner: str, band: float = 0.001) -> tuple[int, int]:
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, BRACKET, params={"band": band})
    report = await world.handler.handle(order(owner, binding_id, T_RUN))
    assert report.outcome == "executed" and report.status == "ok"
    return account_id, binding_id


async def expected_exit(world: World, broker_doc: dict[str, Any], minutes: int) -> tuple[int, Any]:
    """(close time of the candle that exits, the fill) by the broker's rule, candle after candle."""
    broker = PaperAccount.from_doc(broker_doc)
    candles = await world.market.candles("BTC", "1m", start_ms=FIRST_CANDLE, end_ms=FIRST_CANDLE + minutes * CANDLE_MS,
                                         as_of_ms=FIRST_CANDLE + minutes * CANDLE_MS, live=True)
    for t, o, h, low in zip(candles.time.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(), strict=True):
        fill = broker.check_exits("BTC", o, h, low, int(t))
        if fill is not None:
            return int(t) + CANDLE_MS, fill
    raise AssertionError(f"no exit within {minutes} minutes: widen the test's horizon")


def fills_published(world: World) -> list[OrderEvent]:
    return [e for s, e in world.events if s == subjects.EVT_ORDER_FILLED and isinstance(e, OrderEvent) and e.execution_id is None]


async def test_bracket_exits_between_runs_exactly_once(world: World) -> None:
    owner = "exits"
    account_id, _ = await open_bracket(world, owner, band=0.004)
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    [position] = account["broker"]["positions"]
    assert position["take_profit"] and position["stop_loss"] and position["opened_at"] == T_RUN
    assert await world.ledger.exposed_all() == [(owner, account_id)]
    exit_close, fill = await expected_exit(world, account["broker"], 240)
    assert exit_close - FIRST_CANDLE >= 5 * CANDLE_MS  # several quiet candles before it (the band is wide enough)

    # the candle the position opened in is never used, even though the watch is asked about it
    assert await world.watch.check(FIRST_CANDLE) == 0
    for close in range(FIRST_CANDLE + CANDLE_MS, exit_close, CANDLE_MS):
        assert await world.watch.check(close) == 0, close
    assert await world.watch.check(exit_close) == 1

    after = await world.doc(ACCOUNTS.name, owner, account_id)
    assert after["broker"]["positions"] == [] and after["seq"] == 2
    entry = await world.store.collection(LEDGER.name).get(owner, entry_id(account_id, 2))
    assert entry is not None and entry["kind"] == "exit" and entry["execution"] is None
    assert entry["run_key"] == exit_key(account_id, "BTC", exit_close - CANDLE_MS)
    [stored] = [f for f in await world.store.collection("live_fills").find(owner, {"account_id": account_id})
                if f["reason"] != "signal"]
    assert stored["reason"] == fill.reason and stored["price"] == pytest.approx(fill.price)
    assert stored["realized_pnl"] == pytest.approx(fill.realized_pnl) and stored["time_ms"] == exit_close - CANDLE_MS
    assert stored["binding_id"] is None and stored["execution_id"] is None
    [event] = fills_published(world)
    assert event.reason == fill.reason and event.account_id == account_id and event.price == pytest.approx(fill.price)

    # the same close again, and two replicas at once: nothing more
    assert await world.watch.check(exit_close) == 0
    twin = ExitWatch(world.ledger, world.market, world.publish, RunHandler(
        world.ledger, world.programs, in_thread, world.publish, lambda: T_RUN, world.config).account_lock)
    assert await asyncio.gather(world.watch.check(exit_close), twin.check(exit_close)) == [0, 0]
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 2
    # the flat account left the exposure index at the first look after the exit
    assert await world.ledger.exposed_all() == []

    # the account reconciles: cash − initial = Σ realised − Σ fees over its fills ledger
    fills = await world.store.collection("live_fills").find(owner, {"account_id": account_id})
    broker = after["broker"]
    assert len(fills) == 2
    assert broker["cash"] - 10_000 == pytest.approx(sum(f["realized_pnl"] for f in fills) - sum(f["fee"] for f in fills))


async def test_two_replicas_on_the_exiting_candle_fill_once(world: World) -> None:
    owner = "race"
    account_id, _ = await open_bracket(world, owner)
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    exit_close, _fill = await expected_exit(world, account["broker"], 240)
    twin = ExitWatch(world.ledger, world.market, world.publish, RunHandler(
        world.ledger, world.programs, in_thread, world.publish, lambda: T_RUN, world.config).account_lock)
    results = await asyncio.gather(world.watch.check(exit_close), twin.check(exit_close), world.watch.check(exit_close))
    assert sorted(results) == [0, 0, 1]
    fills = await world.store.collection("live_fills").find(owner, {"account_id": account_id})
    assert len(fills) == 2 and (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 2
    assert len({e.id for e in fills_published(world)}) == 1  # re-publishes carry the same event id (dropped by JetStream)


async def test_committed_exit_is_recovered_by_the_next_run(world: World) -> None:
    """An exit committed but not applied (crash) is applied by whatever touches the account next."""
    owner = "crash"
    account_id, binding_id = await open_bracket(world, owner)
    account = await world.doc(ACCOUNTS.name, owner, account_id)
    exit_close, fill = await expected_exit(world, account["broker"], 240)
    candles = await world.market.candles("BTC", "1m", start_ms=exit_close - CANDLE_MS, end_ms=exit_close,
                                         as_of_ms=exit_close, live=True)
    from services.executor.live.exits import Candle

    candle = Candle(exit_close - CANDLE_MS, float(candles.open[0]), float(candles.high[0]), float(candles.low[0]))
    entry = ExitWatch._entry(owner, account, 2, "BTC", candle, exit_key(account_id, "BTC", candle.open_ms))
    assert entry is not None and await world.ledger.commit(entry)  # ... and the process dies here
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 1

    report = await world.handler.handle(order(owner, binding_id, T_RUN + 10 * CANDLE_MS))  # the next run
    assert report.outcome == "executed"
    after = await world.doc(ACCOUNTS.name, owner, account_id)
    assert after["seq"] == 3  # the exit (2), then the run (3), which found the account flat and opened again
    assert len(after["broker"]["positions"]) == 1
    reasons = sorted(f["reason"] for f in await world.store.collection("live_fills").find(owner, {"account_id": account_id}))
    assert reasons == sorted(["signal", "signal", fill.reason])
    # the watch then finds the key: no second exit for that candle
    assert await world.watch.check(exit_close) == 0


async def test_leveraged_short_is_liquidated_between_runs(world: World) -> None:
    """No take-profit or stop-loss: a position can still be closed by the broker, at its liquidation price."""
    owner = "liq"
    account_id = await world.account(owner, capital=100.0)
    await world.store.collection(ACCOUNTS.name).update(owner, account_id, {"leverage": 100.0})
    candles = await world.market.candles("BTC", "1m", start_ms=FIRST_CANDLE, end_ms=FIRST_CANDLE + 600 * CANDLE_MS,
                                         as_of_ms=FIRST_CANDLE + 600 * CANDLE_MS, live=True)
    entry_price = float(candles.open[0])
    # against the way the simulated market goes next, so it surely gets there
    side = "sell" if float(candles.high.max()) / entry_price - 1 > 1 - float(candles.low.min()) / entry_price else "buy"
    broker = PaperAccount.from_doc(_fresh(100.0, 100.0))
    outcome = broker.execute({"action": side, "symbol": "BTC", "quantity": 9_000 / entry_price, "reason": "levered"},
                             entry_price, FIRST_CANDLE)
    assert getattr(outcome, "reason", None) == "signal", outcome  # a Fill, not a Rejection
    liquidation = broker.liquidation_price("BTC")
    assert liquidation is not None
    reach = float(candles.high.max()) >= liquidation if side == "sell" else float(candles.low.min()) <= liquidation
    assert reach, "the simulated market never reaches the liquidation price"
    # the position as a run would have left it: one ledger step, applied (which also indexes the account)
    step = {"id": entry_id(account_id, 1), "owner": owner, "account_id": account_id, "seq": 1, "kind": "test",
            "run_key": "test:open", "binding_id": None, "execution": None, "fills": [], "binding": None,
            "account": broker.to_doc()}
    assert await world.ledger.commit(step)
    await world.ledger.apply(step)
    expected_broker = PaperAccount.from_doc(broker.to_doc())
    exits = 0
    for t, o, h, low in zip(candles.time.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(), strict=True):
        want = expected_broker.check_exits("BTC", o, h, low, int(t))
        got = await world.watch.check(int(t) + CANDLE_MS)
        assert got == (1 if want is not None else 0), t
        if want is not None:
            exits += 1
            break
    assert exits == 1
    [liquidated] = [f for f in await world.store.collection("live_fills").find(owner, {"account_id": account_id})]
    assert liquidated["reason"] == "liquidation" and liquidated["price"] == pytest.approx(want.price)
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["broker"]["positions"] == []


def _fresh(capital: float, leverage: float) -> dict[str, Any]:
    from shared.trading import AccountConfig

    return PaperAccount(AccountConfig(initial_capital=capital, fee_rate=0.001, leverage=leverage)).to_doc()
