"""Time as the API shows it: ISO-8601 UTC with a `Z`, and epoch milliseconds inside.

One place for the format so that programs, candles, events and HTTP replies never disagree on how a
moment is written.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_iso(ms: int) -> str:
    """Epoch milliseconds → `2026-04-09T12:00:00Z` (milliseconds shown only when not zero)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    """The current time to the second, as records show it."""
    return to_iso(now_ms() // 1000 * 1000)


def parse_time(text: str) -> int:
    """ISO-8601 date or date-time (naive means UTC) → epoch milliseconds. Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
