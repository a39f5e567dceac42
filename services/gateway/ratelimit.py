"""Per-owner rate limit: a token bucket per owner, in this gateway replica's memory.

Each owner has a bucket of `burst` requests that refills at `rate` per second; a request takes one, and
an empty bucket is a 429 whose `Retry-After` says when the next one is there. Only `/api` requests
count (health checks, the docs and the web page's files do not), and only after authentication, so the
owner is known and a client cannot spread its load over made-up owners.

The buckets are local to one replica: with N gateway replicas behind a load balancer an owner may make
up to N times the rate. That is the usual trade (no shared store on the request path, no extra round
trip); set the rate per replica accordingly. Memory is bounded: at most `max_owners` buckets, the least
recently used dropped first (a dropped bucket comes back full, which only ever favours that owner, and
only when more than `max_owners` owners are active at once).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_OWNERS = 100_000


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_owners: int = MAX_OWNERS
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_owners = max_owners
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # owner → (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def take(self, owner: str) -> float:
        """Take one request from `owner`'s bucket: 0 when allowed, else the seconds until one is there."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, at = self._buckets.pop(owner, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[owner] = (tokens, now)  # most recently used last
        if len(self._buckets) > self._max_owners:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait_s: float) -> str:
    """`Retry-After` takes whole seconds: round up, so a client that waits that long succeeds."""
    return str(max(1, math.ceil(wait_s)))
