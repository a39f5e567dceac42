"""Backtest statistics: a pure function of the closed trades and the equity curve.

Kept apart from the engine (and tested alone) so a number in a result can be checked by hand from
the trades and the curve. Where backtesting.py has the same statistic we use its definition (the golden
tests compare them to 1e-6); the dev guide (`services/executor/guide/backtests.md`) states each one.

Annualisation: the equity curve is sampled at the last bar of every UTC calendar day (every timeframe
we have is at most one day), giving daily returns r₁…r_N₋₁ over N days. A = 365 periods a year when
the data trades at weekends (more than 60 % of the weekend share a 7-day week would have: crypto), else
252 (exchange-traded stocks such as GOOG). With g the geometric mean of the N − 1 daily returns (the
first day has no return; backtesting.py ≥ 0.6.6 defines it the same way, 0.6.5 counted the first day as 0):
    annual return = (1 + g)^A − 1
    annual volatility = sqrt((var(r) + (1 + g)²)^A − (1 + g)^(2A))     (sample variance, ddof 1)
    sharpe = annual return / annual volatility                           (risk-free rate 0)
    sortino = annual return / (sqrt(mean(min(r, 0)²)) × sqrt(A))
    calmar = annual return / |max drawdown|
A statistic that is undefined (no trades, a flat curve, no losing day) is None (JSON null), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.trading import ClosedTrade

DAY_MS = 86_400_000

METRIC_NAMES: tuple[str, ...] = (
    "total_trades", "win_rate", "total_pnl", "max_drawdown", "return_pct", "final_equity", "fees_paid",
    "funding_paid", "exposure_pct", "sharpe", "sortino", "calmar", "profit_factor", "avg_trade_pct",
    "best_trade_pct", "worst_trade_pct", "max_drawdown_duration", "buy_hold_return_pct",
)  # fmt: skip
"""The headline metrics, in the order the API lists them. `compute_metrics` also returns a few more."""


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def geometric_mean(returns: np.ndarray) -> float:
    """exp(mean(log(1 + r))) − 1, or 0 when some 1 + r ≤ 0 (a loss of 100 % or more)."""
    if not len(returns):
        return math.nan
    growth = 1.0 + returns
    if np.any(growth <= 0):
        return 0.0
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1.0)


def periods_per_year(times: np.ndarray) -> int:
    """365 when the bars trade at weekends (crypto), else 252."""
    if not len(times):
        return 365
    weekday = ((times // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend_share = float(np.mean(weekday >= 5))
    return 365 if weekend_share > 2 / 7 * 0.6 else 252


def daily_returns(times: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Equity at the last bar of each UTC day → returns day over day (index 0, the first day, is a
    placeholder 0: it has no previous day; callers use `[1:]`)."""
    if not len(times):
        return np.zeros(0)
    day = times // DAY_MS
    last_of_day = np.flatnonzero(np.r_[day[1:] != day[:-1], True])
    closes = equity[last_of_day]
    out = np.zeros(len(closes))
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = closes[1:] / closes[:-1] - 1.0
    return out


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fraction below the running peak at each point (0 at a new high)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - equity / peak


def max_drawdown_duration_ms(times: np.ndarray, dd: np.ndarray) -> int | None:
    """Longest time from a peak to the next peak (or to the end when the curve never recovered)."""
    if len(times) < 2:
        return None
    at_peak = np.unique(np.r_[np.flatnonzero(dd == 0), len(dd) - 1])
    if len(at_peak) < 2:
        return None
    gaps = np.diff(at_peak) > 1
    if not np.any(gaps):
        return None
    spans = times[at_peak[1:][gaps]] - times[at_peak[:-1][gaps]]
    return int(spans.max())


def exposure_share(times: np.ndarray, trades: Sequence[ClosedTrade]) -> float:
    """Share of bars on which a position was open at some point: every bar from the one whose open
    filled the entry to the one whose open (or range) filled the exit, both included."""
    if not len(times):
        return 0.0
    count = len(trades)
    entries = np.fromiter((trade.entry_time for trade in trades), dtype=np.int64, count=count)
    exits = np.fromiter((trade.exit_time for trade in trades), dtype=np.int64, count=count)
    size = len(times) + 1  # counts, not assignments: several trades may open or close on one bar
    held = np.bincount(np.searchsorted(times, entries, side="left"), minlength=size) - np.bincount(
        np.searchsorted(times, exits, side="right"), minlength=size
    )
    return float(np.mean(np.cumsum(held[:-1]) > 0))


def compute_metrics(
    *,
    trades: Sequence[ClosedTrade],
    times: np.ndarray,
    equity: np.ndarray,
    closes: np.ndarray,
    initial_capital: float,
    fees_paid: float,
    funding_paid: float,
) -> dict[str, Any]:
    """Every statistic of one backtest. `times` are the bars' open times (epoch ms), `equity` the
    equity at each bar's close (after the end-of-test close on the last bar), `closes` the bars' closes."""
    times = np.asarray(times, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    closes = np.asarray(closes, dtype=np.float64)
    final_equity = float(equity[-1]) if len(equity) else float(initial_capital)
    returns = np.array([t.return_pct for t in trades], dtype=np.float64) / 100.0
    pnls = np.array([t.pnl for t in trades], dtype=np.float64)
    n_trades = len(trades)

    dd = drawdown(equity) if len(equity) else np.zeros(0)
    max_dd = float(np.nanmax(dd)) if len(dd) else 0.0
    duration_ms = max_drawdown_duration_ms(times, dd)

    year = periods_per_year(times)
    day_returns = daily_returns(times, equity)
    valid = day_returns[1:]  # the first day has no return
    g = geometric_mean(valid) if len(valid) else 0.0
    annual_return = (1.0 + g) ** year - 1.0
    volatility = math.nan
    sortino = math.nan
    if len(valid) >= 2:
        variance = float(np.var(valid, ddof=1))
        volatility = math.sqrt(max((variance + (1.0 + g) ** 2) ** year - (1.0 + g) ** (2 * year), 0.0))
    if len(valid) >= 1:
        downside = math.sqrt(float(np.mean(np.minimum(valid, 0.0) ** 2))) * math.sqrt(year)
        sortino = annual_return / downside if downside > 0 else math.nan
    sharpe = annual_return / volatility if volatility and math.isfinite(volatility) else math.nan
    calmar = annual_return / max_dd if max_dd > 0 else math.nan

    wins = returns[returns > 0].sum()
    losses = abs(returns[returns < 0].sum())
    buy_hold = (closes[-1] - closes[0]) / closes[0] * 100.0 if len(closes) and closes[0] else math.nan

    metrics: dict[str, Any] = {
        "total_trades": n_trades,
        "win_rate": _clean(float(np.mean(pnls > 0))) if n_trades else None,
        "total_pnl": final_equity - initial_capital,
        "max_drawdown": -max_dd * 100.0,
        "return_pct": (final_equity - initial_capital) / initial_capital * 100.0,
        "final_equity": final_equity,
        "fees_paid": float(fees_paid),
        "funding_paid": float(funding_paid),
        "exposure_pct": exposure_share(times, trades) * 100.0,
        "sharpe": _clean(sharpe),
        "sortino": _clean(sortino),
        "calmar": _clean(calmar),
        "profit_factor": _clean(wins / losses) if losses > 0 else None,
        "avg_trade_pct": _clean(geometric_mean(returns) * 100.0) if n_trades else None,
        "best_trade_pct": _clean(float(returns.max()) * 100.0) if n_trades else None,
        "worst_trade_pct": _clean(float(returns.min()) * 100.0) if n_trades else None,
        "max_drawdown_duration": duration_ms / DAY_MS if duration_ms is not None else None,
        "buy_hold_return_pct": _clean(buy_hold),
        # further statistics (in `metrics`, not columns of the record)
        "max_drawdown_duration_ms": duration_ms,
        "annual_return_pct": _clean(annual_return * 100.0),
        "annual_volatility_pct": _clean(volatility * 100.0),
        "periods_per_year": year,
        "equity_peak": float(equity.max()) if len(equity) else float(initial_capital),
        "expectancy_pct": _clean(float(returns.mean()) * 100.0) if n_trades else None,
        "winning_trades": int(np.sum(pnls > 0)),
        "losing_trades": int(np.sum(pnls < 0)),
    }
    return metrics
