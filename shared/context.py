"""Who is asking and until when, passed to domain code instead of transport headers (domain code never sees NATS).

The deadline is the moment (epoch milliseconds, the gateway's clock) at which the HTTP client stops
waiting and gets a 504. Work that nobody waits for any more may still finish, but a *write* must not
start once the deadline is near: `check_deadline()` is called right before the first write of a
request, so a request that already got its 504 leaves nothing behind (see `services/registry/programs.py`
for the exact guarantee).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from shared.errors import GatewayTimeout
from shared.timefmt import now_iso

WRITE_MARGIN_MS = 500
"""A write starts only if at least this long remains before the deadline: room for the write itself
(a few ms on SQLite, tens on MongoDB), the reply's trip back, and a little clock skew between hosts."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    owner: str
    deadline_ms: int | None = None
    """When the caller gives up (epoch ms); None when the caller set no deadline (internal calls, tests)."""

    def event_fields(self) -> dict[str, str]:
        """The fields every event carries: `SomeEvent(**ctx.event_fields(), …)`."""
        return {"id": uuid.uuid4().hex, "time": now_iso(), "owner": self.owner, "correlation_id": self.request_id}

    def remaining_s(self) -> float | None:
        """Seconds left before the caller gives up (negative once past), None without a deadline."""
        if self.deadline_ms is None:
            return None
        return (self.deadline_ms - now_ms()) / 1000

    def check_deadline(self, margin_ms: int = WRITE_MARGIN_MS) -> None:
        """Raise GatewayTimeout (and so write nothing) unless `margin_ms` remain before the deadline.

        Call it right before the first write of a request, after every slow step (compiling, reading).
        """
        if self.deadline_ms is not None and now_ms() + margin_ms >= self.deadline_ms:
            raise GatewayTimeout(
                "the request ran out of time before it was saved; nothing was written, retry it",
                details={"reason": "deadline", "written": False},
            )
