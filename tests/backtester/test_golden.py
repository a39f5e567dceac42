"""Golden tests: our engine against backtesting.py (the reference, AGPL, test-only: used, never copied),
our programs for the same strategies, and the comparison of trades and statistics.

Conventions that differ between the two engines, and how the golden cases make them agree:
- End of test: backtesting.py (`finalize_trades=True`) closes open trades at the last bar's *open*,
  we at its *close*. The golden data get one extra flat bar (open = high = low = close = the last close,
  one day later), where both prices are the same.
- Buy & hold: backtesting.py starts it at the first bar where every indicator is defined (bar 19 for
  SMA(20)); we start it at the first bar of the range. It is compared with that start.
- Sizing: both engines trade a fixed whole number of shares (10), so the comparison is exact
  (backtesting.py's fractional sizing rounds down to whole units against its own margin estimate).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.backtester.engine import BacktestOutcome, BacktestSpec, run_backtest, view_over
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.trading import AccountConfig

backtesting = pytest.importorskip("backtesting")
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.test import EURUSD, GOOG  # noqa: E402

SMA_CROSS = """
// SMA(10)/SMA(20) crossover, always in the market: long after a cross up, short after a cross down.
fn run(ctx) {
    let fast = ctx.sma(ctx.params.get("fast", 10));
    let slow = ctx.sma(ctx.params.get("slow", 20));
    if fast == null || slow == null { return; }
    let pf = ctx.state.get("fast", null);
    let ps = ctx.state.get("slow", null);
    ctx.state.fast = fast;
    ctx.state.slow = slow;
    if pf == null { return; }
    let size = ctx.params.get("size", 10);
    let options = #{reason: "cross"};
    if ctx.params.get("stop_pct", 0) > 0 {
        let k = ctx.params.stop_pct / 100;
        let t = ctx.params.get("target_pct", 1000) / 100;
        if pf < ps && fast > slow {
            options = #{reason: "cross up", stop_loss: ctx.price * (1 - k), take_profit: ctx.price * (1 + t)};
        } else {
            options = #{reason: "cross down", stop_loss: ctx.price * (1 + k), take_profit: ctx.price * (1 - t)};
        }
    }
    if pf < ps && fast > slow {
        if ctx.position() != null { ctx.close(ctx.symbol, "cross up"); }
        ctx.buy(ctx.symbol, size, options);
    } else if ps < pf && slow > fast {
        if ctx.position() != null { ctx.close(ctx.symbol, "cross down"); }
        if ctx.params.get("long_only", false) { return; }
        ctx.sell(ctx.symbol, size, options);
    }
}
"""


def _sma(values: Any, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


def _crossed(a: Any, b: Any) -> bool:
    return bool(len(a) >= 2 and a[-2] < b[-2] and a[-1] > b[-1])


class ReferenceSmaCross(Strategy):
    """The same strategy for backtesting.py."""

    fast = 10
    slow = 20
    size = 10
    stop_pct = 0.0
    target_pct = 1000.0
    long_only = False

    def init(self) -> None:
        self.sma_fast = self.I(_sma, self.data.Close, self.fast)
        self.sma_slow = self.I(_sma, self.data.Close, self.slow)

    def next(self) -> None:
        price = self.data.Close[-1]
        k, t = self.stop_pct / 100, self.target_pct / 100
        if _crossed(self.sma_fast, self.sma_slow):
            self.position.close()
            if self.stop_pct:
                self.buy(size=self.size, sl=price * (1 - k), tp=price * (1 + t))
            else:
                self.buy(size=self.size)
        elif _crossed(self.sma_slow, self.sma_fast):
            self.position.close()
            if self.long_only:
                return
            if self.stop_pct:
                self.sell(size=self.size, sl=price * (1 + k), tp=price * (1 - t))
            else:
                self.sell(size=self.size)


def golden_frame(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """`frame` plus one flat closing bar `step` after its last (see the module docstring)."""
    df = frame[["Open", "High", "Low", "Close", "Volume"]].astype(float)
    close = float(df["Close"].iloc[-1])
    df.loc[df.index[-1] + step] = [close, close, close, close, 0.0]
    return df


def candles_of(df: pd.DataFrame) -> CandleArrays:
    return CandleArrays(
        time=df.index.values.astype("datetime64[ms]").astype(np.int64),
        open=df["Open"].to_numpy(float), high=df["High"].to_numpy(float), low=df["Low"].to_numpy(float),
        close=df["Close"].to_numpy(float), volume=df["Volume"].to_numpy(float),
    )  # fmt: skip


def run_ours(df: pd.DataFrame, params: dict[str, Any], *, cash: float = 10_000, fee: float = 0.002,
             symbol: str = "GOOG", timeframe: str = "1d") -> BacktestOutcome:
    compiled = compile_program(SMA_CROSS)
    assert compiled.ok, compiled.diagnostics
    view = view_over(candles_of(df), symbol, timeframe)
    spec = BacktestSpec(account=AccountConfig(initial_capital=cash, fee_rate=fee), params=params)
    return run_backtest(compiled.program, view, spec)


def run_reference(df: pd.DataFrame, params: dict[str, Any], *, cash: float = 10_000, fee: float = 0.002) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(df, ReferenceSmaCross, cash=cash, commission=fee, finalize_trades=True)
        return bt.run(**params)


def _close(ours: float | None, theirs: float, what: str) -> None:
    if theirs is None or (isinstance(theirs, float) and not math.isfinite(theirs)):
        assert ours is None, f"{what}: ours {ours}, backtesting.py {theirs}"
        return
    assert ours is not None, f"{what}: ours None, backtesting.py {theirs}"
    assert math.isclose(ours, float(theirs), rel_tol=1e-6, abs_tol=1e-9), f"{what}: ours {ours}, backtesting.py {theirs}"


def assert_same(ours: BacktestOutcome, ref: pd.Series) -> None:
    """Same trades (entry/exit time and price, size, side, PnL, return) and the same statistics to 1e-6."""
    trades = ref["_trades"]
    assert len(ours.trades) == len(trades), (len(ours.trades), len(trades))
    for mine, theirs in zip(ours.trades, trades.itertuples(index=False), strict=True):
        assert mine.entry_time == pd.Timestamp(theirs.EntryTime).value // 1_000_000
        assert mine.exit_time == pd.Timestamp(theirs.ExitTime).value // 1_000_000
        assert mine.side == ("long" if theirs.Size > 0 else "short")
        assert mine.size == abs(theirs.Size)
        assert math.isclose(mine.entry_price, theirs.EntryPrice, rel_tol=1e-12)
        assert math.isclose(mine.exit_price, theirs.ExitPrice, rel_tol=1e-12)
        assert math.isclose(mine.pnl, theirs.PnL, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(mine.return_pct / 100, theirs.ReturnPct, rel_tol=1e-9, abs_tol=1e-12)
    m = ours.metrics
    assert m["total_trades"] == ref["# Trades"]
    _close(m["final_equity"], ref["Equity Final [$]"], "final equity")
    _close(m["return_pct"], ref["Return [%]"], "return")
    _close(m["equity_peak"], ref["Equity Peak [$]"], "equity peak")
    _close(m["fees_paid"], ref.get("Commissions [$]", 0.0), "commissions")
    _close(m["exposure_pct"], ref["Exposure Time [%]"], "exposure")
    _close(m["max_drawdown"], ref["Max. Drawdown [%]"], "max drawdown")
    duration = ref["Max. Drawdown Duration"]
    _close(m["max_drawdown_duration"], duration / pd.Timedelta(days=1) if not pd.isna(duration) else math.nan, "max dd duration")
    _close(m["annual_return_pct"], ref["Return (Ann.) [%]"], "annual return")
    _close(m["annual_volatility_pct"], ref["Volatility (Ann.) [%]"], "annual volatility")
    _close(m["sharpe"], ref["Sharpe Ratio"], "sharpe")
    _close(m["sortino"], ref["Sortino Ratio"], "sortino")
    _close(m["calmar"], ref["Calmar Ratio"], "calmar")
    _close(m["win_rate"], ref["Win Rate [%]"] / 100, "win rate")
    _close(m["best_trade_pct"], ref["Best Trade [%]"], "best trade")
    _close(m["worst_trade_pct"], ref["Worst Trade [%]"], "worst trade")
    _close(m["avg_trade_pct"], ref["Avg. Trade [%]"], "avg trade")
    _close(m["profit_factor"], ref["Profit Factor"], "profit factor")
    _close(m["expectancy_pct"], ref["Expectancy [%]"], "expectancy")


DAY, HOUR = pd.Timedelta(days=1), pd.Timedelta(hours=1)
CASES: dict[str, tuple[pd.DataFrame, pd.Timedelta, str, dict[str, Any]]] = {
    # The case: GOOG daily, SMA(10)/SMA(20), always long or short, 10 shares.
    "goog_sma10_20_long_short": (GOOG, DAY, "1d", {}),
    # Long only with other lengths: flat stretches between trades (exposure below 100 %).
    "goog_sma5_30_long_only": (GOOG, DAY, "1d", {"fast": 5, "slow": 30, "long_only": True}),
    # Stop-loss 3 % and take-profit 6 % on every entry, long and short: exits by level, gaps included.
    "goog_stop3_target6": (GOOG, DAY, "1d", {"stop_pct": 3.0, "target_pct": 6.0}),
    # Hourly EUR/USD (weekdays only; several bars a day, so the daily resampling matters), 1,000 units.
    "eurusd_hourly_sma10_20": (EURUSD, HOUR, "1h", {"size": 1000}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_trades_and_statistics_as_backtesting_py(name: str) -> None:
    frame, step, timeframe, params = CASES[name]
    df = golden_frame(frame, step)
    ours = run_ours(df, params, timeframe=timeframe)
    assert not ours.rejections and ours.unfilled_orders == 0
    ref = run_reference(df, params)
    assert_same(ours, ref)


def test_buy_and_hold_starts_at_the_first_bar_where_backtesting_py_starts_after_warm_up() -> None:
    df = golden_frame(GOOG, DAY)
    ours = run_ours(df, {})
    ref = run_reference(df, {})
    closes = df["Close"].to_numpy()
    assert math.isclose(ours.metrics["buy_hold_return_pct"], (closes[-1] / closes[0] - 1) * 100, rel_tol=1e-12)
    assert math.isclose(ref["Buy & Hold Return [%]"], (closes[-1] / closes[19] - 1) * 100, rel_tol=1e-12)


def test_stop_and_target_case_really_exits_by_level() -> None:
    ours = run_ours(golden_frame(GOOG, DAY), {"stop_pct": 3.0, "target_pct": 6.0})
    reasons = {t.exit_reason for t in ours.trades}
    assert {"stop_loss", "take_profit", "signal"} <= reasons
