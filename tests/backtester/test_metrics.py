"""Backtest metrics alone: small curves and trades whose statistics are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.backtester.metrics import (
    DAY_MS,
    METRIC_NAMES,
    compute_metrics,
    daily_returns,
    exposure_share,
    geometric_mean,
    max_drawdown_duration_ms,
    periods_per_year,
)
from shared.trading import ClosedTrade

MONDAY = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday


def trade(entry: int, exit_: int, pnl: float, return_pct: float) -> ClosedTrade:
    return ClosedTrade(symbol="BTC", side="long", size=1.0, entry_time=entry, exit_time=exit_, entry_price=100.0,
                       exit_price=100.0 + pnl, pnl=pnl, return_pct=return_pct, fees=0.0, exit_reason="signal")  # fmt: skip


def days(n: int, start: int = MONDAY) -> np.ndarray:
    return start + DAY_MS * np.arange(n, dtype=np.int64)


def metrics(equity: list[float], trades: list[ClosedTrade] | None = None, times: np.ndarray | None = None) -> dict:
    times = days(len(equity)) if times is None else times
    return compute_metrics(trades=trades or [], times=times, equity=np.array(equity), closes=np.array(equity),
                           initial_capital=equity[0], fees_paid=1.5, funding_paid=0.0)  # fmt: skip


def test_every_headline_metric_is_there() -> None:
    out = metrics([100.0, 110.0, 99.0, 120.0])
    assert set(METRIC_NAMES) <= set(out)


def test_drawdown_is_the_worst_fall_from_a_peak_in_percent_negative() -> None:
    out = metrics([100.0, 120.0, 90.0, 100.0, 130.0, 117.0])
    assert out["max_drawdown"] == pytest.approx(-25.0)  # 120 → 90
    # peaks at days 0, 1, 4 and the end (5) counts as one: longest span between them is 1 → 4 = 3 days
    assert out["max_drawdown_duration"] == 3.0


def test_drawdown_duration_runs_to_the_end_when_the_curve_never_recovers() -> None:
    dd = np.array([0.0, 0.0, 0.1, 0.2, 0.1])
    assert max_drawdown_duration_ms(days(5), dd) == 3 * DAY_MS
    assert max_drawdown_duration_ms(days(3), np.zeros(3)) is None


def test_returns_and_totals() -> None:
    out = metrics([1000.0, 1100.0, 1250.0])
    assert out["return_pct"] == pytest.approx(25.0) and out["total_pnl"] == pytest.approx(250.0)
    assert out["final_equity"] == 1250.0 and out["fees_paid"] == 1.5 and out["buy_hold_return_pct"] == pytest.approx(25.0)


def test_trade_statistics() -> None:
    trades = [trade(0, 1, 10.0, 10.0), trade(1, 2, -5.0, -5.0), trade(2, 3, 20.0, 20.0), trade(3, 4, 0.0, 0.0)]
    out = metrics([100.0] * 5, trades)
    assert out["total_trades"] == 4 and out["win_rate"] == 0.5  # pnl > 0 wins; a zero trade is not a win
    assert out["best_trade_pct"] == pytest.approx(20.0) and out["worst_trade_pct"] == pytest.approx(-5.0)
    assert out["profit_factor"] == pytest.approx(0.30 / 0.05)  # sums of returns, as backtesting.py
    assert out["avg_trade_pct"] == pytest.approx(((1.1 * 0.95 * 1.2 * 1.0) ** 0.25 - 1) * 100)


def test_no_trades_and_a_flat_curve_give_nulls_not_nan() -> None:
    out = metrics([100.0] * 10)
    for name in ("win_rate", "profit_factor", "avg_trade_pct", "best_trade_pct", "worst_trade_pct", "sharpe", "sortino", "calmar"):
        assert out[name] is None, name
    assert out["total_trades"] == 0 and out["max_drawdown"] == 0.0 and out["max_drawdown_duration"] is None


def test_exposure_counts_bars_from_the_entry_bar_to_the_exit_bar() -> None:
    t = days(10)
    out = metrics([100.0] * 10, [trade(int(t[2]), int(t[4]), 1.0, 1.0), trade(int(t[4]), int(t[5]), 1.0, 1.0)], t)
    assert out["exposure_pct"] == pytest.approx(40.0)  # bars 2, 3, 4, 5


def test_exposure_of_many_overlapping_trades_is_the_share_of_bars_any_of_them_held() -> None:
    rng = np.random.default_rng(5)
    t = days(300)
    trades = []
    for _ in range(80):  # overlapping, sharing entry and exit bars, some between bar times
        a, b = sorted(rng.integers(0, 300, 2))
        trades.append(trade(int(t[a]) + int(rng.integers(0, 2)) * 1000, int(t[b]), 1.0, 1.0))
    held = np.zeros(300, dtype=bool)
    for tr in trades:  # by hand: every bar from the first at/after the entry to the last at/before the exit
        held[(t >= tr.entry_time) & (t <= tr.exit_time)] = True
    expected = 100.0 * held.mean()
    assert exposure_share(t, trades) * 100.0 == pytest.approx(expected)
    assert exposure_share(t, []) == 0.0 and exposure_share(t[:0], trades) == 0.0


def test_daily_returns_take_the_last_bar_of_each_day() -> None:
    hours = MONDAY + 3_600_000 * np.arange(48, dtype=np.int64)
    equity = np.linspace(100.0, 147.0, 48)
    r = daily_returns(hours, equity)
    assert r.tolist() == pytest.approx([0.0, equity[47] / equity[23] - 1])


def test_weekends_decide_the_year_length() -> None:
    assert periods_per_year(days(28)) == 365  # every day: crypto
    weekdays = np.array([d for d in days(28) if ((d // DAY_MS) + 3) % 7 < 5])
    assert periods_per_year(weekdays) == 252


def test_annualised_ratios_follow_the_documented_formulas() -> None:
    equity = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0, 104.0]  # daily, every day → A = 365
    out = metrics(equity)
    r = np.r_[0.0, np.array(equity[1:]) / np.array(equity[:-1]) - 1]
    g = math.exp(np.log1p(r[1:]).mean()) - 1  # over the N - 1 real daily returns
    annual = (1 + g) ** 365 - 1
    vol = math.sqrt((np.var(r[1:], ddof=1) + (1 + g) ** 2) ** 365 - (1 + g) ** 730)
    downside = math.sqrt(np.mean(np.minimum(r[1:], 0) ** 2)) * math.sqrt(365)
    dd = max(1 - e / p for e, p in zip(equity, np.maximum.accumulate(equity), strict=True))
    assert out["annual_return_pct"] == pytest.approx(annual * 100, rel=1e-12)
    assert out["sharpe"] == pytest.approx(annual / vol, rel=1e-12)
    assert out["sortino"] == pytest.approx(annual / downside, rel=1e-12)
    assert out["calmar"] == pytest.approx(annual / dd, rel=1e-12)


def test_geometric_mean_of_a_total_loss_is_zero() -> None:
    assert geometric_mean(np.array([0.1, -1.0])) == 0.0
    assert geometric_mean(np.array([0.1, 0.21])) == pytest.approx(math.sqrt(1.1 * 1.21) - 1)
