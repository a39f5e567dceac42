"""Timeframe names, lengths and grid arithmetic."""

from __future__ import annotations

import pytest

from shared.market import TIMEFRAMES, parse_timeframe, timeframe_ms
from shared.market.timeframes import ceil_time, finer_timeframes, floor_time


@pytest.mark.parametrize(
    ("text", "canonical", "ms"),
    [
        ("1m", "1m", 60_000),
        ("5m", "5m", 300_000),
        ("15m", "15m", 900_000),
        ("30m", "30m", 1_800_000),
        ("1h", "1h", 3_600_000),
        (" 4h ", "4h", 14_400_000),  # surrounding spaces are forgiven
        ("1H", "1h", 3_600_000),  # upper-case hour/day accepted
        ("1D", "1d", 86_400_000),
    ],
)
def test_parse_timeframe_accepts_known_spellings(text: str, canonical: str, ms: int) -> None:
    assert parse_timeframe(text) == canonical
    assert timeframe_ms(text) == ms


@pytest.mark.parametrize("text", ["1M", "2h", "1w", "", "60", None, 5])
def test_parse_timeframe_rejects_unknown_ones_and_lists_valid_ones(text: object) -> None:
    with pytest.raises(ValueError, match="valid timeframes: 1m, 5m, 15m, 30m, 1h, 4h, 1d"):
        parse_timeframe(text)  # type: ignore[arg-type]


def test_every_timeframe_divides_every_larger_one_so_resampling_has_no_partial_buckets() -> None:
    lengths = [timeframe_ms(tf) for tf in TIMEFRAMES]
    assert lengths == sorted(lengths)
    for i, small in enumerate(lengths):
        for large in lengths[i + 1 :]:
            assert large % small == 0


def test_finer_timeframes_are_listed_largest_first() -> None:
    assert finer_timeframes("1d") == ["4h", "1h", "30m", "15m", "5m", "1m"]
    assert finer_timeframes("1h") == ["30m", "15m", "5m", "1m"]
    assert finer_timeframes("1m") == []


@pytest.mark.parametrize(("ms", "floor", "ceil"), [(0, 0, 0), (1, 0, 60_000), (60_000, 60_000, 60_000), (119_999, 60_000, 120_000)])
def test_floor_and_ceil_snap_to_the_candle_grid(ms: int, floor: int, ceil: int) -> None:
    assert floor_time(ms, 60_000) == floor
    assert ceil_time(ms, 60_000) == ceil
