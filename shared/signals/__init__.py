"""Signal pools and schedules: when a binding runs. Pure (no I/O), shared by the live clock and backtests.

- `pool.py`: parse a pool, evaluate it — `condition_at` over any times, `fire_times` over a range
  (backtest replay), `evaluate` at one close (live); edge-triggered, one code path.
- `metrics.py`: `price` and the market registry's indicators with arguments (`rsi(14)`, `macd.histogram`).
- `schedule.py`: `{"interval": "15m"}` / `{"cron": "*/15 * * * *"}` → next fire time, fire times in a range.
- `replay.py`: which bars of a backtest a binding would have run on.
"""

from shared.signals.errors import SignalError
from shared.signals.metrics import Metric, parse_metric
from shared.signals.pool import (
    LOGICS,
    MAX_SIGNALS,
    OPERATORS,
    Evaluation,
    Pool,
    SeriesKey,
    Signal,
    condition_at,
    evaluate,
    fire_times,
    grid,
    parse_pool,
    parse_signal,
    pool_from_doc,
)
from shared.signals.replay import bars_at_times, bars_to_run
from shared.signals.schedule import Schedule, next_fire, parse_schedule

__all__ = [
    "LOGICS",
    "MAX_SIGNALS",
    "OPERATORS",
    "Evaluation",
    "Metric",
    "Pool",
    "Schedule",
    "SeriesKey",
    "Signal",
    "SignalError",
    "bars_at_times",
    "bars_to_run",
    "condition_at",
    "evaluate",
    "fire_times",
    "grid",
    "next_fire",
    "parse_metric",
    "parse_pool",
    "parse_schedule",
    "parse_signal",
    "pool_from_doc",
]
