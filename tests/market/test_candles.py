"""CandleArrays behaviour and the candle validity rules shared by imports, stores and the bundle."""

from __future__ import annotations

import numpy as np
import pytest

from shared.market import CandleArrays, candle_problems
from shared.market.resample import resample, resample_complete

H = 3_600_000


def make(rows: list[tuple[float, ...]]) -> CandleArrays:
    return CandleArrays.from_rows(rows)


def test_candle_arrays_are_read_only_and_typed() -> None:
    c = make([(0, 1, 2, 0.5, 1.5, 10)])
    assert c.time.dtype == np.int64 and c.close.dtype == np.float64
    with pytest.raises(ValueError):
        c.close[0] = 3.0
    with pytest.raises(AttributeError):
        c.close = np.array([3.0])  # type: ignore[misc]


def test_slicing_between_and_rows() -> None:
    c = make([(i * H, 10 + i, 11 + i, 9 + i, 10.5 + i, 1) for i in range(5)])
    assert len(c[1:3]) == 2 and c[1:3].time[0] == H
    assert c.between(H, 3 * H).time.tolist() == [H, 2 * H]  # [start, end)
    assert c.between(None, None).equals(c)
    assert c.last(2).time.tolist() == [3 * H, 4 * H]
    assert c.row(0) == {"time": "1970-01-01T00:00:00Z", "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}
    assert c.to_rows()[4]["time"] == "1970-01-01T04:00:00Z"


def test_concat_sorts_parts_by_time() -> None:
    a = make([(2 * H, 1, 1, 1, 1, 1)])
    b = make([(0, 2, 2, 2, 2, 2), (H, 3, 3, 3, 3, 3)])
    assert CandleArrays.concat([a, b]).time.tolist() == [0, H, 2 * H]
    assert CandleArrays.concat([]).equals(CandleArrays.empty())


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        CandleArrays(np.array([0]), np.array([1.0]), np.array([1.0]), np.array([1.0]), np.array([1.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((H, 1, 2, 0.5, 1.5, 1), None),  # a fine candle
        ((H, float("nan"), 2, 0.5, 1.5, 1), "non-finite number"),
        ((H, 1, float("inf"), 0.5, 1.5, 1), "non-finite number"),
        ((H, 0, 2, 0.5, 1.5, 1), "prices must be > 0"),
        ((H, 1, 2, -0.5, 1.5, 1), "prices must be > 0"),
        ((H, 1, 2, 0.5, 1.5, -1), "volume must be >= 0"),
        ((H, 1, 0.4, 0.5, 0.45, 1), "high is below low"),
        ((H, 1, 1.2, 0.5, 1.5, 1), "high is below open or close"),
        ((H, 1, 2, 1.2, 1.5, 1), "low is above open or close"),
        ((H + 1, 1, 2, 0.5, 1.5, 1), "not a candle open time"),
        ((-H, 1, 2, 0.5, 1.5, 1), "outside 1970..2200"),
    ],
)
def test_candle_problems_names_each_broken_rule(row: tuple[float, ...], reason: str | None) -> None:
    problems = candle_problems(make([row]), period_ms=H)
    if reason is None:
        assert problems == []
    else:
        assert len(problems) >= 1 and any(reason in text for _, text in problems)


def test_candle_problems_finds_duplicates_and_backwards_times_by_row() -> None:
    c = make([(0, 1, 1, 1, 1, 1), (H, 1, 1, 1, 1, 1), (H, 1, 1, 1, 1, 1), (0, 1, 1, 1, 1, 1)])
    assert candle_problems(c) == [(2, "duplicate time"), (3, "time goes backwards")]


def test_resample_takes_first_open_highest_high_lowest_low_last_close_summed_volume() -> None:
    m = 60_000
    c = make([(0, 10, 12, 9, 11, 1), (m, 11, 15, 10, 14, 2), (2 * m, 14, 14, 8, 9, 3), (5 * m, 9, 10, 9, 10, 4)])
    out = resample(c, 5 * m)
    assert out.time.tolist() == [0, 5 * m]
    assert (out.open.tolist(), out.high.tolist(), out.low.tolist(), out.close.tolist(), out.volume.tolist()) == (
        [10, 9], [15, 10], [8, 9], [9, 10], [6, 4]
    )


def test_resample_of_a_complete_series_matches_the_general_resampler() -> None:
    rng = np.random.default_rng(3)
    n = 240
    close = 100 + np.cumsum(rng.normal(size=n))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) + 0.5
    low = np.minimum(open_, close) - 0.5
    c = CandleArrays(np.arange(n) * 60_000, open_, high, low, close, rng.random(n))
    assert resample_complete(c, 60_000, H).equals(resample(c, H))
