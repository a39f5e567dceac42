"""Indicator behaviour beyond the `ta` cross-check: kernels, warm-ups, edge cases, no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shared.market import INDICATORS, CandleArrays
from shared.market import indicators as ind
from shared.market.numeric import linear_recurrence, rolling_max, rolling_mean, rolling_mean_std, rolling_min
from shared.market.registry import compute_series
from shared.market.simulator import Simulator
from shared.timefmt import parse_time

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 3000), elements=finite), st.floats(0.01, 0.9999), finite)
def test_linear_recurrence_matches_the_plain_loop(x: np.ndarray, beta: float, y0: float) -> None:
    expected = np.empty_like(x)
    y = y0
    for i, value in enumerate(x):
        y = beta * y + value
        expected[i] = y
    scale = np.abs(x).max() / (1 - beta) + abs(y0) + 1.0
    np.testing.assert_allclose(linear_recurrence(x, beta, y0), expected, rtol=1e-9, atol=1e-10 * scale)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 500), elements=st.floats(1, 1e5)), st.integers(1, 60))
def test_rolling_kernels_match_numpy_over_each_window(x: np.ndarray, window: int) -> None:
    # Windowed sums come from differences of (block-local) prefix sums, so their rounding error is
    # relative to the largest nearby value, not to each window; hypothesis feeds 1 next to 1e5.
    n = x.size
    scale = float(np.abs(x).max())
    mean, std = rolling_mean_std(x, window)
    maximum, minimum = rolling_max(x, window), rolling_min(x, window)
    assert np.isnan(mean[: window - 1]).all() and np.isnan(maximum[: window - 1]).all()
    for i in range(window - 1, n):
        w = x[i - window + 1 : i + 1]
        assert mean[i] == pytest.approx(w.mean(), rel=1e-12, abs=1e-12 * scale)
        assert std[i] == pytest.approx(w.std(), rel=1e-6, abs=1e-6 * scale)
        assert maximum[i] == w.max() and minimum[i] == w.min()
    np.testing.assert_array_equal(rolling_mean(x, window), mean)


def sim(symbol: str = "BTC", tf: str = "1h", days: int = 30) -> CandleArrays:
    start = parse_time("2026-03-01")
    return Simulator(7).candles(symbol, tf, start, start + days * 86_400_000)


# name, args, first bar with a value
WARM_UP = [
    ("sma", (20,), 19), ("ema", (20,), 19), ("rsi", (14,), 14), ("atr", (14,), 13), ("obv", (), 0),
    ("change", (5,), 5), ("volume_spike", (20, 2), 20), ("bbands", (20, 2), 19), ("stoch", (14, 3), 15),
    ("macd", (12, 26, 9), 33), ("vwap", (), 0), ("vwap", (10,), 9),
]


@pytest.mark.parametrize(("name", "args", "first"), WARM_UP, ids=[f"{n}{a}" for n, a, _ in WARM_UP])
def test_warm_up_bars_are_none_and_then_values_appear(name: str, args: tuple[float, ...], first: int) -> None:
    candles = sim()
    s = compute_series(candles, name, args)
    values = [s.value_at(i) for i in range(first + 3)]
    empty = (lambda v: v is None) if s.spec.kind == "number" else (lambda v: v is False)
    if s.spec.kind == "dict":  # each output has its own warm-up; all are present from `first` on
        assert all(any(x is None for x in v.values()) for v in values[:first])  # type: ignore[union-attr]
    else:
        assert all(empty(v) for v in values[:first])
    if s.spec.kind == "dict":
        assert all(x is not None for x in values[first].values())  # type: ignore[union-attr]
    elif s.spec.kind == "number":
        assert isinstance(values[first], float)


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_no_indicator_looks_ahead(name: str) -> None:
    """The value at bar k is the same whether or not later bars exist."""
    candles = sim(days=20)
    full = compute_series(candles, name, ())
    for k in (0, 5, 30, 100, 250, len(candles) - 2):
        prefix = compute_series(candles[: k + 1], name, ())
        assert same(prefix.value_at(k), full.value_at(k)), (name, k)


def same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return a == b


def test_flat_prices_give_neutral_rsi_and_stochastic() -> None:
    flat = np.full(50, 100.0)
    assert set(ind.rsi(flat, 14)[14:]) == {50.0}
    k, d = ind.stoch(flat, flat, flat, 14, 3)
    assert set(k[13:]) == {50.0} and set(d[15:]) == {50.0}


def test_rsi_is_100_when_prices_only_rise_and_0_when_they_only_fall() -> None:
    up = np.arange(1.0, 40.0)
    assert set(ind.rsi(up, 14)[14:]) == {100.0}
    assert set(ind.rsi(up[::-1].copy(), 14)[14:]) == {0.0}


def test_session_vwap_restarts_at_midnight_utc_and_is_unknown_for_a_partial_first_day() -> None:
    candles = sim(tf="1h", days=3)[5:]  # starts at 05:00: the first day is partial
    vwap = ind.vwap_session(candles.time, candles.high, candles.low, candles.close, candles.volume)
    day = candles.time // 86_400_000
    assert np.isnan(vwap[day == day[0]]).all()
    typical = (candles.high + candles.low + candles.close) / 3
    for d in np.unique(day)[1:]:
        rows = np.flatnonzero(day == d)
        expected = np.cumsum(typical[rows] * candles.volume[rows]) / np.cumsum(candles.volume[rows])
        np.testing.assert_allclose(vwap[rows], expected, rtol=1e-12)
        assert vwap[rows[0]] == pytest.approx(typical[rows[0]])  # first bar of a session: its own typical price


def test_volume_spike_compares_with_the_mean_of_the_previous_bars_only() -> None:
    volume = np.array([1.0] * 20 + [2.5, 1.0, 40.0, 1.0])
    spikes = ind.volume_spike(volume, 20, 2.0)
    assert np.isnan(spikes[:20]).all()
    expected = [volume[i] > 2.0 * volume[i - 20 : i].mean() for i in range(20, volume.size)]
    assert spikes[20:].astype(bool).tolist() == expected == [True, False, True, False]


def test_change_is_percent_over_n_bars() -> None:
    close = np.array([100.0, 110.0, 99.0, 121.0])
    np.testing.assert_allclose(ind.change(close, 1)[1:], [10.0, -10.0, 100 * (121 / 99 - 1)])
    np.testing.assert_allclose(ind.change(close, 3)[3:], [21.0])


def test_obv_adds_volume_on_up_closes_subtracts_on_down_and_ignores_unchanged() -> None:
    close = np.array([10.0, 11.0, 11.0, 9.0, 12.0])
    volume = np.array([5.0, 1.0, 2.0, 3.0, 4.0])
    assert ind.obv(close, volume).tolist() == [0.0, 1.0, 1.0, -2.0, 2.0]


def test_indicators_handle_series_shorter_than_their_period() -> None:
    short = sim()[:5]
    for name in INDICATORS:
        s = compute_series(short, name, ())
        s.value_at(len(short) - 1)  # no exception; warm-up values
    assert compute_series(short, "sma", (20,)).value_at(4) is None
