"""The simulator: deterministic, random-access, consistent across timeframes, realistic levels."""

from __future__ import annotations

import numpy as np
import pytest

from shared.market import TIMEFRAMES, candle_problems, timeframe_ms
from shared.market.resample import resample
from shared.market.simulator import PROFILES, Simulator
from shared.timefmt import parse_time

MARCH = (parse_time("2026-03-01"), parse_time("2026-04-01"))


def test_same_seed_symbol_and_range_give_identical_candles_in_another_instance() -> None:
    a = Simulator(seed=42).candles("BTC", "1h", *MARCH)
    b = Simulator(seed=42).candles("BTC", "1h", *MARCH)
    assert len(a) == 31 * 24 and a.equals(b)


def test_different_seeds_and_symbols_give_different_markets() -> None:
    base = Simulator(seed=42).candles("ETH", "1h", *MARCH)
    assert not np.array_equal(base.close, Simulator(seed=43).candles("ETH", "1h", *MARCH).close)
    sol = Simulator(seed=42).candles("SOL", "1h", *MARCH)
    assert not np.allclose(base.close / base.close[0], sol.close / sol.close[0])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("2026-03-01", "2026-04-01"), ("2026-03-15T13:00", "2026-03-20")),  # a range inside another
        (("2026-03-01", "2026-03-10"), ("2026-03-05", "2026-03-30")),  # overlapping ranges
        (("2024-02-28", "2024-03-02"), ("2024-02-29T23:00", "2024-03-01T01:00")),  # across a leap day
    ],
)
def test_overlapping_queries_return_the_same_candle_for_the_same_time(
    simulator: Simulator, first: tuple[str, str], second: tuple[str, str]
) -> None:
    for tf in ("1m", "1h"):
        a = simulator.candles("BTC", tf, parse_time(first[0]), parse_time(first[1]))
        b = simulator.candles("BTC", tf, parse_time(second[0]), parse_time(second[1]))
        common, ia, ib = np.intersect1d(a.time, b.time, return_indices=True)
        assert common.size > 0
        assert a.take(ia).equals(b.take(ib))


@pytest.mark.parametrize("large", ["5m", "15m", "30m", "1h", "4h", "1d"])
def test_larger_timeframes_are_exactly_the_resampled_1m_candles(simulator: Simulator, large: str) -> None:
    start, end = parse_time("2026-03-09"), parse_time("2026-03-12")
    minutes = simulator.candles("ETH", "1m", start, end)
    direct = simulator.candles("ETH", large, start, end)
    rebuilt = resample(minutes, timeframe_ms(large))
    assert direct.time.tolist() == rebuilt.time.tolist()
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(direct, name), getattr(rebuilt, name)), name
    np.testing.assert_allclose(direct.volume, rebuilt.volume, rtol=1e-12)  # only the summation order may differ


@pytest.mark.parametrize("when", [("1975-06-01", "1975-06-02"), ("2026-03-01", "2026-03-02"), ("2150-01-01", "2150-01-02")])
def test_any_date_range_past_or_future_gives_valid_candles(simulator: Simulator, when: tuple[str, str]) -> None:
    candles = simulator.candles("BTC", "1m", parse_time(when[0]), parse_time(when[1]))
    assert len(candles) == 1440
    assert candle_problems(candles, 60_000) == []
    assert np.array_equal(candles.open[1:], candles.close[:-1])  # each candle opens at the previous close


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.symbol)
def test_price_levels_stay_in_each_symbols_usual_range_over_decades(simulator: Simulator, profile) -> None:  # type: ignore[no-untyped-def]
    # 40 two-month windows spread over 2000..2040 (generating all forty years would be slow)
    windows = [simulator.candles(profile.symbol, "1d", parse_time(f"{year}-01-01"), parse_time(f"{year}-03-01"))
               for year in range(2000, 2040)]
    closes = np.concatenate([w.close for w in windows])
    low, high = profile.price_range
    lo, median, hi = np.quantile(closes, [0.05, 0.5, 0.95])
    assert low * 0.8 < lo and hi < high * 1.25, (lo, hi)
    assert low < median < high
    daily_returns = np.concatenate([np.diff(np.log(w.close)) for w in windows])
    assert 0.6 * profile.daily_vol < daily_returns.std() < 1.5 * profile.daily_vol


def test_requested_symbols_have_current_price_levels(simulator: Simulator) -> None:
    expected = {"BTC": (60_000, 110_000), "ETH": (2_000, 4_000), "SOL": (100, 250), "ARB": (0.3, 1.5)}
    for symbol, (low, high) in expected.items():
        closes = simulator.candles(symbol, "1d", parse_time("2025-01-01"), parse_time("2027-01-01")).close
        assert low * 0.75 <= np.median(closes) <= high * 1.25, symbol


def test_price_is_the_close_of_the_last_closed_minute(simulator: Simulator) -> None:
    at = parse_time("2026-03-01T12:34:56")
    last_minute = simulator.candles("BTC", "1m", parse_time("2026-03-01T12:33"), parse_time("2026-03-01T12:34"))
    assert simulator.price("BTC", at) == last_minute.close[-1]


def test_unknown_symbol_names_the_ones_it_has(simulator: Simulator) -> None:
    with pytest.raises(KeyError, match="ARB, BTC, EOS, ETH, LTC, SOL, XRP"):
        simulator.candles("DOGE", "1h", *MARCH)


def test_every_timeframe_is_served_for_a_partial_first_day(simulator: Simulator) -> None:
    start, end = parse_time("2026-03-01T07:00"), parse_time("2026-03-03")
    for tf in TIMEFRAMES:
        period = timeframe_ms(tf)
        candles = simulator.candles("SOL", tf, start, end)
        assert candles.time[0] == -(-start // period) * period
        assert candles.time[-1] + period == end
