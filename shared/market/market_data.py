"""`MarketData`: the one port the executor, backtester and ai services read candles, prices and views from.

Sources: stored candles (bundled real history, user imports; larger timeframes resampled from smaller
stored ones into complete candles only) and one live source: the deterministic simulator (default) or
Hyperliquid (when `hyperliquid_url` is configured). Every series comes from exactly ONE of them and
says which (`Sourced.source`, `MarketView.source`: `store`, `simulator` or `hyperliquid`); the rule
that picks it is in `sourcing.py`. In short: the market *now* is the live source's whenever it has the
symbol; a range that overlaps stored history gets the stored candles only (a note says what is not
stored; holes stay holes); a range with no stored candles gets the live source's, whole; a symbol only
the store has (an import) is served up to its last stored candle, and says so.

Live views (`view()` with no moment: test runs, live runs, the query endpoint) follow that rule per
series. A view served by the live source is at `now`, priced at the live price. A view served by the
store (a symbol with no live source) is at the close of its last stored candle: `price` is that
close and `timestamp` that time, so a program and the API see when the data is from (`note` says it).

Time: candles are identified by their open time; only candles CLOSED at the reference time are handed
out (`as_of`: now for `candles()` and live views, the bar's close in a backtest), so nothing can look
ahead. `now()` is the wall clock, or a sped-up clock (`live_speed`) for demos with the simulator,
running from `anchor_ms` (market time = wall time there): `MARKET_CLOCK_ANCHOR`, shared by every
process of a platform so replicas and restarted processes agree on "now"; without it, start-up.

Symbols: case-insensitive (`btc` finds `BTC`); one validity rule (`shared.messages.market.Symbol`).
Which symbols are stored is cached for `coverage_ttl_s`, and re-read before a symbol is called
unknown, so a symbol another process just imported is found at once.

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
from shared.market.errors import MarketDataUnavailableError, NoCandlesError, UnknownSymbolError
from shared.market.hyperliquid import HyperliquidClient, HyperliquidSource
from shared.market.simulator import Simulator
from shared.market.sourcing import STORE, Sourced, SourcePlan
from shared.market.timeframes import DAY_MS, ceil_time, floor_time, parse_timeframe, timeframe_ms
from shared.market.view import MarketView
from shared.market.views import BacktestView, LiveView, Series, _Family
from shared.messages.market import symbol_problem
from shared.timefmt import now_ms, to_iso

__all__ = ["MarketData", "MarketRequestError", "Quote", "Sourced", "build_market_data"]

DEFAULT_LIMIT = 1000
MAX_CANDLES = 5_000_000  # one request; ~240 MB of arrays (ten years of 1m candles)
IMPORT_SOURCE = "import"
_MAX_WIDENINGS = 12  # a latest-candles request over sparse stored data reaches back at most 2**12 windows


class MarketRequestError(ValueError):
    """A market-data request that cannot be answered as asked (range too large, end before start, bad symbol)."""


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


# --- the facade ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Quote:
    """A price, the moment it is for, and its source."""

    price: float
    time_ms: int
    source: str


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
        anchor_ms: int | None = None,
    ) -> None:
        if not live_speed > 0:
            raise ValueError("live_speed must be > 0")
        self.store = store
        self.live = live
        self.live_speed = float(live_speed)
        self._clock = clock
        self._sleep = sleep
        self._anchor = clock() if anchor_ms is None else int(anchor_ms)
        self._coverage: dict[str, dict[str, Coverage]] | None = None
        self._coverage_at = 0.0
        self._coverage_ttl = coverage_ttl_s

    # -- time --------------------------------------------------------------------------------------
    def now(self) -> int:
        """Market time in epoch ms: the wall clock, sped up by `live_speed` since the anchor (start-up
        unless `anchor_ms` was given)."""
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

    async def _coverage_index(self, *, refresh: bool = False) -> dict[str, dict[str, Coverage]]:
        if self._fresh() and not refresh:
            return self._coverage  # type: ignore[return-value]
        return self._index(await self.store.coverage())

    def _coverage_index_sync(self, *, refresh: bool = False) -> dict[str, dict[str, Coverage]]:
        if isinstance(self.store, SyncCandleReader):
            if self._fresh() and not refresh:
                return self._coverage  # type: ignore[return-value]
            return self._index(self.store.coverage_sync())
        if self._coverage is not None:
            return self._coverage
        raise MarketDataUnavailableError("stored-candle coverage is not loaded yet")

    async def coverage(self) -> list[Coverage]:
        """What is stored, per (symbol, timeframe)."""
        index = await self._coverage_index()
        return [cov for per_symbol in index.values() for cov in per_symbol.values()]

    async def symbols(self) -> list[str]:
        """Every symbol some source has, sorted."""
        index = await self._coverage_index()
        return sorted(set(index) | set(await self.live.symbols()))

    @staticmethod
    def _match(symbol: str, names: Iterable[str]) -> str | None:
        """The known spelling of `symbol`: exact, else case-insensitive; None when there is none."""
        names = set(names)
        if symbol in names:
            return symbol
        return {name.upper(): name for name in names}.get(symbol.upper())

    def _unknown(self, symbol: str, names: Iterable[str]) -> UnknownSymbolError:
        known = sorted(set(names))
        shown = ", ".join(known[:30]) + (", …" if len(known) > 30 else "")
        return UnknownSymbolError(f"unknown symbol {symbol!r}; known symbols: {shown}")

    async def _symbol(self, symbol: str) -> str:
        """The canonical spelling of a symbol some source has; UnknownSymbolError otherwise.

        A miss re-reads the stored coverage before refusing: another process (the CLI import, another
        worker) may have stored the symbol since the cache was filled.
        """
        if symbol_problem(symbol) is not None:
            raise UnknownSymbolError(symbol_problem(symbol))
        index = await self._coverage_index()
        if symbol in index:
            return symbol
        live = await self.live.symbols()
        found = self._match(symbol, [*index, *live])
        if found is None:
            index = await self._coverage_index(refresh=True)
            found = self._match(symbol, [*index, *live])
        if found is None:
            raise self._unknown(symbol, [*index, *live])
        return found

    def _symbol_sync(self, symbol: str) -> str:
        if symbol_problem(symbol) is not None:
            raise UnknownSymbolError(symbol_problem(symbol))
        index = self._coverage_index_sync()
        if symbol in index:
            return symbol
        live = self.live.sync.symbols() if self.live.sync is not None else []
        found = self._match(symbol, [*index, *live])
        if found is None and isinstance(self.store, SyncCandleReader):
            index = self._coverage_index_sync(refresh=True)
            found = self._match(symbol, [*index, *live])
        if found is None:
            if self.live.sync is None:
                raise MarketDataUnavailableError(
                    f"{symbol} was not preloaded; with the {self.live.name} source list it in preload=[(symbol, timeframe)]")
            raise self._unknown(symbol, [*index, *live])
        return found

    async def canonical_symbol(self, symbol: str) -> str:
        """How `symbol` is spelled here: a known source's spelling, else upper case (for a new import)."""
        problem = symbol_problem(symbol)
        if problem is not None:
            raise MarketRequestError(problem)
        try:
            return await self._symbol(symbol)
        except UnknownSymbolError:
            return symbol.upper()

    async def _live_has(self, symbol: str) -> bool:
        return symbol in await self.live.symbols()

    def _live_has_sync(self, symbol: str) -> bool | None:
        return self.live.sync.has(symbol) if self.live.sync is not None else None

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
            want = None
            if limit is not None:
                end = min(end, start + limit * period)
        if end_ms is not None and start_ms is not None and end_ms < start_ms:
            raise MarketRequestError(f"end {to_iso(int(end_ms))} is before start {to_iso(int(start_ms))}")
        if (end - start) // period > MAX_CANDLES:
            raise MarketRequestError(f"too many candles requested ({(end - start) // period:,}); at most {MAX_CANDLES:,} per request")
        return tf, period, max(start, 0), end, want

    async def series(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None,
                     limit: int | None = None, *, as_of_ms: int | None = None, live: bool | None = None,
                     warmup: int = 0) -> Sourced:
        """Closed candles (as of now, or `as_of_ms`) with open time in [start_ms, end_ms), from ONE source.

        Without `start_ms`: the last `limit` (default 1000) candles before `end_ms`. With it: candles
        from `start_ms` on, at most `limit` of them (page forward by passing the next open time).
        `live`: answer as the market now (live source first); by default, when neither a start, an end
        nor a moment is given. `warmup`: that many earlier candles too, from the same source.
        """
        symbol = await self._symbol(symbol)
        tf, _, start, end, want = self._window(timeframe, start_ms, end_ms, limit, as_of_ms)
        plan = SourcePlan(
            symbol, tf, start, end, want=want, warmup=warmup, coverage=(await self._coverage_index()).get(symbol, {}),
            live_name=self.live.name, live_has=await self._live_has(symbol),
            live_first=(start_ms is None and end_ms is None and as_of_ms is None) if live is None else live,
        )
        lo, hi = plan.window
        if plan.source != STORE:
            return plan.answer_live(await self.live.candles(symbol, tf, lo, hi) if hi > lo else CandleArrays.empty())
        for _ in range(_MAX_WIDENINGS):
            stored = {r.timeframe: await self.store.read(symbol, r.timeframe, r.start_ms, r.end_ms) for r in plan.reads(lo, hi)}
            candles = plan.merge(stored, lo, hi)
            wider = plan.widen(lo, hi, len(candles))
            if wider is None:
                break
            lo = wider
        return plan.answer_stored(candles, lo, hi)

    def _series_sync(self, symbol: str, tf: str, start: int, end: int, *, want: int | None, warmup: int = 0,
                     live: bool) -> Sourced:
        """`series` for a canonical symbol and an aligned window, synchronously (views loading on demand)."""
        plan = SourcePlan(
            symbol, tf, start, end, want=want, warmup=warmup, coverage=self._coverage_index_sync().get(symbol, {}),
            live_name=self.live.name, live_has=self._live_has_sync(symbol), live_first=live,
        )
        lo, hi = plan.window
        if plan.source != STORE:
            assert self.live.sync is not None  # the plan refuses a live source it cannot ask synchronously
            return plan.answer_live(self.live.sync.candles(symbol, tf, lo, hi) if hi > lo else CandleArrays.empty())
        if not isinstance(self.store, SyncCandleReader):
            raise MarketDataUnavailableError(
                f"{symbol} {tf} is in the candle store, which cannot be read synchronously; pass it in preload=[(symbol, timeframe)]")
        for _ in range(_MAX_WIDENINGS):
            stored = {r.timeframe: self.store.read_sync(symbol, r.timeframe, r.start_ms, r.end_ms) for r in plan.reads(lo, hi)}
            candles = plan.merge(stored, lo, hi)
            wider = plan.widen(lo, hi, len(candles))
            if wider is None:
                break
            lo = wider
        return plan.answer_stored(candles, lo, hi)

    async def candles(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None,
                      limit: int | None = None, *, as_of_ms: int | None = None, live: bool | None = None) -> CandleArrays:
        """The candles of `series(...)` (same arguments), without the source; for callers that need only them."""
        return (await self.series(symbol, timeframe, start_ms, end_ms, limit, as_of_ms=as_of_ms, live=live)).candles

    # -- price ----------------------------------------------------------------------------------------
    def _moment(self, sourced: Sourced, at: int, live_price: float | None) -> Quote:
        """Price and time of a series' view at `at`: the live price then, or the last stored close and its time."""
        if sourced.source != STORE and live_price is not None:
            return Quote(live_price, at, sourced.source)
        if not len(sourced.candles):
            reason = f"; {sourced.note}" if sourced.note else ""
            raise NoCandlesError(f"no {sourced.symbol} {sourced.timeframe} candles had closed by {to_iso(at)}{reason}")
        period = timeframe_ms(sourced.timeframe)
        return Quote(float(sourced.candles.close[-1]), int(sourced.candles.time[-1]) + period, sourced.source)

    def _finest(self, symbol: str, index: dict[str, dict[str, Coverage]]) -> str:
        stored = index.get(symbol, {})
        return min(stored, key=timeframe_ms) if stored else "1m"

    async def quote(self, symbol: str, at_ms: int | None = None) -> Quote:
        """The price at `at_ms` (default: now, from the live source when it has the symbol), with its
        moment and source: by the rule of `sourcing.py` on the finest stored timeframe of the symbol."""
        symbol = await self._symbol(symbol)
        at = self.now() if at_ms is None else int(at_ms)
        index = await self._coverage_index()
        if (at_ms is None or symbol not in index) and await self._live_has(symbol):  # the common case, no candles needed
            price = await self.live.price(symbol, at)
            if price is not None:
                return Quote(price, at, self.live.name)
        tf = self._finest(symbol, index)
        sourced = await self.series(symbol, tf, end_ms=floor_time(at, timeframe_ms(tf)), limit=1, as_of_ms=at,
                                    live=at_ms is None)
        live_price = await self.live.price(symbol, at) if sourced.source != STORE else None
        return self._moment(sourced, at, live_price)

    async def price(self, symbol: str, at_ms: int | None = None) -> float:
        """`quote(...).price`."""
        return (await self.quote(symbol, at_ms)).price

    # -- views --------------------------------------------------------------------------------------
    @staticmethod
    def _live_bars(period: int, at: int, history: int) -> tuple[int, int]:
        """(end, bars): `history` bars, and at least back to 00:00 UTC so the session VWAP is known."""
        end = floor_time(at, period)
        since_midnight = (end - floor_time(end - period, DAY_MS)) // period if end > 0 else 0
        return end, max(history, since_midnight)

    async def view(self, symbol: str, timeframe: str, at_ms: int | None = None, history: int = 500, *,
                   preload: Iterable[tuple[str, str | None]] = (), live: bool | None = None) -> LiveView:
        """The market as a program sees it at `at_ms` (default now): the last `history` closed candles
        (more on intraday timeframes, back to 00:00 UTC, for the session VWAP) and the price. Each series
        of the view has one source (`view.source`); see the module docstring. `live`: the live source
        first (the market now); by default when `at_ms` is not given. A live run at a trigger's moment
        passes `live=True` so it trades on the live source like a test run, whatever is stored."""
        if isinstance(history, bool) or not isinstance(history, int) or not 1 <= history <= 100_000:
            raise MarketRequestError(f"history must be a whole number from 1 to 100000, got {history!r}")
        tf = parse_timeframe(timeframe)
        live = at_ms is None if live is None else live
        at = self.now() if at_ms is None else int(at_ms)
        canonical = await self._symbol(symbol)
        loaded: dict[tuple[str, str], tuple[Sourced, Quote]] = {}
        for sym, t in [(canonical, tf), *((s, parse_timeframe(x) if x else tf) for s, x in preload)]:
            sym = await self._symbol(sym)
            if (sym, t) in loaded:
                continue
            end, bars = self._live_bars(timeframe_ms(t), at, history)
            sourced = await self.series(sym, t, end_ms=end, limit=bars, as_of_ms=at, live=live)
            live_price = await self.live.price(sym, at) if sourced.source != STORE else None
            loaded[(sym, t)] = (sourced, self._moment(sourced, at, live_price))

        def load(sym: str, t: str) -> MarketView:
            key = (sym, t)
            if key not in loaded:
                sym = self._symbol_sync(sym)
                key = (sym, t)
                if key in family.views:
                    return family.views[key]
            if key in loaded:
                sourced, quote = loaded[key]
            else:
                end, bars = self._live_bars(timeframe_ms(t), at, history)
                sourced = self._series_sync(sym, t, end - bars * timeframe_ms(t), end, want=bars, live=live)
                live_price = None
                if sourced.source != STORE:
                    assert self.live.sync is not None
                    live_price = self.live.sync.price(sym, at)
                quote = self._moment(sourced, at, live_price)
            return LiveView(Series(sym, t, sourced.candles, source=sourced.source, note=sourced.note), quote.time_ms,
                            quote.price, family)

        family = _Family(load)
        root = family.get(canonical, tf)
        assert isinstance(root, LiveView)
        return root

    async def backtest_view(self, symbol: str, timeframe: str, start_ms: int, end_ms: int, warmup: int = 500, *,
                            preload: Iterable[tuple[str, str | None]] = ()) -> BacktestView:
        """A cursor over the bars with open time in [start_ms, end_ms), plus `warmup` earlier bars of history.

        One source per series, chosen on [start_ms, end_ms) (the warm-up comes from the same source):
        a range that overlaps stored history runs on the stored candles only (`view.note` says what
        part of the range is not stored), any other range on the live source. Bars must have closed by
        `end_ms` (the backtest's own clock), not by now: the simulator's future is as valid a market as
        its past, so a backtest may run past today on simulated data.
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

        async def fetch(sym: str, t: str) -> Sourced:
            return await self.series(sym, t, ceil_time(start, timeframe_ms(t)), end, as_of_ms=end, live=False, warmup=warmup)

        main = await fetch(canonical, tf)
        loaded: dict[tuple[str, str], Sourced] = {(canonical, tf): main}
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
                loaded[key] = self._series_sync(sym, t, ceil_time(start, p), floor_time(end, p), want=None, warmup=warmup,
                                                live=False)
            sourced = loaded[key]
            if not len(sourced.candles):
                reason = f"; {sourced.note}" if sourced.note else ""
                raise NoCandlesError(f"no {sym} {t} candles between {to_iso(start)} and {to_iso(end)}{reason}")
            return root.child(Series(sym, t, sourced.candles, source=sourced.source, note=sourced.note))

        family = _Family(load)
        offset = int(np.searchsorted(main.candles.time, start, "left"))
        if offset >= len(main.candles):
            reason = f"; {main.note}" if main.note else ""
            raise NoCandlesError(f"no {canonical} {tf} candles between {to_iso(start)} and {to_iso(end)}{reason}")
        root = BacktestView(Series(canonical, tf, main.candles, source=main.source, note=main.note), offset, family)
        return root

    # -- imports & live mode ----------------------------------------------------------------------------
    async def import_candles(self, symbol: str, timeframe: str, arrays: CandleArrays, *, source: str = IMPORT_SOURCE) -> int:
        """Store candles (idempotent per (symbol, timeframe, time)) under the symbol's canonical spelling
        (`canonical_symbol`). Returns rows inserted or changed. Raises MarketRequestError for an invalid
        symbol, CandleDataError for invalid candles; either way nothing is stored."""
        symbol = await self.canonical_symbol(symbol)
        if len(arrays) > 1 and not np.all(np.diff(arrays.time) > 0):
            arrays = arrays.take(np.argsort(arrays.time, kind="stable"))
        written = await self.store.write(symbol, timeframe, arrays, source=source, replace=True)
        self._coverage = None
        return written

    async def watch(self, symbol: str, timeframe: str) -> AsyncIterator[CandleArrays]:
        """Live mode: yields the newly closed candles each time a candle of `timeframe` closes (from the
        live source when it has the symbol, else as they are stored).

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
            fresh = await self.candles(symbol, tf, next_open, upto, as_of_ms=now, live=True)
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
    clock_anchor_ms: int | None = None,
) -> MarketData:
    """The `MarketData` for a service: stored candles, and as the live source Hyperliquid when
    `hyperliquid_url` is set, else the simulator (seeded by `seed`). `live_speed` only makes sense with
    the simulator; `clock_anchor_ms` is where its sped-up clock starts (see `MarketData.now`)."""
    live: LiveSource
    if hyperliquid_url or hyperliquid_client is not None:
        if live_speed != 1.0:
            raise ValueError("live_speed is a simulator feature; it cannot be used with Hyperliquid")
        client = hyperliquid_client or HyperliquidClient(hyperliquid_url or "")
        live = _HyperliquidLive(HyperliquidSource(client, clock=clock))
    else:
        live = SimulatorSource(Simulator(seed))
    return MarketData(candle_store, live, clock=clock, live_speed=live_speed, sleep=sleep, anchor_ms=clock_anchor_ms)
