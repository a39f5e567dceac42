"""Technical indicators as pure functions from numpy arrays to numpy arrays (whole series at once).

Every output has the input's length; bars without enough history (the warm-up) are NaN, which the
registry shows as `None`. They are computed once per series and then only indexed, which is what
makes a backtest cost O(1) per bar.

Definitions, and where they differ from the PyPI package `ta` (the independent implementation the
tests compare against on the bundled real candles, to 1e-9 relative where the definitions agree):

- `sma(n)`: mean of the last n closes. Same as `ta`. First value at bar n-1.
- `ema(n)`: alpha = 2/(n+1), SEEDED WITH THE SMA of the first n values (TA-Lib and TradingView do this).
  `ta` seeds with the first close (`ewm(adjust=False)`), so early values differ; the difference decays
  by (1-alpha) per bar, and after that both agree to 1e-9. Chosen because the seed is then an
  average, not one arbitrary bar, and users compare with TradingView. First value at bar n-1.
- `rsi(n)`: Wilder's RSI: average gain/loss by Wilder smoothing (alpha = 1/n) seeded with the plain
  mean of the first n changes, as Wilder and TradingView do; first value at bar n. `ta` seeds its
  smoothing with a change of 0 at bar 0 and shows a value from bar n-1; after the seed decays both
  agree. When the average loss is 0 the RSI is 100 (same as `ta`), except a perfectly flat window
  (no gains and no losses) gives 50 rather than `ta`'s 100, so a frozen market does not read as
  "overbought".
- `macd(fast, slow, signal)`: value = ema(fast) - ema(slow); signal = ema(signal) of the value (seeded
  with the SMA of its first `signal` values); histogram = value - signal. Same warm-up as `ta`
  (value from bar slow-1, signal from bar slow+signal-2); values agree once the EMA seeds decay.
- `bbands(n, k)`: middle = sma(n), upper/lower = middle ± k · population standard deviation (ddof=0,
  as `ta` and TradingView). Same as `ta`.
- `atr(n)`: Wilder-smoothed true range; true range of the first bar is high - low; seeded with the
  mean of the first n true ranges at bar n-1. Same as `ta` (which shows 0 instead of NaN in the warm-up).
- `stoch(n, d)`: %K = 100 · (close - lowest low) / (highest high - lowest low) over n bars (the
  "fast" %K, no extra smoothing), %D = sma(d) of %K. Same as `ta`, except that a window whose high
  equals its low gives %K = 50 where `ta` divides by zero.
- `vwap()`: SESSION VWAP of the typical price (high+low+close)/3, reset at 00:00 UTC each day (the
  crypto "session", TradingView's default anchor). NaN until the first full session starts (a
  series that begins mid-day cannot know that day's VWAP), and while the session has no volume.
  `vwap(n)` is the rolling n-bar VWAP, which is exactly `ta`'s definition (`ta` has no session VWAP).
- `obv()`: starts at 0 on the first bar and adds +volume / -volume / 0 when the close rises / falls /
  stays. `ta` starts at +volume on the first bar and counts an unchanged close as a rise. OBV is a
  running sum, so its level depends on where the series starts; only its changes carry meaning.
- `volume_spike(n, k)`: volume > k × mean volume of the PREVIOUS n bars (the bar itself is left out of
  its own baseline, so a spike cannot dampen itself). 1.0 / 0.0, NaN for the first n bars.
- `change(n)`: percent change of the close over n bars, 100 · (c[i] - c[i-n]) / c[i-n]. Same as `ta`'s ROC.
"""

from __future__ import annotations

import numpy as np

from shared.market.numeric import (
    first_valid,
    linear_recurrence,
    rolling_max,
    rolling_mean,
    rolling_mean_std,
    rolling_min,
)
from shared.market.timeframes import DAY_MS


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def sma(close: np.ndarray, period: int) -> np.ndarray:
    return rolling_mean(close, period)


def _smoothed(x: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """Exponential smoothing seeded with the SMA of the first `period` valid values (leading NaNs skipped)."""
    x = np.asarray(x, dtype=np.float64)
    out = _nan(x.size)
    start = first_valid(x)
    seed_at = start + period - 1
    if seed_at >= x.size:
        return out
    seed = float(np.mean(x[start : seed_at + 1]))
    out[seed_at] = seed
    out[seed_at + 1 :] = linear_recurrence(alpha * x[seed_at + 1 :], 1.0 - alpha, seed)
    return out


def ema(close: np.ndarray, period: int) -> np.ndarray:
    if period == 1:
        return np.asarray(close, dtype=np.float64).copy()
    return _smoothed(close, period, 2.0 / (period + 1))


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothing (RMA): alpha = 1/period, seeded with the SMA of the first `period` values."""
    if period == 1:
        return np.asarray(x, dtype=np.float64).copy()
    return _smoothed(x, period, 1.0 / period)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    close = np.asarray(close, dtype=np.float64)
    out = _nan(close.size)
    if close.size <= period:
        return out
    delta = np.diff(close)
    gain = wilder(np.maximum(delta, 0.0), period)
    loss = wilder(np.maximum(-delta, 0.0), period)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, 100.0 * gain / np.where(total > 0, total, 1.0), 50.0)
    value[np.isnan(gain)] = np.nan
    out[1:] = value
    return out


def macd(close: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    value = ema(close, fast) - ema(close, slow)
    line = ema(value, signal)
    return value, line, value - line


def bbands(close: np.ndarray, period: int, mult: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    middle, std = rolling_mean_std(close, period)
    return middle + mult * std, middle, middle - mult * std


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    tr = high - low
    if tr.size > 1:
        prev = np.asarray(close, dtype=np.float64)[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    return wilder(true_range(high, low, close), period)


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    highest = rolling_max(high, period)
    lowest = rolling_min(low, period)
    span = highest - lowest
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(span > 0, 100.0 * (np.asarray(close) - lowest) / np.where(span > 0, span, 1.0), 50.0)
    k[np.isnan(span)] = np.nan
    d = _nan(k.size)
    start = first_valid(k)
    if start < k.size:
        d[start:] = rolling_mean(k[start:], smooth)
    return k, d


def typical_price(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    return (np.asarray(high, dtype=np.float64) + low + close) / 3.0


def vwap_session(time: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                 session_ms: int = DAY_MS) -> np.ndarray:
    """VWAP reset at each UTC session start; NaN before the first complete session begins."""
    time = np.asarray(time, dtype=np.int64)
    n = time.size
    out = _nan(n)
    if n == 0:
        return out
    pv = typical_price(high, low, close) * volume
    volume = np.asarray(volume, dtype=np.float64)
    session = time // session_ms
    starts = np.flatnonzero(np.concatenate([[True], session[1:] != session[:-1]]))
    # Sums restart at every session start: cumulative sums minus the total before the session.
    cum_pv = np.cumsum(pv)
    cum_v = np.cumsum(volume)
    lengths = np.diff(np.concatenate([starts, [n]]))
    before_pv = np.repeat(np.concatenate([[0.0], cum_pv[starts[1:] - 1]]), lengths)
    before_v = np.repeat(np.concatenate([[0.0], cum_v[starts[1:] - 1]]), lengths)
    session_pv = cum_pv - before_pv
    session_v = cum_v - before_v
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(session_v > 0, session_pv / np.where(session_v > 0, session_v, 1.0), np.nan)
    if time[0] % session_ms != 0:  # the first session started before the data: unknown VWAP
        out[: lengths[0]] = np.nan
    return out


def vwap_rolling(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, period: int) -> np.ndarray:
    pv = rolling_mean(typical_price(high, low, close) * volume, period)
    v = rolling_mean(volume, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, pv / np.where(v > 0, v, 1.0), np.nan)


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    close = np.asarray(close, dtype=np.float64)
    out = np.zeros(close.size)
    if close.size > 1:
        out[1:] = np.cumsum(np.sign(np.diff(close)) * np.asarray(volume, dtype=np.float64)[1:])
    return out


def volume_spike(volume: np.ndarray, period: int, mult: float) -> np.ndarray:
    volume = np.asarray(volume, dtype=np.float64)
    out = _nan(volume.size)
    if volume.size <= period:
        return out
    baseline = rolling_mean(volume, period)[period - 1 : -1]  # mean of the previous `period` bars
    out[period:] = (volume[period:] > mult * baseline).astype(np.float64)
    return out


def change(close: np.ndarray, period: int) -> np.ndarray:
    close = np.asarray(close, dtype=np.float64)
    out = _nan(close.size)
    if close.size > period:
        before = close[:-period]
        out[period:] = (close[period:] - before) / before * 100.0
    return out
