"""The backtest engine's money against a plain bar-by-bar replay on the paper broker (hypothesis).

The engine takes shortcuts for speed (exit guards that skip `check_exits`, an equity curve rebuilt
from segments in numpy). Here a program trades a random plan (orders with random sizes, TP/SL, on
random bars) over random candles, and the outcome must equal the slow, obvious replay: the same fills
and rejections, the same equity at every close, and the books must close: final equity − initial =
Σ realised − Σ fees = Σ trade PnL, Σ trade fees = fees paid, `total_pnl`/`fees_paid` metrics agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.backtester.engine import BacktestSpec, run_backtest, view_over
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.trading import AccountConfig, Fill, PaperAccount

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

PLAN_PROGRAM = """
fn run(ctx) {
    let k = ctx.state.get("k", 0);
    ctx.state.k = k + 1;
    for o in ctx.params.plan.get(str(k), []) {
        let options = #{take_profit: o.tp, stop_loss: o.sl};
        if o.a == "buy" {
            ctx.buy(ctx.symbol, o.q, options);
        } else if o.a == "sell" {
            ctx.sell(ctx.symbol, o.q, options);
        } else {
            ctx.close(ctx.symbol);
        }
    }
}
"""
PROGRAM = compile_program(PLAN_PROGRAM).program

level = st.one_of(st.none(), st.floats(min_value=50.0, max_value=200.0))
plan_order = st.fixed_dictionaries({
    "a": st.sampled_from(["buy", "sell", "close"]),
    "q": st.floats(min_value=0.01, max_value=150.0),
    "tp": level,
    "sl": level,
})
bars = st.lists(
    st.tuples(st.floats(min_value=60.0, max_value=160.0), st.floats(min_value=0.0, max_value=0.2),
              st.floats(min_value=0.0, max_value=0.2), st.floats(min_value=60.0, max_value=160.0)),
    min_size=2, max_size=40,
)  # fmt: skip
configs = st.builds(
    AccountConfig,
    initial_capital=st.floats(min_value=1_000.0, max_value=100_000.0),
    fee_rate=st.floats(min_value=0.0, max_value=0.005),
    slippage_bps=st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=50.0)),
    leverage=st.floats(min_value=1.0, max_value=20.0),
    maintenance_margin_rate=st.floats(min_value=0.0, max_value=0.05),
)


def candles(rows: list[tuple[float, float, float, float]]) -> CandleArrays:
    opens = np.array([r[0] for r in rows])
    closes = np.array([r[3] for r in rows])
    highs = np.maximum(opens, closes) * (1 + np.array([r[1] for r in rows]))
    lows = np.minimum(opens, closes) * (1 - np.array([r[2] for r in rows]))
    return CandleArrays(time=T0 + H * np.arange(len(rows), dtype=np.int64), open=opens, high=highs, low=lows,
                        close=closes, volume=np.ones(len(rows)))  # fmt: skip


def replay(config: AccountConfig, data: CandleArrays, plan: dict[str, list[dict[str, Any]]]) -> tuple[list[Any], list[float], PaperAccount]:
    """The obvious loop: fill yesterday's orders at the open, check exits on the bar, value at the close."""
    account = PaperAccount(config)
    out: list[Any] = []
    equity: list[float] = []
    pending: list[dict[str, Any]] = []
    n = len(data)
    for k in range(n):
        t = int(data.time[k])
        for order in pending:
            out.append(account.execute(order, float(data.open[k]), t, known_symbols={"BTC"}))
        pending = []
        exit_fill = account.check_exits("BTC", float(data.open[k]), float(data.high[k]), float(data.low[k]), t)
        if exit_fill is not None:
            out.append(exit_fill)
        equity.append(account.equity({"BTC": float(data.close[k])}))
        for o in plan.get(str(k), []):
            if o["a"] == "close":
                held = account.positions.get("BTC")
                pending.append({"action": "close", "symbol": "BTC", "quantity": held.size if held else 0.0, "reason": None})
            else:
                order: dict[str, Any] = {"action": o["a"], "symbol": "BTC", "quantity": o["q"], "reason": None}
                order.update({key: o[short] for key, short in (("take_profit", "tp"), ("stop_loss", "sl")) if o[short] is not None})
                pending.append(order)
    out.extend(account.close_all({"BTC": float(data.close[-1])}, int(data.time[-1]), "end_of_test"))
    if out and isinstance(out[-1], Fill) and out[-1].reason == "end_of_test":
        equity[-1] = account.cash
    return out, equity, account


@settings(max_examples=300, deadline=None)
@given(configs, bars, st.data())
def test_engine_equals_the_plain_replay_and_the_books_close(config: AccountConfig, rows: list[Any], data: st.DataObject) -> None:
    n = len(rows)
    plan = data.draw(st.dictionaries(st.integers(0, n - 1).map(str), st.lists(plan_order, min_size=1, max_size=3), max_size=n))
    arrays = candles(rows)
    outcome = run_backtest(PROGRAM, view_over(arrays, "BTC", "1h"), BacktestSpec(account=config, params={"plan": plan}))
    expected, equity, account = replay(config, arrays, plan)

    assert outcome.fills == [x for x in expected if isinstance(x, Fill)]
    assert len(outcome.rejections) == sum(1 for x in expected if not isinstance(x, Fill))
    scale = max(config.initial_capital, sum(f.notional for f in outcome.fills))
    np.testing.assert_allclose(outcome.equity, equity, rtol=1e-12, atol=1e-9 * scale)

    metrics = outcome.metrics
    realised = math.fsum(f.realized_pnl for f in outcome.fills)
    fees = math.fsum(f.fee for f in outcome.fills)
    assert math.isclose(metrics["final_equity"], account.cash, rel_tol=1e-12)
    assert math.isclose(metrics["total_pnl"], realised - fees, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(metrics["fees_paid"], fees, rel_tol=1e-9, abs_tol=1e-9 * scale)
    # every fee belongs to a closed trade once the end-of-test close has run
    assert math.isclose(math.fsum(t.fees for t in outcome.trades), fees, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(math.fsum(t.pnl for t in outcome.trades), metrics["total_pnl"], rel_tol=1e-9, abs_tol=1e-9 * scale)
    for trade in outcome.trades:
        assert trade.exit_time >= trade.entry_time
