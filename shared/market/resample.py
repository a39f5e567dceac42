"""Resampling: larger candles built from smaller ones (e.g. 1h, 4h and 1d from the bundled 30m).

A larger candle takes the first open, the highest high, the lowest low, the last close and the summed
volume of the smaller candles whose open time falls in its bucket. Buckets are aligned to the epoch
(see `timeframes`).

Only complete candles are served: given the source timeframe (`source_ms`), a bucket that misses any
of its smaller candles (a gap in stored data, e.g. a day of 30m candles with three half-hours
missing) produces NO candle, instead of a candle whose open, high, low or volume silently leave out
part of its period. The missing candle is a gap, as the missing smaller ones were. Without
`source_ms` every non-empty bucket is built (used where completeness is known or irrelevant).
"""

from __future__ import annotations

import numpy as np

from shared.market.candles import CandleArrays


def resample(candles: CandleArrays, period_ms: int, source_ms: int | None = None) -> CandleArrays:
    """Aggregate time-sorted, duplicate-free `candles` into buckets of `period_ms`.

    With `source_ms` (the timeframe of `candles`): one candle per COMPLETE bucket only (all
    `period_ms // source_ms` smaller candles present). Without it: one per non-empty bucket.
    """
    if not len(candles):
        return candles
    bucket = candles.time - candles.time % period_ms
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    ends = np.concatenate([starts[1:], [bucket.size]]) - 1
    if source_ms is not None and source_ms != period_ms:
        complete = (ends - starts + 1) == period_ms // source_ms
        if not complete.all():
            keep = np.repeat(complete, ends - starts + 1)
            return resample(candles.take(keep), period_ms) if keep.any() else CandleArrays.empty()
    return CandleArrays(
        bucket[starts],
        candles.open[starts],
        np.maximum.reduceat(candles.high, starts),
        np.minimum.reduceat(candles.low, starts),
        candles.close[ends],
        np.add.reduceat(candles.volume, starts),
    )


def resample_complete(candles: CandleArrays, source_ms: int, period_ms: int) -> CandleArrays:
    """Resample a gap-free series whose length is a whole number of buckets, by reshaping (fastest path).

    Used by the simulator, which always produces every smaller candle of each bucket.
    """
    k = period_ms // source_ms
    if k == 1 or not len(candles):
        return candles
    n = len(candles) // k
    starts = np.arange(0, n * k, k)
    return CandleArrays(
        candles.time[starts],
        candles.open[starts],
        np.maximum.reduceat(candles.high[: n * k], starts),
        np.minimum.reduceat(candles.low[: n * k], starts),
        candles.close[starts + k - 1],
        np.add.reduceat(candles.volume[: n * k], starts),  # same summation order as `resample`
    )
