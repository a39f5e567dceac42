"""The backtest engine on small hand-made candle series: when orders fill, what the program sees, the
broker's exits, triggers with their context, binding replay (`run_on`), failures and cancellation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.backtester.engine import (
    BacktestCancelled,
    BacktestOutcome,
    BacktestProgramError,
    BacktestSpec,
    run_backtest,
    view_over,
)
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.timefmt import to_iso
from shared.trading import AccountConfig

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def candles(rows: list[tuple[float, float, float, float]]) -> CandleArrays:
    data = np.array(rows, dtype=float)
    return CandleArrays(
        time=T0 + H * np.arange(len(rows), dtype=np.int64),
        open=data[:, 0], high=data[:, 1], low=data[:, 2], close=data[:, 3], volume=np.ones(len(rows)),
    )  # fmt: skip


def flat(n: int, price: float = 100.0) -> list[tuple[float, float, float, float]]:
    return [(price, price + 1, price - 1, price)] * n


def backtest(source: str, rows: list[tuple[float, float, float, float]], **spec: Any) -> BacktestOutcome:
    compiled = compile_program(source)
    assert compiled.ok, compiled.diagnostics
    account = spec.pop("account", AccountConfig(fee_rate=0.0))
    return run_backtest(compiled.program, view_over(candles(rows), "BTC", "1h"), BacktestSpec(account=account, **spec))


def bar(k: int) -> int:
    return T0 + k * H


def test_a_decision_at_a_close_fills_at_the_next_open() -> None:
    rows = [(100, 101, 99, 100), (100, 102, 99, 101), (105, 106, 104, 105), (107, 108, 106, 107)]
    out = backtest('fn run(ctx) { if ctx.timestamp == ctx.state.get("at", 0) { ctx.buy("BTC", 1) } }', rows,
                   state={"at": float(bar(2))})  # bar 1 closes at bar(2)
    (fill, close) = out.fills
    assert (fill.time, fill.price, fill.side) == (bar(2), 105.0, "buy")  # bar 2's open, not bar 1's close (101)
    # still open at the end: closed at the last close, labelled with the last bar
    assert (close.reason, close.time, close.price) == ("end_of_test", bar(3), 107.0)
    (trade,) = out.trades
    assert (trade.entry_time, trade.exit_time, trade.exit_reason, trade.pnl) == (bar(2), bar(3), "end_of_test", 2.0)
    assert out.equity.tolist() == [10_000, 10_000, 10_000, 10_002]


def test_the_program_sees_backtest_trigger_bar_close_and_persistent_state() -> None:
    source = """
    fn run(ctx) {
        ctx.state.n = ctx.state.get("n", 0) + 1;
        ctx.state.times = ctx.state.get("times", []);
        ctx.state.times.push(ctx.time);
        if ctx.trigger.type != "backtest" { ctx.state.bad = true; }
        if ctx.price != ctx.candles(1)[0].close { ctx.state.bad = true; }
    }
    """
    out = backtest(source, flat(5))
    assert out.state["n"] == 5 and "bad" not in out.state
    assert out.state["times"] == [to_iso(bar(k + 1)) for k in range(5)]


def test_every_order_of_a_run_executes_in_the_order_recorded() -> None:
    source = """
    fn run(ctx) {
        if ctx.state.get("done", false) { return; }
        ctx.state.done = true;
        ctx.buy("BTC", 2, "first");
        ctx.sell("BTC", 5, "second");
        ctx.buy("BTC", 1, "third");
    }
    """
    out = backtest(source, flat(3))
    assert [(f.side, f.quantity, f.order_reason) for f in out.fills[:3]] == [("buy", 2, "first"), ("sell", 5, "second"), ("buy", 1, "third")]
    assert all(f.time == bar(1) for f in out.fills[:3])
    # the long closed by the flip, 1 of the short 3 closed by "third", the other 2 at the end
    assert [(t.side, t.size, t.exit_reason) for t in out.trades] == [("long", 2, "signal"), ("short", 1, "signal"), ("short", 2, "end_of_test")]


def test_take_profit_and_stop_loss_are_checked_on_every_later_bar() -> None:
    rows = [(100, 100, 100, 100), (100, 103, 99, 102), (102, 104, 101, 103), (103, 111, 102, 109), (109, 109, 109, 109)]
    source = 'fn run(ctx) { if ctx.position() == null && ctx.state.get("n", 0) == 0 { ctx.state.n = 1; ctx.buy("BTC", 1, #{take_profit: 110, stop_loss: 90}) } }'
    out = backtest(source, rows)
    (trade,) = out.trades
    assert (trade.exit_reason, trade.exit_price, trade.exit_time) == ("take_profit", 110.0, bar(3))


def test_stop_loss_wins_when_both_levels_are_inside_one_candle() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 120, 80, 100)]
    out = backtest('fn run(ctx) { if ctx.state.get("n", 0) == 0 { ctx.state.n = 1; ctx.buy("BTC", 1, #{take_profit: 110, stop_loss: 90}) } }', rows)
    assert [(t.exit_reason, t.exit_price) for t in out.trades] == [("stop_loss", 90.0)]


def test_leverage_liquidates_at_the_liquidation_price() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (99, 99, 50, 60), (60, 60, 60, 60)]
    out = backtest('fn run(ctx) { if ctx.state.get("n", 0) == 0 { ctx.state.n = 1; ctx.buy("BTC", 500) } }', rows,
                   account=AccountConfig(fee_rate=0.0, leverage=10, maintenance_margin_rate=0.01))
    (trade,) = out.trades
    expected = (500 * 100 - 10_000) / (500 * 0.99)
    assert trade.exit_reason == "liquidation" and trade.exit_price == pytest.approx(expected)
    assert out.equity[-1] == pytest.approx(10_000 + 500 * (expected - 100))


def test_rejected_orders_are_recorded_and_the_run_goes_on() -> None:
    source = 'fn run(ctx) { ctx.state.n = ctx.state.get("n", 0) + 1; if ctx.state.n == 1 { ctx.buy("BTC", 1000); ctx.buy("ETH", 1); ctx.buy("BTC", 1) } }'
    out = backtest(source, flat(4))
    assert [r.reason.split(" ")[0] for r in out.rejections] == ["notional", "unknown"]
    assert len(out.trades) == 1 and out.state["n"] == 4
    orders = out.triggers[0].context["orders"]  # type: ignore[index]
    assert orders[0]["fill"]["rejected"] and "exceed" in orders[0]["fill"]["reason"]
    assert orders[2]["fill"]["price"] == 100.0
    assert out.metrics["rejected_orders"] == 2


def test_a_trigger_records_what_the_program_read_its_log_and_its_fills() -> None:
    source = """
    fn run(ctx) {
        let fast = ctx.sma(2);
        let rsi = ctx.rsi(3);
        ctx.log("fast " + str(fast));
        if ctx.state.get("n", 0) == 2 { ctx.buy("BTC", 1, "because"); }
        ctx.state.n = ctx.state.get("n", 0) + 1;
    }
    """
    rows = [(100, 101, 99, 100), (100, 102, 99, 101), (101, 103, 100, 102), (104, 105, 103, 104)]
    out = backtest(source, rows)
    (trigger,) = out.triggers
    assert (trigger.type, trigger.symbol, trigger.price, trigger.timestamp) == ("buy", "BTC", 102.0, bar(3))
    context = trigger.context
    assert context is not None
    names = [(c["name"], c["args"]) for c in context["indicators"]]
    assert names == [("sma", [2.0]), ("rsi", [3.0])]
    assert context["indicators"][0]["result"] == pytest.approx(101.5)
    assert context["price"] == 102.0 and context["position"] is None and context["logs"] == ["fast 101.5"]
    (order,) = context["orders"]
    assert order["reason"] == "because" and order["fill"]["price"] == 104.0 and order["fill"]["time"] == to_iso(bar(3))
    items = out.trigger_items()
    assert items[0]["timestamp"] == to_iso(bar(3)) and items[0]["type"] == "buy"


def test_markers_show_entries_and_exits() -> None:
    source = 'fn run(ctx) { ctx.state.n = ctx.state.get("n", 0) + 1; if ctx.state.n == 1 { ctx.buy("BTC", 1) } if ctx.state.n == 2 { ctx.sell("BTC", 2) } }'
    out = backtest(source, flat(4))
    assert [(m["type"], m["side"], m["timestamp"]) for m in out.marker_items()] == [
        ("entry", "buy", to_iso(bar(1))),
        ("exit", "sell", to_iso(bar(2))),  # the flip: exit first …
        ("entry", "sell", to_iso(bar(2))),  # … then the new short
        ("exit", "buy", to_iso(bar(3))),  # end of test
    ]


def test_run_on_runs_the_program_only_on_the_given_bars() -> None:
    source = 'fn run(ctx) { ctx.state.bars = ctx.state.get("bars", []); ctx.state.bars.push(ctx.time); }'
    out = backtest(source, flat(10), run_on=[2, 5, 9])
    assert out.state["bars"] == [to_iso(bar(k + 1)) for k in (2, 5, 9)]
    assert len(out.equity) == 10


def test_orders_of_the_last_bar_are_not_filled() -> None:
    out = backtest('fn run(ctx) { if ctx.timestamp == ctx.state.get("end", 0) { ctx.buy("BTC", 1) } }', flat(3), state={"end": float(bar(3))})
    assert out.fills == [] and out.unfilled_orders == 1
    assert out.triggers[0].context["orders"][0]["fill"]["rejected"]  # type: ignore[index]


def test_a_program_error_stops_the_backtest_with_line_column_and_bar_time() -> None:
    source = 'fn run(ctx) {\n    ctx.state.n = ctx.state.get("n", 0) + 1;\n    if ctx.state.n == 3 { let x = 1 / 0; }\n}'
    with pytest.raises(BacktestProgramError) as caught:
        backtest(source, flat(5))
    error = caught.value
    assert error.message == "division by zero" and error.line == 3 and error.column > 0
    assert error.bar_time == to_iso(bar(3)) and error.bar == 2


def test_progress_is_reported_and_should_stop_cancels() -> None:
    seen: list[tuple[int, int]] = []
    out = backtest("fn run(ctx) { }", flat(50), progress_every=10)
    compiled = compile_program("fn run(ctx) { }").program
    run_backtest(compiled, view_over(candles(flat(50)), "BTC", "1h"), BacktestSpec(progress_every=10),
                 progress=lambda done, total: seen.append((done, total)))
    assert seen == [(10, 50), (20, 50), (30, 50), (40, 50), (50, 50), (50, 50)]
    with pytest.raises(BacktestCancelled):
        run_backtest(compiled, view_over(candles(flat(50)), "BTC", "1h"), BacktestSpec(progress_every=10), should_stop=lambda: True)
    assert out.bars == 50


def test_cash_reconciles_with_trades_and_fees() -> None:
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    rows = [(c, c * 1.01, c * 0.99, c) for c in closes]
    source = """
    fn run(ctx) {
        let f = ctx.ema(5); let s = ctx.ema(15);
        if f == null || s == null { return; }
        if f > s && ctx.position() == null { ctx.buy("BTC", 3, #{stop_loss: ctx.price * 0.98}) }
        if f < s && ctx.position() != null { ctx.close("BTC") }
    }
    """
    out = backtest(source, rows, account=AccountConfig(fee_rate=0.001, slippage_bps=5))
    net = sum(t.pnl for t in out.trades)
    assert out.metrics["final_equity"] == pytest.approx(10_000 + net, rel=1e-12)
    assert out.metrics["fees_paid"] == pytest.approx(sum(f.fee for f in out.fills), rel=1e-12)
    assert {t.exit_reason for t in out.trades} >= {"signal", "stop_loss"}


def test_the_engine_cursor_reads_exactly_what_the_backtest_view_reads() -> None:
    from services.backtester.engine import _Cursor
    from shared.market import INDICATORS

    rng = np.random.default_rng(3)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    rows = [(c * 0.999, c * 1.01, c * 0.98, c) for c in closes]
    view = view_over(candles(rows), "BTC", "1h", offset=40)
    cursor = _Cursor(view)
    for k in (0, 5, 100, len(view) - 1):
        view.seek(k)
        cursor.i = view.index
        assert (cursor.price, cursor.timestamp, cursor.candles(4)) == (view.price, view.timestamp, view.candles(4))
        for name in sorted(INDICATORS):
            for args in ((), (14.0,)) if name in ("sma", "ema", "rsi", "atr") else ((),):
                assert cursor.indicator(name, args) == view.indicator(name, args), (name, args, k)
