"""When a binding's schedule fires: the one place computing it, for the live clock and for backtests.

A schedule is `{"interval": "15m"}` or `{"cron": "*/15 * * * *"}`, both in UTC on the MARKET clock
(`MarketData.now()`): with the simulator sped up 30×, a 1-minute schedule fires every 2 s of wall
time; at speed 1 and on real exchanges market time is wall time. Callers pass market-time epoch ms.

- `interval`: a whole number of minutes, hours or days (`1m` … `7d`), aligned to the Unix epoch like
  candles are, so `15m` fires at :00, :15, :30, :45 and `4h` at 00:00, 04:00, … UTC — a schedule and
  a candle of the same length close together, and a restart does not shift the grid.
- `cron`: five fields (minute hour day-of-month month day-of-week) parsed by `cronsim` (strict: a bad
  field is an error naming it, never a silent guess; a small, dependency-free, maintained library).
  Minute resolution, like the candles; six-field (seconds) cron is refused.

`next_fire(schedule, after_ms)` is strictly after `after_ms`; `fire_times(schedule, start, end)` are
all the times in `(start, end]` — what a backtest replays, and what the live clock would have seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from cronsim import CronSim, CronSimError

from shared.signals.errors import SignalError

MINUTE_MS = 60_000
_UNITS = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": 24 * 60 * MINUTE_MS}
MIN_INTERVAL_MS = MINUTE_MS
MAX_INTERVAL_MS = 7 * _UNITS["d"]
CRON_MAX_CHARS = 100
MAX_FIRES = 2_000_000
"""Most fire times one `fire_times` call returns (a year of every minute is 525,600)."""

_INTERVAL = re.compile(r"^\s*(\d{1,6})\s*([mhd])\s*$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: exactly one of `interval_ms` / `cron` is set; `text` is as given (trimmed)."""

    interval_ms: int | None = None
    cron: str | None = None
    text: str = ""

    def to_doc(self) -> dict[str, str]:
        return {"cron": self.text} if self.cron is not None else {"interval": self.text}


def parse_interval(text: str, field: str = "schedule.interval") -> int:
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise SignalError(field, f"write an interval as a whole number of m, h or d, e.g. 15m, 1h, 1d; got {text!r}")
    ms = int(match.group(1)) * _UNITS[match.group(2)]
    if not MIN_INTERVAL_MS <= ms <= MAX_INTERVAL_MS:
        raise SignalError(field, f"an interval is from 1m to 7d; got {text.strip()}")
    return ms


def _cron_at(expression: str, after_ms: int) -> CronSim:
    return CronSim(expression, datetime.fromtimestamp(after_ms / 1000, tz=UTC))


def check_cron(text: str, field: str = "schedule.cron") -> str:
    if not isinstance(text, str) or not text.strip():
        raise SignalError(field, "a cron expression is required, e.g. */15 * * * *")
    expression = " ".join(text.split())
    if len(expression) > CRON_MAX_CHARS:
        raise SignalError(field, f"a cron expression is at most {CRON_MAX_CHARS} characters")
    if len(expression.split(" ")) != 5:
        raise SignalError(field, f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), in UTC; got {text!r}")
    try:
        next(_cron_at(expression, 0))
    except CronSimError as exc:
        raise SignalError(field, f"{exc} in {expression!r}") from None
    except StopIteration:
        raise SignalError(field, f"{expression!r} never fires") from None
    return expression


def parse_schedule(raw: Mapping[str, Any], field: str = "schedule") -> Schedule:
    """`{"interval": "15m"}` or `{"cron": "*/15 * * * *"}` (exactly one key) → Schedule."""
    given = {key: value for key, value in raw.items() if value is not None}
    unknown = sorted(set(given) - {"interval", "cron"})
    if unknown:
        raise SignalError(f"{field}.{unknown[0]}", "a schedule takes only `interval` or `cron`")
    if len(given) != 1:
        raise SignalError(field, 'give exactly one of {"interval": "15m"} or {"cron": "*/15 * * * *"} (UTC, market clock)')
    if "interval" in given:
        text = str(given["interval"]).strip()
        return Schedule(interval_ms=parse_interval(given["interval"], f"{field}.interval"), text=text)
    expression = check_cron(given["cron"], f"{field}.cron")
    return Schedule(cron=expression, text=expression)


def next_fire(schedule: Schedule, after_ms: int) -> int:
    """The first fire time strictly after `after_ms` (market-time epoch ms)."""
    if schedule.interval_ms is not None:
        step = schedule.interval_ms
        return (after_ms // step + 1) * step
    assert schedule.cron is not None
    moment = next(_cron_at(schedule.cron, after_ms))
    return int(moment.timestamp() * 1000)


def fire_times(schedule: Schedule, start_ms: int, end_ms: int) -> np.ndarray:
    """Every fire time in `(start_ms, end_ms]`, ascending (int64 epoch ms); at most MAX_FIRES."""
    if end_ms <= start_ms:
        return np.empty(0, dtype=np.int64)
    if schedule.interval_ms is not None:
        first = next_fire(schedule, start_ms)
        count = max(0, (end_ms - first) // schedule.interval_ms + 1)
        if count > MAX_FIRES:
            raise SignalError("schedule", f"fires {count:,} times in the range; at most {MAX_FIRES:,}")
        return first + np.arange(count, dtype=np.int64) * schedule.interval_ms
    assert schedule.cron is not None
    times: list[int] = []
    for moment in _cron_at(schedule.cron, start_ms):
        ms = int(moment.timestamp() * 1000)
        if ms > end_ms:
            break
        times.append(ms)
        if len(times) > MAX_FIRES:
            raise SignalError("schedule", f"fires more than {MAX_FIRES:,} times in the range")
    return np.asarray(times, dtype=np.int64)
