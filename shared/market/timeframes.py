"""The candle timeframes the platform knows, and the arithmetic on their grids.

Every candle is identified by its OPEN time in epoch milliseconds (UTC). All timeframes are aligned
to the Unix epoch (so `1d` candles open at 00:00 UTC and `4h` ones at 00:00, 04:00, … UTC), and each
timeframe divides every larger one exactly (1, 5, 15, 30, 60, 240, 1440 minutes). That chain is what
lets a larger timeframe be resampled from any smaller stored one without partial buckets at the seams.
"""

from __future__ import annotations

from typing import Final

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS

_MS: Final[dict[str, int]] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "4h": 4 * HOUR_MS,
    "1d": DAY_MS,
}

TIMEFRAMES: Final[tuple[str, ...]] = tuple(_MS)


def parse_timeframe(timeframe: str) -> str:
    """The canonical spelling of `timeframe`; raises ValueError naming the valid ones.

    Upper-case `H`/`D` are accepted (`1H`, `4H`, `1D`); `1M` is not, because elsewhere it means a month.
    """
    if isinstance(timeframe, str):
        text = timeframe.strip()
        if text in _MS:
            return text
        if text[-1:] in ("H", "D") and text.lower() in _MS:
            return text.lower()
    raise ValueError(f"unknown timeframe {timeframe!r}; valid timeframes: {', '.join(TIMEFRAMES)}")


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle of `timeframe` in milliseconds (raises ValueError for unknown ones)."""
    return _MS[parse_timeframe(timeframe)]


def floor_time(ms: int, period_ms: int) -> int:
    """Open time of the candle of length `period_ms` that contains `ms`."""
    return ms - ms % period_ms


def ceil_time(ms: int, period_ms: int) -> int:
    """The first candle open time at or after `ms`."""
    return -((-ms) // period_ms) * period_ms


def finer_timeframes(timeframe: str) -> list[str]:
    """Timeframes smaller than `timeframe`, largest first: the order in which to resample from them.

    Larger sources first because they need the fewest rows and carry the exchange's own aggregation.
    """
    target = timeframe_ms(timeframe)
    return [tf for tf in reversed(TIMEFRAMES) if _MS[tf] < target and target % _MS[tf] == 0]
