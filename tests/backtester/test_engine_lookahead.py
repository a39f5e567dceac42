"""No look-ahead: change every bar after bar k and the program's decisions up to bar k stay the same.

The program reads everything a program can (price, candles, every indicator, the account), so a leak
through any of them would change a decision."""

from __future__ import annotations

import numpy as np
import pytest

from services.backtester.engine import BacktestOutcome, BacktestSpec, run_backtest, view_over
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.trading import AccountConfig

READS_EVERYTHING = """
fn run(ctx) {
    let score = 0;
    let fast = ctx.sma(5); let slow = ctx.ema(12); let r = ctx.rsi(7);
    let m = ctx.macd(6, 13, 4); let b = ctx.bbands(10, 2); let s = ctx.stoch(9, 3);
    let a = ctx.atr(7); let w = ctx.vwap(); let o = ctx.obv(); let spike = ctx.volume_spike(10, 1.5);
    let last = ctx.candles(3);
    if fast == null || slow == null || r == null || m.signal == null || b.upper == null || s.d == null || a == null { return; }
    if fast > slow { score += 1; } else { score -= 1; }
    if r < 40 { score += 1; } if r > 60 { score -= 1; }
    if m.histogram > 0 { score += 1; } else { score -= 1; }
    if ctx.price < b.lower { score += 1; } if ctx.price > b.upper { score -= 1; }
    if s.k > s.d { score += 1; }
    if spike { score += 1; }
    if last[2].close > last[0].open && ctx.price > w { score += 1; }
    if o > 0 { score += 0.5; }
    let held = ctx.position();
    let size = max(0.01, ctx.equity / ctx.price * 0.2);
    if score >= 2 && (held == null || held.side == "short") {
        if held != null { ctx.close(ctx.symbol); }
        ctx.buy(ctx.symbol, size, #{stop_loss: ctx.price - 2 * a, take_profit: ctx.price + 3 * a});
    } else if score <= -2 && (held == null || held.side == "long") {
        if held != null { ctx.close(ctx.symbol); }
        ctx.sell(ctx.symbol, size, #{stop_loss: ctx.price + 2 * a});
    }
    ctx.state.seen = ctx.state.get("seen", 0) + 1;
}
"""


def random_candles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": rng.uniform(10, 100, n)}


def run(columns: dict[str, np.ndarray]) -> BacktestOutcome:
    n = len(columns["close"])
    arrays = CandleArrays(time=1_767_225_600_000 + 3_600_000 * np.arange(n, dtype=np.int64), **columns)
    compiled = compile_program(READS_EVERYTHING)
    assert compiled.ok, compiled.diagnostics
    view = view_over(arrays, "BTC", "1h", offset=20)  # 20 bars of warm-up history
    return run_backtest(compiled.program, view, BacktestSpec(account=AccountConfig(fee_rate=0.001, leverage=3)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_changing_future_bars_changes_no_decision_up_to_the_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = random_candles(rng, 600)
    base = run(columns)
    assert len(base.triggers) >= 10  # the program trades, so the comparison means something
    assert len(base.equity) == 580
    for cut in (0, 25, 150, 333, 578):  # bar positions in the range (the array index is cut + 20)
        future = {name: values.copy() for name, values in columns.items()}
        index = cut + 20
        changed = random_candles(np.random.default_rng(seed * 100 + cut), len(columns["close"]))
        for name in future:
            future[name][index + 1:] = changed[name][index + 1:] * 1.7
        other = run(future)
        mine = [(t.bar, t.context["orders"] if t.context else None) for t in base.triggers if t.bar <= cut]
        theirs = [(t.bar, t.context["orders"] if t.context else None) for t in other.triggers if t.bar <= cut]
        strip = lambda items: [(bar, [{k: v for k, v in o.items() if k != "fill"} for o in orders or []]) for bar, orders in items]  # noqa: E731
        assert strip(mine) == strip(theirs)
        assert base.equity[: cut + 1].tolist() == other.equity[: cut + 1].tolist()
        closed_by_cut = base.equity_times[cut]
        assert [t for t in base.trades if t.exit_time <= closed_by_cut] == [t for t in other.trades if t.exit_time <= closed_by_cut]
        if cut < 500:  # and the future really was different
            assert base.equity[cut + 2 :].tolist() != other.equity[cut + 2 :].tolist()
