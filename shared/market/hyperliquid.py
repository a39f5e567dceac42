"""Hyperliquid's public info API (`POST {base}/info`) as a market-data source: candles, mid prices, asset contexts.

Requests used (JSON bodies, documented at hyperliquid.gitbook.io, "Info endpoint"):
- `{"type": "candleSnapshot", "req": {"coin", "interval", "startTime", "endTime"}}` -> list of
  `{"t": open ms, "T": close ms, "s": coin, "i": interval, "o", "c", "h", "l", "v": decimal strings, "n": trades}`.
  At most 5000 candles per response and only the most recent 5000 per interval exist, so long
  ranges are fetched page by page and older history simply is not there.
- `{"type": "allMids"}` -> `{"BTC": "68000.5", …}` (spot pairs appear as `@<index>` and are skipped).
- `{"type": "metaAndAssetCtxs"}` -> `[{"universe": [{"name", …}]}, [{"markPx", "midPx", "funding", …}]]`.

Politeness and resilience, because the API is shared and rate-limited per IP (1200 weight/minute;
allMids weighs 2, other info requests 20, candleSnapshot 1 more per 60 candles returned):
- a weight-based token bucket (`WeightLimiter`) paces requests before they are sent;
- every request has a total timeout;
- 429, 5xx, timeouts and connection errors are retried with exponential backoff and full jitter
  (honouring `Retry-After` when given), up to `retries` times; other 4xx fail at once;
- when retries run out the caller gets `MarketDataUnavailableError` (a 503, retry later).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import numpy as np

from shared.market.candles import CandleArrays
from shared.market.errors import MarketDataUnavailableError
from shared.market.timeframes import parse_timeframe, timeframe_ms
from shared.timefmt import now_ms

__all__ = ["AssetContext", "HyperliquidClient", "HyperliquidSource", "WeightLimiter", "MAINNET_URL"]

MAINNET_URL = "https://api.hyperliquid.xyz"
MAX_CANDLES_PER_REQUEST = 5000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Candle(msgspec.Struct):
    t: int
    T: int
    s: str
    i: str
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - the API's field name
    v: float
    n: int = 0


class _Universe(msgspec.Struct):
    universe: list[dict[str, Any]]


class _AssetCtx(msgspec.Struct):
    markPx: float | None = None
    midPx: float | None = None
    oraclePx: float | None = None
    funding: float | None = None
    openInterest: float | None = None
    dayNtlVlm: float | None = None
    prevDayPx: float | None = None


_CANDLES = msgspec.json.Decoder(list[_Candle], strict=False)  # strict=False: "68000.5" -> 68000.5
_MIDS = msgspec.json.Decoder(dict[str, str])
_META = msgspec.json.Decoder(tuple[_Universe, list[_AssetCtx]], strict=False)


@dataclass(frozen=True, slots=True)
class AssetContext:
    """Live per-asset figures from `metaAndAssetCtxs` (funding is the hourly rate as a fraction)."""

    symbol: str
    mark_price: float | None
    mid_price: float | None
    oracle_price: float | None
    funding: float | None
    open_interest: float | None
    day_volume_usd: float | None
    prev_day_price: float | None


class WeightLimiter:
    """Token bucket counted in request weight: `per_minute` weight per minute, bursts up to that much.

    `acquire(w)` waits until w weight is available; `charge(w)` spends weight learnt after the fact
    (candleSnapshot's per-item cost), which may push the bucket below zero so later calls wait.
    """

    def __init__(self, per_minute: float = 1200.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, weight: float) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < weight:
                await self._sleep((weight - self._tokens) / self.rate)
                self._refill()
            self._tokens -= weight

    def charge(self, weight: float) -> None:
        self._refill()
        self._tokens -= weight


class HyperliquidClient:
    """A small async client of the info endpoint with pacing, timeouts and retries (see module docstring)."""

    def __init__(
        self,
        base_url: str = MAINNET_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        weight_per_minute: float = 1200.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        base = base_url.rstrip("/")
        self.url = base if base.endswith("/info") else base + "/info"
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.limiter = WeightLimiter(weight_per_minute, sleep=sleep)
        self.requests_sent = 0

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"Content-Type": "application/json"})
            self._own_session = True
        return self._session

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))

    async def post(self, payload: dict[str, Any], *, weight: float = 20.0) -> bytes:
        """POST one info request and return the raw JSON body, retrying what is worth retrying."""
        body = msgspec.json.encode(payload)
        last_problem = "no attempt made"
        for attempt in range(self.retries + 1):
            await self.limiter.acquire(weight)
            retry_after = None
            try:
                self.requests_sent += 1
                async with self._client().post(self.url, data=body, timeout=self._timeout,
                                               headers={"Content-Type": "application/json"}) as response:
                    data = await response.read()
                    if response.status == 200:
                        return data
                    last_problem = f"HTTP {response.status}: {data[:200].decode(errors='replace')}"
                    if response.status not in RETRY_STATUSES:
                        raise MarketDataUnavailableError(f"hyperliquid rejected {payload.get('type')}: {last_problem}")
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt < self.retries:
                await self._sleep(self._delay(attempt, retry_after))
        raise MarketDataUnavailableError(
            f"hyperliquid {payload.get('type')} failed after {self.retries + 1} attempts: {last_problem}"
        )

    async def candle_snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> CandleArrays:
        """Candles with open time in [start_ms, end_ms), fetched page by page (5000 per response)."""
        interval = parse_timeframe(interval)
        period = timeframe_ms(interval)
        times: list[int] = []
        rows: list[tuple[float, float, float, float, float]] = []
        cursor = start_ms
        while cursor < end_ms:
            raw = await self.post(
                {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": int(cursor), "endTime": int(end_ms - 1)}},
                weight=20,
            )
            try:
                page = _CANDLES.decode(raw)
            except msgspec.DecodeError as exc:
                raise MarketDataUnavailableError(f"hyperliquid candleSnapshot returned unexpected data: {exc}") from None
            self.limiter.charge(len(page) / 60)
            fresh = [c for c in page if cursor <= c.t < end_ms and (not times or c.t > times[-1])]
            for c in fresh:
                times.append(c.t)
                rows.append((c.o, c.h, c.l, c.c, c.v))
            if len(page) < MAX_CANDLES_PER_REQUEST or not fresh:
                break
            cursor = times[-1] + period
        if not times:
            return CandleArrays.empty()
        values = np.asarray(rows, dtype=np.float64)
        return CandleArrays(np.asarray(times, dtype=np.int64), values[:, 0], values[:, 1], values[:, 2], values[:, 3], values[:, 4])

    async def all_mids(self) -> dict[str, float]:
        """Mid price of every perpetual (spot `@…` entries left out)."""
        raw = await self.post({"type": "allMids"}, weight=2)
        try:
            mids = _MIDS.decode(raw)
            return {coin: float(px) for coin, px in mids.items() if not coin.startswith("@")}
        except (msgspec.DecodeError, ValueError) as exc:
            raise MarketDataUnavailableError(f"hyperliquid allMids returned unexpected data: {exc}") from None

    async def asset_contexts(self) -> dict[str, AssetContext]:
        """Per-coin mark/mid/oracle price, funding, open interest and day volume (`metaAndAssetCtxs`)."""
        raw = await self.post({"type": "metaAndAssetCtxs"}, weight=20)
        try:
            meta, contexts = _META.decode(raw)
        except msgspec.DecodeError as exc:
            raise MarketDataUnavailableError(f"hyperliquid metaAndAssetCtxs returned unexpected data: {exc}") from None
        result = {}
        for asset, ctx in zip(meta.universe, contexts, strict=False):
            name = asset.get("name")
            if isinstance(name, str) and not asset.get("isDelisted"):
                result[name] = AssetContext(name, ctx.markPx, ctx.midPx, ctx.oraclePx, ctx.funding, ctx.openInterest,
                                            ctx.dayNtlVlm, ctx.prevDayPx)
        return result


class HyperliquidSource:
    """Hyperliquid as the live source behind `MarketData` (instead of the simulator). Async only.

    The coin list and mid prices are cached briefly (`symbols_ttl_s`, `mids_ttl_s`) so a burst of
    program runs costs one request, not one each.
    """

    name = "hyperliquid"

    def __init__(self, client: HyperliquidClient, *, symbols_ttl_s: float = 300.0, mids_ttl_s: float = 1.0,
                 clock: Callable[[], int] = now_ms) -> None:
        self.client = client
        self._symbols: tuple[float, list[str]] | None = None
        self._mids: tuple[float, dict[str, float]] | None = None
        self._symbols_ttl = symbols_ttl_s
        self._mids_ttl = mids_ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()

    async def symbols(self) -> list[str]:
        now = time.monotonic()
        if self._symbols is None or now - self._symbols[0] > self._symbols_ttl:
            contexts = await self.client.asset_contexts()
            self._symbols = (now, sorted(contexts))
        return self._symbols[1]

    async def has(self, symbol: str) -> bool:
        return symbol in await self.symbols()

    async def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleArrays:
        return await self.client.candle_snapshot(symbol, timeframe, start_ms, end_ms)

    async def mids(self) -> dict[str, float]:
        async with self._lock:
            now = time.monotonic()
            if self._mids is None or now - self._mids[0] > self._mids_ttl:
                self._mids = (now, await self.client.all_mids())
            return self._mids[1]

    async def price(self, symbol: str, at_ms: int) -> float | None:
        """The live mid for `at_ms` near now; for a past time, the close of the last 1m candle before it."""
        if abs(self._clock() - at_ms) < 60_000:
            mid = (await self.mids()).get(symbol)
            if mid is not None:
                return mid
        minute = at_ms - at_ms % 60_000
        recent = await self.candles(symbol, "1m", minute - 10 * 60_000, minute)
        return float(recent.close[-1]) if len(recent) else None

    async def close(self) -> None:
        await self.client.close()
