"""Binding replay for backtests: on which bars would a binding have run live?

Live, a binding runs at the moment one of its pools fires or its schedule is due (market time t), and
the program sees the candles closed by t. In a backtest over bars of the binding's timeframe, that is
the bar whose close is the latest at or before t — the view the program had live. Several triggers
that land on one bar give one run on it (a backtest has one view per bar).

That run's `ctx.trigger` is the one it would have had live (`program_trigger`, the shape the live runs
pass): `{type: "signal", pool, signals, time}` with the values that made the pool fire (the fields of
`shared.signals.evaluate`, computed for every chosen bar at once) or `{type: "schedule", pool: null,
signals: [], time}`. When several land on one bar, the run gets the earliest (a pool before the schedule
at the same time, pools in the binding's order): the first run live would have been that one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.market.candles import CandleArrays
from shared.signals import pool as pools
from shared.signals import schedule as schedules
from shared.timefmt import to_iso


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


def program_trigger(kind: str, time_ms: int, pool: int | None = None, signals: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """`ctx.trigger` of a run started by a pool (`kind` "signal") or a schedule: type, pool, signals and
    time of the trigger. The one builder: live runs (services/executor/live/runs.py) and replays call it."""
    return {"type": kind, "pool": pool, "signals": [dict(s) for s in signals], "time": to_iso(time_ms)}


@dataclass(frozen=True, slots=True)
class ReplayRuns:
    """The bars a binding runs on (sorted positions in the range) and each run's `ctx.trigger`."""

    positions: list[int]
    triggers: list[dict[str, Any]]

    def by_bar(self) -> dict[int, dict[str, Any]]:
        return dict(zip(self.positions, self.triggers, strict=True))


def replay_runs(
    bar_open_times: np.ndarray,
    period_ms: int,
    *,
    pools_with_series: Iterable[tuple[int, pools.Pool, Mapping[pools.SeriesKey, CandleArrays]]] = (),
    schedule: schedules.Schedule | None = None,
) -> ReplayRuns:
    """`bars_to_run` with the trigger of each run: `pools_with_series` are `(pool id, pool, series)` in
    the binding's order. The bars are those of `bars_to_run`, and each pool trigger's `signals` are what
    `pools.evaluate` reports at that close (one vectorised pass per pool over the chosen closes)."""
    opens = np.asarray(bar_open_times, dtype=np.int64)
    if not opens.size:
        return ReplayRuns([], [])
    start, end = int(opens[0]), int(opens[-1]) + period_ms
    closes = opens + period_ms
    entries: list[tuple[int | None, pools.Pool | None, Mapping[pools.SeriesKey, CandleArrays] | None]] = []
    bars, times, order = [], [], []
    for pool_id, pool, series in pools_with_series:
        fired = pools.fire_times(pool, series, start, end)
        bars.append(np.searchsorted(closes, fired, side="right") - 1)
        times.append(fired)
        order.append(np.full(fired.shape, len(entries), dtype=np.int64))
        entries.append((pool_id, pool, series))
    if schedule is not None:
        due = schedules.fire_times(schedule, start - 1, end)
        bars.append(np.searchsorted(closes, due, side="right") - 1)
        times.append(due)
        order.append(np.full(due.shape, len(entries), dtype=np.int64))
        entries.append((None, None, None))
    if not bars:
        return ReplayRuns([], [])
    bar, at, source = np.concatenate(bars), np.concatenate(times).astype(np.int64), np.concatenate(order)
    kept = bar >= 0  # before the first close: no bar of the range was closed yet
    bar, at, source = bar[kept], at[kept], source[kept]
    sorted_ = np.lexsort((source, at, bar))  # by bar, then time, then pools (binding order) before the schedule
    bar, at, source = bar[sorted_], at[sorted_], source[sorted_]
    first = np.ones(bar.shape, dtype=bool)
    first[1:] = bar[1:] != bar[:-1]
    bar, at, source = bar[first], at[first], source[first]
    triggers: list[dict[str, Any]] = [{}] * len(bar)
    for index, (pool_id, pool, series) in enumerate(entries):
        rows = np.flatnonzero(source == index)
        if not rows.size:
            continue
        if pool is None:
            for row in rows.tolist():
                triggers[row] = program_trigger("schedule", int(at[row]))
            continue
        values = signal_values(pool, series, at[rows])  # type: ignore[arg-type]
        for row, signals in zip(rows.tolist(), values, strict=True):
            triggers[row] = program_trigger("signal", int(at[row]), pool_id, signals)
    return ReplayRuns(bar.tolist(), triggers)


def signal_values(
    pool: pools.Pool, arrays_by_series: Mapping[pools.SeriesKey, CandleArrays], times: np.ndarray
) -> list[list[dict[str, Any]]]:
    """For each close in `times` (on the pool's grid), what `pools.evaluate(pool, arrays, t).values` gives:
    each signal's metric value, the value compared to, the bar read and whether it held — computed once
    per signal over all the times. A non-finite number is None, as the live trigger carries it (JSON).
    Built from the evaluator's own pieces (`_series_of`, `_bars_at`), so the numbers are `evaluate`'s;
    tests/signals/test_replay_triggers.py checks the whole trigger against the live clock's."""
    times = np.asarray(times, dtype=np.int64)
    columns: list[list[dict[str, Any]]] = []
    for i, (signal, series) in enumerate(zip(pool.signals, pools._series_of(pool, arrays_by_series), strict=True)):
        doc = {"index": i, **signal.to_doc()}
        if not series.close_time.size:
            columns.append([{**doc, "metric_value": None, "compared_to": None, "bar_time": None, "true": False}] * len(times))
            continue
        idx, present = pools._bars_at(series, signal.period_ms, times)
        metric = series.metric[idx].tolist()
        compared = series.value[idx].tolist()
        opened = (series.close_time[idx] - signal.period_ms).tolist()
        holds = (present & series.condition[idx]).tolist()
        column = []
        for p, m, v, o, h in zip(present.tolist(), metric, compared, opened, holds, strict=True):
            column.append({
                **doc,
                "metric_value": _finite(m) if p else None,
                "compared_to": _finite(v) if p else None,
                "bar_time": to_iso(o) if p else None,
                "true": h,
            })  # fmt: skip
        columns.append(column)
    return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in times]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
