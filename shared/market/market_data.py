"""`MarketData`: the one port the executor, backtester and ai services read candles, prices and views from.

Sources, in order of precedence for each candle:
1. Stored candles (bundled real history, user imports) of the requested timeframe;
2. stored candles of a smaller timeframe, resampled (e.g. 1h/4h/1d from the bundled 30m);
3. the live source for everything stored data does not cover: the deterministic simulator (default)
   or Hyperliquid (when `hyperliquid_url` is configured).

"Covered" is decided per candle of the requested timeframe: a candle is covered by a stored series
when stored rows fall inside it, or when it lies in a hole of that series no longer than the gap
tolerance (`max(1 day, 3 bars)`). Small holes stay holes (no candle; mixing simulated prices into
real history would put fake jumps in it); larger holes and everything before/after the stored range
come from the live source. The decision only looks at stored rows within the tolerance of the
candle, so it is the same whatever range was asked: overlapping queries agree.

Time: candles are identified by their open time; only candles CLOSED at the reference time are handed
out (`as_of`: now for `candles()` and live views, the bar's close in a backtest), so nothing can look
ahead. `now()` is the wall clock, or a sped-up clock (`live_speed`) for demos with the simulator.

Sync and async: SQLite reads and the simulator are synchronous and fast, MongoDB and Hyperliquid are
async only. Views (`MarketView` methods are sync) therefore load their own series asynchronously up
front; `ctx.market(...)` loads further series synchronously when the configured sources allow it
(SQLite + simulator, the embedded default), and otherwise needs them listed in `preload=`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shared.market.candle_store import CandleStore, Coverage, SyncCandleReader
from shared.market.candles import CandleArrays
from shared.market.errors import MarketDataUnavailableError, UnknownSymbolError
from shared.market.hyperliquid import HyperliquidClient, HyperliquidSource
from shared.market.resample import resample
from shared.market.simulator import Simulator
from shared.market.timeframes import DAY_MS, ceil_time, finer_timeframes, floor_time, parse_timeframe, timeframe_ms
from shared.market.view import MarketView
from shared.market.views import BacktestView, LiveView, Series, _Family
from shared.timefmt import now_ms, to_iso

__all__ = ["MarketData", "MarketRequestError", "build_market_data", "gap_tolerance_ms"]

DEFAULT_LIMIT = 1000
MAX_CANDLES = 5_000_000  # one request; ~240 MB of arrays (ten years of 1m candles)
IMPORT_SOURCE = "import"


class MarketRequestError(ValueError):
    """A market-data request that cannot be answered as asked (range too large, end before start, bad symbol)."""


def gap_tolerance_ms(period_ms: int) -> int:
    """Longest hole in a stored series that still counts as covered (a gap, not missing data)."""
    return max(DAY_MS, 3 * period_ms)


# --- live sources ------------------------------------------------------------------------------------
class LiveSource(Protocol):
    name: str

    async def symbols(self) -> list[str]: ...

    async def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleArrays: ...

    async def price(self, symbol: str, at_ms: int) -> float | None: ...

    sync: Simulator | None  # a synchronous twin, when there is one


class SimulatorSource:
    """The simulator as a `LiveSource` (its sync twin is itself)."""

    name = "simulator"

    def __init__(self, simulator: Simulator) -> None:
        self.sync: Simulator | None = simulator

    async def symbols(self) -> list[str]:
        return self.sync.symbols()  # type: ignore[union-attr]

    async def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleArrays:
        assert self.sync is not None
        return self.sync.candles(symbol, timeframe, start_ms, end_ms) if self.sync.has(symbol) else CandleArrays.empty()

    async def price(self, symbol: str, at_ms: int) -> float | None:
        assert self.sync is not None
        return self.sync.price(symbol, at_ms) if self.sync.has(symbol) else None


class _HyperliquidLive:
    name = "hyperliquid"
    sync = None

    def __init__(self, source: HyperliquidSource) -> None:
        self.source = source

    async def symbols(self) -> list[str]:
        return await self.source.symbols()

    async def candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleArrays:
        if symbol not in await self.source.symbols():
            return CandleArrays.empty()
        return await self.source.candles(symbol, timeframe, start_ms, end_ms)

    async def price(self, symbol: str, at_ms: int) -> float | None:
        if symbol not in await self.source.symbols():
            return None
        return await self.source.price(symbol, at_ms)


# --- the merge plan (pure) ---------------------------------------------------------------------------
@dataclass(slots=True)
class _Read:
    timeframe: str
    start_ms: int
    end_ms: int


class _Plan:
    """Which stored series to read for a request, and how to merge them with the live source."""

    def __init__(self, symbol: str, timeframe: str, start: int, end: int, coverage: dict[str, Coverage]) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.period = timeframe_ms(timeframe)
        self.start = start
        self.end = end
        self.count = max(0, (end - start) // self.period)
        self.reads: list[_Read] = []
        for tf in [timeframe, *finer_timeframes(timeframe)]:
            cov = coverage.get(tf)
            if cov is None or not self.count:
                continue
            src = timeframe_ms(tf)
            pad = gap_tolerance_ms(src) + src
            if cov.last_ms + pad < start or cov.first_ms - pad >= end:
                continue
            self.reads.append(_Read(tf, start - pad, end + pad))

    def merge(self, stored: dict[str, CandleArrays]) -> tuple[list[CandleArrays], list[tuple[int, int]]]:
        """Stored parts that win, and the runs [start, end) left for the live source."""
        claimed = np.zeros(self.count, dtype=bool)
        parts: list[CandleArrays] = []
        opens = self.start + np.arange(self.count, dtype=np.int64) * self.period
        for read in self.reads:
            rows = stored.get(read.timeframe)
            if rows is None or not len(rows):
                continue
            src = timeframe_ms(read.timeframe)
            t = rows.time
            lo = np.searchsorted(t, opens, "left")
            hi = np.searchsorted(t, opens + self.period, "left")
            inside = hi > lo
            before = t[np.maximum(lo - 1, 0)]
            after = t[np.minimum(hi, len(t) - 1)]
            in_gap = (lo > 0) & (hi < len(t)) & (after - before - src <= gap_tolerance_ms(src))
            wins = (inside | in_gap) & ~claimed
            if not wins.any():
                continue
            claimed |= wins
            within = rows.between(self.start, self.end)
            bucket = (within.time - self.start) // self.period
            taken = within.take(wins[bucket])
            parts.append(taken if src == self.period else resample(taken, self.period))
        runs = []
        free = np.flatnonzero(~claimed)
        if free.size:
            breaks = np.flatnonzero(np.diff(free) > 1)
            firsts = np.concatenate([[free[0]], free[breaks + 1]])
            lasts = np.concatenate([free[breaks], [free[-1]]])
            runs = [(self.start + int(a) * self.period, self.start + (int(b) + 1) * self.period) for a, b in zip(firsts, lasts, strict=True)]
        return parts, runs


# --- the facade ---------------------------------------------------------------------------------------
class MarketData:
    """The market-data port (see module docstring). Build it with `build_market_data`."""

    def __init__(
        self,
        store: CandleStore,
        live: LiveSource,
        *,
        clock: Callable[[], int] = now_ms,
        live_speed: float = 1.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        coverage_ttl_s: float = 5.0,
    ) -> None:
        if not live_speed > 0:
            raise ValueError("live_speed must be > 0")
        self.store = store
        self.live = live
        self.live_speed = float(live_speed)
        self._clock = clock
        self._sleep = sleep
        self._anchor = clock()
        self._coverage: dict[str, dict[str, Coverage]] | None = None
        self._coverage_at = 0.0
        self._coverage_ttl = coverage_ttl_s

    # -- time --------------------------------------------------------------------------------------
    def now(self) -> int:
        """Market time in epoch ms: the wall clock, sped up by `live_speed` since start-up."""
        wall = self._clock()
        if self.live_speed == 1.0:
            return wall
        return self._anchor + int((wall - self._anchor) * self.live_speed)

    # -- coverage & symbols -------------------------------------------------------------------------
    def _index(self, rows: list[Coverage]) -> dict[str, dict[str, Coverage]]:
        index: dict[str, dict[str, Coverage]] = {}
        for cov in rows:
            index.setdefault(cov.symbol, {})[cov.timeframe] = cov
        self._coverage, self._coverage_at = index, time.monotonic()
        return index

    def _fresh(self) -> bool:
        return self._coverage is not None and time.monotonic() - self._coverage_at < self._coverage_ttl

    async def _coverage_index(self) -> dict[str, dict[str, Coverage]]:
        if self._fresh():
            return self._coverage  # type: ignore[return-value]
        return self._index(await self.store.coverage())

    def _coverage_index_sync(self) -> dict[str, dict[str, Coverage]]:
        if self._fresh() or (self._coverage is not None and not isinstance(self.store, SyncCandleReader)):
            return self._coverage  # type: ignore[return-value]
        if isinstance(self.store, SyncCandleReader):
            return self._index(self.store.coverage_sync())
        raise MarketDataUnavailableError("stored-candle coverage is not loaded yet")

    async def coverage(self) -> list[Coverage]:
        """What is stored, per (symbol, timeframe)."""
        index = await self._coverage_index()
        return [cov for per_symbol in index.values() for cov in per_symbol.values()]

    async def symbols(self) -> list[str]:
        """Every symbol some source has, sorted."""
        index = await self._coverage_index()
        return sorted(set(index) | set(await self.live.symbols()))

    def _resolve(self, symbol: str, known: Iterable[str]) -> str:
        """The known spelling of `symbol` (exact, else case-insensitive); UnknownSymbolError otherwise."""
        if not isinstance(symbol, str) or not symbol.strip():
            raise UnknownSymbolError(f"invalid symbol {symbol!r}")
        names = set(known)
        if symbol in names:
            return symbol
        folded = {name.upper(): name for name in names}
        match = folded.get(symbol.strip().upper())
        if match is None:
            shown = ", ".join(sorted(names)[:30]) + (", …" if len(names) > 30 else "")
            raise UnknownSymbolError(f"unknown symbol {symbol!r}; known symbols: {shown}")
        return match

    async def _symbol(self, symbol: str) -> str:
        index = await self._coverage_index()
        if symbol in index:
            return symbol
        return self._resolve(symbol, set(index) | set(await self.live.symbols()))

    def _symbol_sync(self, symbol: str) -> str:
        index = self._coverage_index_sync()
        if symbol in index:
            return symbol
        if self.live.sync is None:
            try:
                return self._resolve(symbol, index)
            except UnknownSymbolError:
                raise MarketDataUnavailableError(
                    f"{symbol} was not preloaded; with the {self.live.name} source list it in preload=[(symbol, timeframe)]"
                ) from None
        return self._resolve(symbol, set(index) | set(self.live.sync.symbols()))

    # -- candles ------------------------------------------------------------------------------------
    def _window(self, timeframe: str, start_ms: int | None, end_ms: int | None, limit: int | None,
                 as_of_ms: int | None) -> tuple[str, int, int, int, int | None]:
        tf = parse_timeframe(timeframe)
        period = timeframe_ms(tf)
        as_of = self.now() if as_of_ms is None else int(as_of_ms)
        end = floor_time(as_of, period)  # the candle opening here has not closed yet
        if end_ms is not None:
            end = min(end, ceil_time(int(end_ms), period))
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise MarketRequestError(f"limit must be a positive whole number, got {limit!r}")
        if start_ms is None:
            want = limit or DEFAULT_LIMIT
            start = end - want * period
        else:
            start = ceil_time(int(start_ms), period)
            want = limit
            if limit is not None:
                end = min(end, start + limit * period)
        if end_ms is not None and start_ms is not None and end_ms < start_ms:
            raise MarketRequestError(f"end {to_iso(int(end_ms))} is before start {to_iso(int(start_ms))}")
        if (end - start) // period > MAX_CANDLES:
            raise MarketRequestError(f"too many candles requested ({(end - start) // period:,}); at most {MAX_CANDLES:,} per request")
        return tf, period, max(start, 0), end, want

    async def candles(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None,
                      limit: int | None = None, *, as_of_ms: int | None = None) -> CandleArrays:
        """Closed candles (as of now, or `as_of_ms`) with open time in [start_ms, end_ms).

        Without `start_ms`: the last `limit` (default 1000) candles before `end_ms`. With it: candles
        from `start_ms` on, at most `limit` of them (page forward by passing the next open time).
        """
        symbol = await self._symbol(symbol)
        tf, period, start, end, want = self._window(timeframe, start_ms, end_ms, limit, as_of_ms)
        result = await self._assemble(symbol, tf, start, end)
        if start_ms is None and want:
            result = await self._fill_back(symbol, tf, period, start, end, want, result)
            result = result.last(want)
        return result

    async def _fill_back(self, symbol: str, tf: str, period: int, start: int, end: int, want: int,
                         result: CandleArrays) -> CandleArrays:
        """Stored data has holes: reach further back until `want` candles are found (bounded effort)."""
        span = end - start
        for _ in range(4):
            if len(result) >= want or start <= 0:
                break
            span *= 2
            start = max(0, end - span)
            result = await self._assemble(symbol, tf, start, end)
        return result

    async def _assemble(self, symbol: str, tf: str, start: int, end: int) -> CandleArrays:
        if end <= start:
            return CandleArrays.empty()
        plan = _Plan(symbol, tf, start, end, (await self._coverage_index()).get(symbol, {}))
        stored = {r.timeframe: await self.store.read(symbol, r.timeframe, r.start_ms, r.end_ms) for r in plan.reads}
        parts, runs = plan.merge(stored)
        for a, b in runs:
            parts.append(await self.live.candles(symbol, tf, a, b))
        return CandleArrays.concat(parts)

    def _assemble_sync(self, symbol: str, tf: str, start: int, end: int) -> CandleArrays:
        if end <= start:
            return CandleArrays.empty()
        plan = _Plan(symbol, tf, start, end, self._coverage_index_sync().get(symbol, {}))
        if plan.reads and not isinstance(self.store, SyncCandleReader):
            raise MarketDataUnavailableError(
                f"{symbol} {tf} is in the candle store, which cannot be read synchronously; pass it in preload=[(symbol, timeframe)]"
            )
        stored = {r.timeframe: self.store.read_sync(symbol, r.timeframe, r.start_ms, r.end_ms) for r in plan.reads}  # type: ignore[attr-defined]
        parts, runs = plan.merge(stored)
        if runs and self.live.sync is None:
            raise MarketDataUnavailableError(
                f"{symbol} {tf} comes from {self.live.name}, which cannot be read synchronously; pass it in preload=[(symbol, timeframe)]"
            )
        for a, b in runs:
            if self.live.sync is not None and self.live.sync.has(symbol):
                parts.append(self.live.sync.candles(symbol, tf, a, b))
        return CandleArrays.concat(parts)

    def _candles_sync(self, symbol: str, tf: str, start: int, end: int, want: int | None) -> CandleArrays:
        result = self._assemble_sync(symbol, tf, start, end)
        if want:
            span = end - start
            for _ in range(4):
                if len(result) >= want or start <= 0:
                    break
                span *= 2
                start = max(0, end - span)
                result = self._assemble_sync(symbol, tf, start, end)
            result = result.last(want)
        return result

    # -- price ----------------------------------------------------------------------------------------
    def _stored_price_plan(self, symbol: str, at: int) -> tuple[str, int, int] | None:
        """The finest stored series whose range (with gap tolerance) contains `at`, and what to read."""
        per_symbol = (self._coverage or {}).get(symbol, {})
        for tf in sorted(per_symbol, key=timeframe_ms):
            cov, src = per_symbol[tf], timeframe_ms(tf)
            tol = gap_tolerance_ms(src)
            if cov.first_ms + src <= at <= cov.last_ms + src + tol:
                return tf, at - tol - src, at
        return None

    @staticmethod
    def _last_close(rows: CandleArrays, period: int, at: int) -> float | None:
        closed = rows.time + period <= at
        if not closed.any():
            return None
        return float(rows.close[np.flatnonzero(closed)[-1]])

    async def price(self, symbol: str, at_ms: int | None = None) -> float:
        """Last price at `at_ms` (default now): stored close where stored data covers it, else the live source's."""
        symbol = await self._symbol(symbol)
        at = self.now() if at_ms is None else int(at_ms)
        await self._coverage_index()
        plan = self._stored_price_plan(symbol, at)
        if plan is not None:
            tf, lo, hi = plan
            value = self._last_close(await self.store.read(symbol, tf, lo, hi), timeframe_ms(tf), at)
            if value is not None:
                return value
        value = await self.live.price(symbol, at)
        if value is None:
            raise UnknownSymbolError(f"no price for {symbol} at {to_iso(at)}")
        return value

    def _price_sync(self, symbol: str, at: int, fallback: CandleArrays) -> float:
        self._coverage_index_sync()
        plan = self._stored_price_plan(symbol, at)
        if plan is not None and isinstance(self.store, SyncCandleReader):
            tf, lo, hi = plan
            value = self._last_close(self.store.read_sync(symbol, tf, lo, hi), timeframe_ms(tf), at)
            if value is not None:
                return value
        elif plan is None and self.live.sync is not None and self.live.sync.has(symbol):
            return self.live.sync.price(symbol, at)
        if not len(fallback):
            raise UnknownSymbolError(f"no price for {symbol} at {to_iso(at)}")
        return float(fallback.close[-1])

    # -- views --------------------------------------------------------------------------------------
    @staticmethod
    def _live_bars(period: int, at: int, history: int) -> tuple[int, int]:
        """(end, bars): `history` bars, and at least back to 00:00 UTC so the session VWAP is known."""
        end = floor_time(at, period)
        since_midnight = (end - floor_time(end - period, DAY_MS)) // period if end > 0 else 0
        return end, max(history, since_midnight)

    async def view(self, symbol: str, timeframe: str, at_ms: int | None = None, history: int = 500, *,
                   preload: Iterable[tuple[str, str | None]] = ()) -> LiveView:
        """The market as a program sees it at `at_ms` (default now): the last `history` closed candles
        (more on intraday timeframes, back to 00:00 UTC, for the session VWAP) and the current price."""
        if isinstance(history, bool) or not isinstance(history, int) or not 1 <= history <= 100_000:
            raise MarketRequestError(f"history must be a whole number from 1 to 100000, got {history!r}")
        tf = parse_timeframe(timeframe)
        at = self.now() if at_ms is None else int(at_ms)
        canonical = await self._symbol(symbol)
        loaded: dict[tuple[str, str], tuple[CandleArrays, float]] = {}
        for sym, t in [(canonical, tf), *((s, parse_timeframe(x) if x else tf) for s, x in preload)]:
            sym = await self._symbol(sym)
            if (sym, t) in loaded:
                continue
            end, bars = self._live_bars(timeframe_ms(t), at, history)
            arrays = await self.candles(sym, t, end_ms=end, limit=bars, as_of_ms=at)
            loaded[(sym, t)] = (arrays, await self.price(sym, at))

        def load(sym: str, t: str) -> MarketView:
            key = (sym, t)
            if key not in loaded:
                sym = self._symbol_sync(sym)
                key = (sym, t)
                if key in family.views:
                    return family.views[key]
            if key in loaded:
                arrays, price = loaded[key]
            else:
                end, bars = self._live_bars(timeframe_ms(t), at, history)
                arrays = self._candles_sync(sym, t, end - bars * timeframe_ms(t), end, bars)
                price = self._price_sync(sym, at, arrays)
            return LiveView(Series(sym, t, arrays), at, price, family)

        family = _Family(load)
        root = family.get(canonical, tf)
        assert isinstance(root, LiveView)
        return root

    async def backtest_view(self, symbol: str, timeframe: str, start_ms: int, end_ms: int, warmup: int = 500, *,
                            preload: Iterable[tuple[str, str | None]] = ()) -> BacktestView:
        """A cursor over the bars with open time in [start_ms, end_ms), plus `warmup` earlier bars of history.

        Bars must have closed by `end_ms` (the backtest's own clock), not by now: the simulator's
        future is as valid a market as its past, so a backtest may run past today on simulated data.
        """
        if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup <= 100_000:
            raise MarketRequestError(f"warmup must be a whole number from 0 to 100000, got {warmup!r}")
        if end_ms <= start_ms:
            raise MarketRequestError(f"the backtest ends ({to_iso(int(end_ms))}) before it starts ({to_iso(int(start_ms))})")
        tf = parse_timeframe(timeframe)
        period = timeframe_ms(tf)
        canonical = await self._symbol(symbol)
        start = ceil_time(int(start_ms), period)
        end = ceil_time(int(end_ms), period)

        async def fetch(sym: str, t: str) -> CandleArrays:
            p = timeframe_ms(t)
            first = ceil_time(start, p)
            return await self.candles(sym, t, max(0, first - warmup * p), end, as_of_ms=end)

        main = await fetch(canonical, tf)
        loaded: dict[tuple[str, str], CandleArrays] = {(canonical, tf): main}
        for sym, t in preload:
            sym, t2 = await self._symbol(sym), parse_timeframe(t) if t else tf
            if (sym, t2) not in loaded:
                loaded[(sym, t2)] = await fetch(sym, t2)

        def load(sym: str, t: str) -> MarketView:
            key = (sym, t)
            if key not in loaded:
                sym = self._symbol_sync(sym)
                key = (sym, t)
                if key in family.views:
                    return family.views[key]
            if key not in loaded:
                p = timeframe_ms(t)
                first = ceil_time(start, p)
                lo = max(0, first - warmup * p)
                loaded[key] = self._assemble_sync(sym, t, lo, floor_time(end, p))
            series = Series(sym, t, loaded[key])
            if not len(series.candles):
                raise UnknownSymbolError(f"no {sym} {t} candles between {to_iso(start)} and {to_iso(end)}")
            return root.child(series)

        family = _Family(load)
        offset = int(np.searchsorted(main.time, start, "left"))
        root = BacktestView(Series(canonical, tf, main), offset, family)
        return root

    # -- imports & live mode ----------------------------------------------------------------------------
    async def import_candles(self, symbol: str, timeframe: str, arrays: CandleArrays, *, source: str = IMPORT_SOURCE) -> int:
        """Store candles (idempotent per (symbol, timeframe, time); stored candles win over the live
        source from then on). Returns rows inserted or changed. Raises CandleDataError, nothing stored."""
        if not isinstance(symbol, str) or not symbol.strip() or len(symbol.strip()) > 32:
            raise MarketRequestError(f"invalid symbol {symbol!r}")
        if len(arrays) > 1 and not np.all(np.diff(arrays.time) > 0):
            arrays = arrays.take(np.argsort(arrays.time, kind="stable"))
        written = await self.store.write(symbol.strip(), timeframe, arrays, source=source, replace=True)
        self._coverage = None
        return written

    async def watch(self, symbol: str, timeframe: str) -> AsyncIterator[CandleArrays]:
        """Live mode: yields the newly closed candles each time a candle of `timeframe` closes.

        With `live_speed` > 1 (simulator demos) market time runs that much faster than the wall clock.
        """
        symbol = await self._symbol(symbol)
        tf = parse_timeframe(timeframe)
        period = timeframe_ms(tf)
        next_open = floor_time(self.now(), period)
        while True:
            now = self.now()
            due = next_open + period
            if now < due:
                await self._sleep((due - now) / self.live_speed / 1000.0)
                continue
            upto = floor_time(now, period)
            fresh = await self.candles(symbol, tf, next_open, upto, as_of_ms=now)
            next_open = upto
            if len(fresh):
                yield fresh

    async def close(self) -> None:
        """Close the live source's connections (the candle store belongs to the caller, who closes it)."""
        closer = getattr(self.live, "source", None)
        if closer is not None:
            await closer.close()


def build_market_data(
    candle_store: CandleStore,
    *,
    seed: int = 42,
    hyperliquid_url: str | None = None,
    live_speed: float = 1.0,
    clock: Callable[[], int] = now_ms,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    hyperliquid_client: HyperliquidClient | None = None,
) -> MarketData:
    """The `MarketData` for a service: stored candles first, then Hyperliquid when `hyperliquid_url`
    is set, else the simulator (seeded by `seed`). `live_speed` only makes sense with the simulator."""
    live: LiveSource
    if hyperliquid_url or hyperliquid_client is not None:
        if live_speed != 1.0:
            raise ValueError("live_speed is a simulator feature; it cannot be used with Hyperliquid")
        client = hyperliquid_client or HyperliquidClient(hyperliquid_url or "")
        live = _HyperliquidLive(HyperliquidSource(client, clock=clock))
    else:
        live = SimulatorSource(Simulator(seed))
    return MarketData(candle_store, live, clock=clock, live_speed=live_speed, sleep=sleep)
