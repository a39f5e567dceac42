"""Per-owner token buckets: the arithmetic with a fake clock, and the 429 over real HTTP."""

from __future__ import annotations

import pytest

from services.gateway.ratelimit import RateLimiter, retry_after
from shared.settings import Settings
from tests.api.auth_fixtures import call, gateway, security_bus

__all__ = ["security_bus"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # empty: the next token is 1/rate away
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 100  # refills up to the burst, never beyond
    assert [limiter.take("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_owners_have_their_own_buckets() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock)
    limiter.take("a")
    for _ in range(10):  # hammering while empty does not push the next token further away
        assert limiter.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take("a") == 0.0


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 10), (5.0, 0)])
def test_zero_turns_it_off(rate: float, burst: int) -> None:
    limiter = RateLimiter(rate, burst, clock=Clock())
    assert not limiter.enabled
    assert all(limiter.take("a") == 0.0 for _ in range(1000))


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_owners=3)
    for owner in "abcde":
        limiter.take(owner)
    assert len(limiter._buckets) == 3 and "a" not in limiter._buckets


@pytest.mark.parametrize(("wait", "header"), [(0.001, "1"), (0.5, "1"), (1.0, "1"), (1.2, "2"), (59.9, "60")])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    assert retry_after(wait) == header


async def test_over_the_limit_is_a_429_with_retry_after(security_bus: Settings) -> None:
    # a rate so slow that no token comes back during the test: the outcome does not depend on timing
    async with gateway(
        security_bus, auth_mode="proxy", trusted_proxy_cidrs="127.0.0.0/8", rate_limit_per_s=0.001, rate_limit_burst=2
    ) as url:
        statuses = [(await call("GET", url + "/api/programs/", headers={"X-Owner": "greedy"}))[0] for _ in range(2)]
        assert statuses == [200, 200]
        status, body, headers = await call("GET", url + "/api/programs/", headers={"X-Owner": "greedy"})
        assert status == 429, body
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"]["burst"] == 2 and body["error"]["details"]["retry_after_s"] > 0
        assert int(headers["Retry-After"]) >= 1
        assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
        # another owner is not affected; public paths are never limited
        status, _, _ = await call("GET", url + "/api/programs/", headers={"X-Owner": "modest"})
        assert status == 200
        for _ in range(5):
            status, _, _ = await call("GET", url + "/healthz", headers={"X-Owner": "greedy"})
            assert status == 200
