"""Our indicators against the PyPI package `ta` (independent implementation), on the bundled real candles.

Tolerance: 1e-9 relative. Values that are legitimately near zero (MACD lines, oscillators at 0) are
compared with an absolute floor of 1e-9 × the indicator's natural scale (the price for MACD, 100 for
0..100 oscillators), since a relative error of a number close to zero measures nothing.

Where the definitions differ (see `shared/market/indicators.py`), the comparison starts after the
difference has decayed below the tolerance, or compares only what is defined the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import ta

from shared.market import CandleArrays
from shared.market import indicators as ind

RTOL = 1e-9
SYMBOLS = ["BTC", "ETH", "EOS", "LTC", "XRP"]
# Bars after which an exponential seed difference is below 1e-12 of its size: (1 - alpha)^k < 1e-12.
EMA_SETTLED = 600
WILDER_SETTLED = 600


def series(c: CandleArrays) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    return pd.Series(c.high), pd.Series(c.low), pd.Series(c.close), pd.Series(c.volume)


def assert_agree(ours: np.ndarray, theirs: pd.Series | np.ndarray, *, scale: float, start: int = 0) -> None:
    a = np.asarray(ours, dtype=float)[start:]
    b = np.asarray(theirs, dtype=float)[start:]
    assert np.array_equal(np.isnan(a), np.isnan(b)), "warm-up (NaN) positions differ"
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale, equal_nan=True)


# (name, ours(candles) -> arrays, theirs(h, lo, c, v) -> series, scale(candles), first bar compared)
Case = tuple[str, Callable[[CandleArrays], np.ndarray], Callable[..., pd.Series], Callable[[CandleArrays], float], int]
CASES: list[Case] = [
    ("sma(20)", lambda c: ind.sma(c.close, 20), lambda h, lo, c, v: ta.trend.sma_indicator(c, 20), lambda c: 0.0, 0),
    ("sma(200)", lambda c: ind.sma(c.close, 200), lambda h, lo, c, v: ta.trend.sma_indicator(c, 200), lambda c: 0.0, 0),
    # EMA: SMA seed (ours) vs first-value seed (ta): compared once the seed has decayed
    ("ema(20)", lambda c: ind.ema(c.close, 20), lambda h, lo, c, v: ta.trend.ema_indicator(c, 20), lambda c: 0.0, EMA_SETTLED),
    ("ema(50)", lambda c: ind.ema(c.close, 50), lambda h, lo, c, v: ta.trend.ema_indicator(c, 50), lambda c: 0.0, 1500),
    # RSI: Wilder's SMA seed (ours) vs a zero first change (ta): compared once settled
    ("rsi(14)", lambda c: ind.rsi(c.close, 14), lambda h, lo, c, v: ta.momentum.rsi(c, 14), lambda c: 100.0, WILDER_SETTLED),
    ("rsi(7)", lambda c: ind.rsi(c.close, 7), lambda h, lo, c, v: ta.momentum.rsi(c, 7), lambda c: 100.0, WILDER_SETTLED),
    ("macd.value", lambda c: ind.macd(c.close, 12, 26, 9)[0], lambda h, lo, c, v: ta.trend.MACD(c, 26, 12, 9).macd(),
     lambda c: float(np.median(c.close)), EMA_SETTLED),
    ("macd.signal", lambda c: ind.macd(c.close, 12, 26, 9)[1], lambda h, lo, c, v: ta.trend.MACD(c, 26, 12, 9).macd_signal(),
     lambda c: float(np.median(c.close)), EMA_SETTLED),
    ("macd.histogram", lambda c: ind.macd(c.close, 12, 26, 9)[2], lambda h, lo, c, v: ta.trend.MACD(c, 26, 12, 9).macd_diff(),
     lambda c: float(np.median(c.close)), EMA_SETTLED),
    ("bbands.upper", lambda c: ind.bbands(c.close, 20, 2.0)[0],
     lambda h, lo, c, v: ta.volatility.BollingerBands(c, 20, 2).bollinger_hband(), lambda c: 0.0, 0),
    ("bbands.middle", lambda c: ind.bbands(c.close, 20, 2.0)[1],
     lambda h, lo, c, v: ta.volatility.BollingerBands(c, 20, 2).bollinger_mavg(), lambda c: 0.0, 0),
    ("bbands.lower", lambda c: ind.bbands(c.close, 20, 2.0)[2],
     lambda h, lo, c, v: ta.volatility.BollingerBands(c, 20, 2).bollinger_lband(), lambda c: 0.0, 0),
    # ATR: same definition; ta shows 0 instead of NaN during the warm-up, so compare from bar n-1
    ("atr(14)", lambda c: ind.atr(c.high, c.low, c.close, 14),
     lambda h, lo, c, v: ta.volatility.average_true_range(h, lo, c, 14), lambda c: 0.0, 13),
    ("stoch.k", lambda c: ind.stoch(c.high, c.low, c.close, 14, 3)[0],
     lambda h, lo, c, v: ta.momentum.StochasticOscillator(h, lo, c, 14, 3).stoch(), lambda c: 100.0, 0),
    ("stoch.d", lambda c: ind.stoch(c.high, c.low, c.close, 14, 3)[1],
     lambda h, lo, c, v: ta.momentum.StochasticOscillator(h, lo, c, 14, 3).stoch_signal(), lambda c: 100.0, 0),
    ("vwap(14) rolling", lambda c: ind.vwap_rolling(c.high, c.low, c.close, c.volume, 14),
     lambda h, lo, c, v: ta.volume.volume_weighted_average_price(h, lo, c, v, 14), lambda c: 0.0, 0),
    ("change(10)", lambda c: ind.change(c.close, 10), lambda h, lo, c, v: ta.momentum.roc(c, 10), lambda c: 100.0, 0),
]


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_indicator_agrees_with_ta_on_real_candles(bundle: dict[str, CandleArrays], symbol: str, case: Case) -> None:
    _, ours, theirs, scale, start = case
    candles = bundle[symbol]
    assert_agree(ours(candles), theirs(*series(candles)), scale=scale(candles), start=start)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_obv_equals_ta_once_the_documented_differences_are_added_back(bundle: dict[str, CandleArrays], symbol: str) -> None:
    # ta starts at +volume[0] and adds +volume when the close is unchanged; we start at 0 and add nothing then.
    c = bundle[symbol]
    ours = ind.obv(c.close, c.volume)
    unchanged = np.concatenate([[0.0], np.where(np.diff(c.close) == 0, c.volume[1:], 0.0)])
    as_ta_defines_it = ours + c.volume[0] + np.cumsum(unchanged)
    theirs = ta.volume.on_balance_volume(pd.Series(c.close), pd.Series(c.volume)).to_numpy()
    # OBV is a running sum: rounding is relative to the largest running total, not to each value
    np.testing.assert_allclose(as_ta_defines_it, theirs, rtol=RTOL, atol=RTOL * np.abs(theirs).max())


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_warm_up_lengths_match_ta_where_the_definitions_agree(bundle: dict[str, CandleArrays], symbol: str) -> None:
    c = bundle[symbol]
    h, lo, cl, v = series(c)
    first = lambda x: int(np.flatnonzero(~np.isnan(np.asarray(x, dtype=float)))[0])  # noqa: E731
    assert first(ind.ema(c.close, 20)) == first(ta.trend.ema_indicator(cl, 20)) == 19
    assert first(ind.macd(c.close, 12, 26, 9)[1]) == first(ta.trend.MACD(cl, 26, 12, 9).macd_signal()) == 33
    assert first(ind.rsi(c.close, 14)) == 14  # Wilder: 14 changes need 15 closes; ta shows bar 13 already
    assert first(ta.momentum.rsi(cl, 14)) == 13
