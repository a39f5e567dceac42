"""Binding replay for backtests: on which bars would a binding have run live?

Live, a binding runs at the moment one of its pools fires or its schedule is due (market time t), and
the program sees the candles closed by t. In a backtest over bars of the binding's timeframe, that is
the bar whose close is the latest at or before t — the view the program had live. Several triggers
that land on one bar give one run on it (a backtest has one view per bar).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from shared.market.candles import CandleArrays
from shared.signals import pool as pools
from shared.signals import schedule as schedules


def bars_at_times(bar_open_times: np.ndarray, period_ms: int, times: np.ndarray) -> np.ndarray:
    """Bool mask over the bars: True where a time in `times` reads that bar as its last closed one."""
    closes = np.asarray(bar_open_times, dtype=np.int64) + period_ms
    mask = np.zeros(closes.shape, dtype=bool)
    if not closes.size or not len(times):
        return mask
    idx = np.searchsorted(closes, np.asarray(times, dtype=np.int64), side="right") - 1
    mask[idx[idx >= 0]] = True
    return mask


def bars_to_run(
    bar_open_times: np.ndarray,
    period_ms: int,
    *,
    pools_with_series: Iterable[tuple[pools.Pool, Mapping[pools.SeriesKey, CandleArrays]]] = (),
    schedule: schedules.Schedule | None = None,
) -> np.ndarray:
    """Bool mask over the backtest's bars: where the binding's pools fire or its schedule is due."""
    opens = np.asarray(bar_open_times, dtype=np.int64)
    if not opens.size:
        return np.zeros(0, dtype=bool)
    start, end = int(opens[0]), int(opens[-1]) + period_ms
    mask = np.zeros(opens.shape, dtype=bool)
    for pool, series in pools_with_series:
        mask |= bars_at_times(opens, period_ms, pools.fire_times(pool, series, start, end))
    if schedule is not None:
        mask |= bars_at_times(opens, period_ms, schedules.fire_times(schedule, start - 1, end))
    return mask
