"""Counters a service process keeps about itself, read by the gateway's `/metrics` over NATS.

How services expose metrics: through `nats.micro`'s `$SRV.STATS`, not an HTTP port per service. Every
instance of every service already answers `$SRV.STATS` (no queue group: all replicas reply), so the
gateway discovers and reads all of them with one request, services need no HTTP server, no port to
allocate per replica (`hyperoru up` runs them all on one machine) and no scrape config each. nats.micro
counts requests per endpoint but cannot time ours (the runtime answers each request in its own task),
so the runtime records outcome and duration here (`observe`) and hands them to nats.micro's
`stats_handler`, which puts them in each endpoint's `data`. The process-wide numbers (worker pools,
events published) ride on the service's health endpoint's `data`, tagged with `PROCESS_ID` so the
gateway counts a process once even when several services share it (tests, `hyperoru up` does not).

Everything here is cheap and synchronous: a dict update per request.
"""

from __future__ import annotations

import bisect
import os
import socket
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the request-duration histogram; one more bucket holds everything above."""
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"


class _Pool(Protocol):
    name: str
    size: int
    kills: int
    crashes: int
    queued: int  # calls waiting for a free worker now (queue-wait)
    busy: int  # calls refused with WorkerBusy so far


@dataclass(slots=True)
class _Endpoint:
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))


_endpoints: dict[str, _Endpoint] = {}
_events: dict[tuple[str, str], int] = {}
_pools: weakref.WeakSet[Any] = weakref.WeakSet()


def observe(subject: str, outcome: str, seconds: float) -> None:
    """One request handled by this process: `outcome` is `ok` or the error code it answered."""
    stats = _endpoints.get(subject)
    if stats is None:
        stats = _endpoints[subject] = _Endpoint()
    stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
    stats.seconds_sum += seconds
    stats.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1


def count_event(subject: str, status: object = None) -> None:
    """One event published; `status` is the event's own status field when it has one (executions)."""
    key = (subject, status if isinstance(status, str) else "")
    _events[key] = _events.get(key, 0) + 1


def track_pool(pool: _Pool) -> None:
    """A worker pool whose kills and crashes to report (held weakly: a closed pool goes away)."""
    _pools.add(pool)


def untrack_pool(pool: _Pool) -> None:
    """A closed pool: no longer reported (only happens while its service stops)."""
    _pools.discard(pool)


def endpoint_data(subject: str) -> dict[str, Any]:
    stats = _endpoints.get(subject) or _Endpoint()
    return {"outcomes": dict(stats.outcomes), "seconds_sum": stats.seconds_sum, "buckets": list(stats.buckets)}


def process_data() -> dict[str, Any]:
    return {
        "id": PROCESS_ID,
        "pools": [{"name": p.name, "size": p.size, "kills": p.kills, "crashes": p.crashes, "queued": p.queued, "busy": p.busy}
                  for p in list(_pools)],
        "events": [[subject, status, count] for (subject, status), count in _events.items()],
    }


def stats_handler(health_subject: str) -> Callable[[Any], dict[str, Any]]:
    """nats.micro's `stats_handler` for one service: per-endpoint numbers, plus the process's on the
    health endpoint (every service has exactly one)."""

    def data(endpoint: Any) -> dict[str, Any]:
        result = endpoint_data(endpoint.subject)
        if endpoint.subject == health_subject:
            result["process"] = process_data()
        return result

    return data
