"""Hyperliquid info API client and source, against a local fake server that speaks its documented JSON.

The fake serves `candleSnapshot` (at most 5000 candles per response, string prices, the still-open
candle included like the real API), `allMids` (with a spot `@…` entry) and `metaAndAssetCtxs`, and can
be told to fail the next requests with given HTTP statuses or to stall. A test against the real API
runs when HYPERLIQUID_LIVE=1.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.market import (
    HyperliquidClient,
    MarketDataUnavailableError,
    SqliteCandleStore,
    UnknownSymbolError,
    build_market_data,
    timeframe_ms,
)
from shared.market.hyperliquid import MAINNET_URL, WeightLimiter
from shared.market.simulator import Simulator
from shared.timefmt import now_ms, parse_time

NOW = parse_time("2026-03-10T12:34:56Z")


class FakeHyperliquid:
    """An in-process stand-in for `POST /info`."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now
        self.sim = Simulator(9)
        self.requests: list[dict[str, Any]] = []
        self.failures: list[int | str] = []  # next responses: an HTTP status, or "stall"
        self.retry_after: str | None = None
        self.coins = ["BTC", "ETH", "HYPE"]

    async def info(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "stall":
                await asyncio.sleep(5)
            else:
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return web.Response(status=int(failure), text="slow down" if failure == 429 else "oops", headers=headers)
        kind = body.get("type")
        if kind == "allMids":
            mids = {coin: str(self.sim.price("BTC" if coin == "HYPE" else coin, self.now) / (2000 if coin == "HYPE" else 1)) for coin in self.coins}
            return web.json_response({**mids, "@107": "12.5"})
        if kind == "metaAndAssetCtxs":
            universe = [{"name": c, "szDecimals": 4, "maxLeverage": 40} for c in self.coins] + [{"name": "OLD", "isDelisted": True}]
            ctxs = [{"funding": "0.0000125", "markPx": "100.5", "midPx": "100.4", "openInterest": "1000.0", "oraclePx": "100.6",
                     "dayNtlVlm": "123456.7", "prevDayPx": "99.0", "premium": "0.0001", "impactPxs": ["100.3", "100.5"]}
                    for _ in range(len(universe))]
            return web.json_response([{"universe": universe}, ctxs])
        if kind == "candleSnapshot":
            req = body["req"]
            if req["coin"] not in self.coins:
                return web.json_response([])
            period = timeframe_ms(req["interval"])
            end = min(req["endTime"], self.now)  # inclusive, and the open candle is included
            start = req["startTime"] - req["startTime"] % period
            candles = self.sim.candles("BTC" if req["coin"] == "HYPE" else req["coin"], req["interval"], start, end + 1)[:5000]
            return web.json_response([
                {"t": int(t), "T": int(t) + period - 1, "s": req["coin"], "i": req["interval"], "o": f"{o}", "c": f"{c}",
                 "h": f"{h}", "l": f"{lo}", "v": f"{v}", "n": 42}
                for t, o, h, lo, c, v in zip(candles.time, candles.open, candles.high, candles.low, candles.close, candles.volume, strict=True)
            ])
        return web.json_response({"error": "unknown type"}, status=422)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[tuple[FakeHyperliquid, str]]:
    api = FakeHyperliquid()
    app = web.Application()
    app.router.add_post("/info", api.info)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url(""))
    await server.close()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(url: str, **kwargs: Any) -> HyperliquidClient:
    return HyperliquidClient(url, backoff_s=0.01, max_backoff_s=0.05, **kwargs)


async def test_candle_snapshot_sends_the_documented_request_and_parses_string_prices(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    hl = client(url)
    start, end = parse_time("2026-03-10T00:00"), parse_time("2026-03-10T06:00")
    candles = await hl.candle_snapshot("ETH", "1h", start, end)
    await hl.close()
    assert api.requests == [{"type": "candleSnapshot", "req": {"coin": "ETH", "interval": "1h", "startTime": start, "endTime": end - 1}}]
    expected = Simulator(9).candles("ETH", "1h", start, end)
    assert candles.time.tolist() == expected.time.tolist()
    assert candles.close.tolist() == expected.close.tolist()


async def test_long_ranges_are_fetched_page_by_page(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    hl = client(url)
    start = parse_time("2026-03-01")
    candles = await hl.candle_snapshot("BTC", "1m", start, start + 12_000 * 60_000)
    await hl.close()
    assert len(candles) == 12_000 and len(api.requests) == 3
    assert [r["req"]["startTime"] for r in api.requests] == [start, start + 5000 * 60_000, start + 10_000 * 60_000]


@pytest.mark.parametrize("statuses", [[429], [500], [502, 503], [429, 500, 504]])
async def test_rate_limits_and_server_errors_are_retried_with_backoff(fake, statuses: list[int]) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    api.failures = list(statuses)
    sleeps = Sleeps()
    hl = client(url, sleep=sleeps)
    mids = await hl.all_mids()
    await hl.close()
    assert set(mids) == {"BTC", "ETH", "HYPE"}  # the spot "@107" entry is left out
    assert len(api.requests) == len(statuses) + 1
    assert len(sleeps.calls) == len(statuses) and all(0 <= s <= 0.05 for s in sleeps.calls)


async def test_retry_after_is_honoured(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    api.failures, api.retry_after = [429], "0.04"
    sleeps = Sleeps()
    hl = client(url, sleep=sleeps)
    await hl.all_mids()
    await hl.close()
    assert sleeps.calls == [0.04]


async def test_after_the_last_retry_the_source_is_reported_unavailable(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    api.failures = [500] * 10
    hl = client(url, retries=2, sleep=Sleeps())
    with pytest.raises(MarketDataUnavailableError, match="allMids failed after 3 attempts: HTTP 500"):
        await hl.all_mids()
    await hl.close()
    assert len(api.requests) == 3


async def test_client_errors_other_than_429_are_not_retried(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    api.failures = [400]
    hl = client(url, sleep=Sleeps())
    with pytest.raises(MarketDataUnavailableError, match="rejected allMids: HTTP 400"):
        await hl.all_mids()
    await hl.close()
    assert len(api.requests) == 1


async def test_a_stalled_request_times_out_and_is_retried(fake) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    api.failures = ["stall"]
    hl = client(url, timeout_s=0.2, sleep=Sleeps())
    assert "BTC" in await hl.all_mids()
    await hl.close()
    assert len(api.requests) == 2


async def test_asset_contexts_give_funding_and_prices_for_listed_coins(fake) -> None:  # type: ignore[no-untyped-def]
    _, url = fake
    hl = client(url)
    contexts = await hl.asset_contexts()
    await hl.close()
    assert sorted(contexts) == ["BTC", "ETH", "HYPE"]  # the delisted coin is left out
    btc = contexts["BTC"]
    assert (btc.funding, btc.mark_price, btc.mid_price, btc.open_interest) == (0.0000125, 100.5, 100.4, 1000.0)


async def test_weight_limiter_paces_requests_beyond_the_per_minute_budget() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = WeightLimiter(120, clock=lambda: now[0], sleep=sleep)  # 2 weight per second
    for _ in range(6):
        await limiter.acquire(20)
    assert waits == []  # the first 120 weight is a burst
    await limiter.acquire(20)
    assert sum(waits) == pytest.approx(10.0)
    limiter.charge(10)  # weight learnt after a response (candles returned)
    await limiter.acquire(1)
    assert sum(waits) == pytest.approx(15.5)


async def test_market_data_on_hyperliquid_serves_closed_candles_prices_and_preloaded_views(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api, url = fake
    md = build_market_data(SqliteCandleStore(tmp_path / "h.db"), hyperliquid_url=url, clock=lambda: NOW)
    assert await md.symbols() == ["BTC", "ETH", "HYPE"]
    candles = await md.candles("ETH", "1h", limit=24)
    assert len(candles) == 24 and candles.time[-1] + 3_600_000 <= NOW  # the open candle is not handed out
    assert await md.price("BTC") == Simulator(9).price("BTC", NOW)  # the live mid
    view = await md.view("BTC", "1h", preload=[("ETH", "4h")])
    assert view.market("ETH", "4h").price > 0
    with pytest.raises(MarketDataUnavailableError, match="preload"):
        view.market("HYPE")  # not preloaded, and Hyperliquid cannot be read synchronously
    with pytest.raises(UnknownSymbolError):
        await md.candles("NOPE", "1h")
    await md.close()


async def test_hyperliquid_cannot_be_sped_up() -> None:
    with pytest.raises(ValueError, match="simulator feature"):
        build_market_data(SqliteCandleStore(":memory:"), hyperliquid_url="http://127.0.0.1:9", live_speed=10)


@pytest.mark.skipif(os.environ.get("HYPERLIQUID_LIVE") != "1", reason="HYPERLIQUID_LIVE is not 1: not calling the real Hyperliquid API")
async def test_the_real_hyperliquid_api_answers_in_the_documented_shapes() -> None:
    hl = HyperliquidClient(MAINNET_URL)
    try:
        now = now_ms()
        candles = await hl.candle_snapshot("BTC", "1h", now - 48 * 3_600_000, now)
        assert 40 <= len(candles) <= 49 and 1_000 < candles.close[-1] < 10_000_000
        mids = await hl.all_mids()
        assert mids["BTC"] > 0 and not any(k.startswith("@") for k in mids)
        contexts = await hl.asset_contexts()
        assert "ETH" in contexts and contexts["ETH"].funding is not None
    finally:
        await hl.close()
