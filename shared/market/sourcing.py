"""One source per series: which source answers a request for candles, and what the answer says.

Why: stitching stored real history (BTC 2017-2019 at $3,000-$20,000) and the simulator's present-day
levels ($60,000-$110,000) candle by candle put 12-25x jumps inside one series, which every indicator
and backtest then took for a market move. So a series has exactly one source, and every answer names
it: `store` (bundled history and imports), `simulator` or `hyperliquid` (the live source).

The rule, the same for candles, program views, backtests and live mode:

1. A *live* request (the market now: a view with no chosen moment, the latest candles with no start
   and no end, live mode) is answered by the live source whenever it has the symbol. "Now" belongs to
   the live source; stored candles are history, even when they reach close to now.
2. Any other request is answered by the store when the requested range overlaps the symbol's stored
   range at that timeframe (stored at it, or at a smaller timeframe that divides it: resampled, see
   `resample.py`, complete candles only). Only stored candles are returned (`source: store`); `note`
   says when the request reaches outside the stored range and how many candles inside it are
   missing. Holes inside stored history stay holes, whatever their size: nothing is filled in.
3. A range the store does not touch is served whole by the live source, at its own price levels.
4. A symbol only the store has (an import, no live source), for a range it does not touch: a request
   for the latest candles before some time (a live view included) gets the last stored candles, and
   `note` says the data ends there; a request for an explicit range gets no candles and a note saying
   what is stored. A symbol stored only at timeframes larger than the one asked is refused
   (`NoCandlesError`, naming the stored timeframes).

Within the store, a series stored at the requested timeframe wins, candle by candle, over one
resampled from a smaller stored timeframe (an import of 1h next to the bundled 30m): both are the
store, and a stored candle of the asked size is the better record of that period.

This module is pure (no I/O): `SourcePlan` decides, says what to read, and builds the answer from
what was read; `MarketData` does the reading, synchronously or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from shared.market.candle_store import Coverage
from shared.market.candles import CandleArrays
from shared.market.errors import MarketDataUnavailableError, NoCandlesError
from shared.market.resample import resample
from shared.market.timeframes import ceil_time, finer_timeframes, floor_time, timeframe_ms
from shared.timefmt import to_iso

__all__ = ["STORE", "Sourced", "SourcePlan", "StoredRead"]

STORE = "store"


@dataclass(frozen=True, slots=True)
class Sourced:
    """Candles of one series and where they came from."""

    symbol: str
    timeframe: str
    candles: CandleArrays
    source: str  # "store", "simulator" or "hyperliquid"
    note: str | None = None  # what the answer does not contain, in words (None: exactly what was asked)
    stored: tuple[int, int] | None = None  # the stored range [first open, end) when the store answered


@dataclass(frozen=True, slots=True)
class StoredRead:
    timeframe: str
    start_ms: int
    end_ms: int


class SourcePlan:
    """The decision for one request (see module docstring) and what to read for it.

    `start`/`end` are the requested candle open times, aligned to the timeframe, `end` exclusive and
    already limited to closed candles. `want`: for a latest-candles request (no start), how many;
    `warmup`: bars of history before `start` to add from the same source (backtests). `live_has` is
    None when it is not known synchronously (Hyperliquid): then a decision that needs it raises
    `MarketDataUnavailableError`.
    """

    def __init__(self, symbol: str, timeframe: str, start: int, end: int, *, want: int | None, warmup: int = 0,
                 coverage: Mapping[str, Coverage], live_name: str, live_has: bool | None, live_first: bool) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.period = p = timeframe_ms(timeframe)
        self.start, self.end, self.want, self.warmup = start, end, want, warmup
        self.live_name = live_name
        self.live_has = live_has
        # stored series usable at this timeframe, in precedence order, with the [first, end) range of
        # the candles of THIS timeframe they can make (30m stored until 00:30 makes 1d candles until 00:00)
        self.spans: dict[str, tuple[int, int]] = {}
        for tf in [timeframe, *finer_timeframes(timeframe)]:
            cov = coverage.get(tf)
            if cov is not None and cov.rows:
                first, stop = ceil_time(cov.first_ms, p), floor_time(cov.last_ms + timeframe_ms(tf), p)
                if first < stop:
                    self.spans[tf] = (first, stop)
        self.span = (min(a for a, _ in self.spans.values()), max(b for _, b in self.spans.values())) if self.spans else None
        overlaps = self.span is not None and self.span[0] < end and start < self.span[1] and start < end
        if live_has is None and (live_first or not overlaps):
            raise MarketDataUnavailableError(
                f"{symbol} {timeframe}: {live_name} cannot be read synchronously; pass it in preload=[(symbol, timeframe)]")
        if live_first and live_has:
            self.source = live_name
        elif overlaps:
            self.source = STORE
        elif live_has:
            self.source = live_name
        elif self.span is not None:
            self.source = STORE
        else:
            larger = sorted((tf for tf in coverage if timeframe_ms(tf) > p), key=timeframe_ms)
            stored = ", ".join(larger) if larger else "no timeframe"
            raise NoCandlesError(f"{symbol} has no {timeframe} candles: it is stored at {stored} only, "
                                 f"and {live_name} does not have it; ask for {larger[0] if larger else 'another symbol'}",
                                 timeframes=larger)
        # the first window to serve: [lo, hi)
        if self.source != STORE:
            self.window = (max(0, start - warmup * p), end)
        elif want is not None:
            assert self.span is not None
            hi = min(end, self.span[1])
            self.window = (max(0, hi - (want + warmup) * p), hi)
        else:
            self.window = (max(0, start - warmup * p), end)

    # -- the store ------------------------------------------------------------------------------------
    def reads(self, lo: int, hi: int) -> list[StoredRead]:
        """The stored series to read for the window [lo, hi)."""
        return [StoredRead(tf, lo, hi) for tf, (a, b) in self.spans.items() if a < hi and lo < b] if hi > lo else []

    def merge(self, stored: Mapping[str, CandleArrays], lo: int, hi: int) -> CandleArrays:
        """The stored candles of [lo, hi): own-timeframe rows first, then complete resampled buckets."""
        parts: list[CandleArrays] = []
        taken = np.empty(0, dtype=np.int64)
        for tf in self.spans:
            rows = stored.get(tf)
            if rows is None or not len(rows):
                continue
            rows = rows.between(lo, hi)
            src = timeframe_ms(tf)
            built = rows if src == self.period else resample(rows, self.period, src)
            if taken.size and len(built):
                built = built.take(~np.isin(built.time, taken))
            if len(built):
                parts.append(built)
                taken = np.concatenate([taken, built.time])
        return CandleArrays.concat(parts)

    def widen(self, lo: int, hi: int, found: int) -> int | None:
        """For a latest-candles request with holes: an earlier `lo` to read more from, or None (done)."""
        if self.source != STORE or self.want is None or found >= self.want + self.warmup:
            return None
        assert self.span is not None
        first = self.span[0]
        if lo <= first or lo <= 0:
            return None
        return max(first, 0, hi - 2 * (hi - lo))

    def answer_stored(self, candles: CandleArrays, lo: int, hi: int) -> Sourced:
        assert self.span is not None
        if self.want is not None:
            candles = candles.last(self.want + self.warmup)
        return Sourced(self.symbol, self.timeframe, candles, STORE, self._note(candles, lo, hi), self.span)

    def answer_live(self, candles: CandleArrays) -> Sourced:
        return Sourced(self.symbol, self.timeframe, candles, self.live_name)

    def _note(self, candles: CandleArrays, lo: int, hi: int) -> str | None:
        """What a store answer leaves out, in words (None when it is exactly what was asked)."""
        assert self.span is not None
        first, last = self.span
        p = self.period
        stored = f"{self.symbol} {self.timeframe} is stored from {to_iso(first)} to {to_iso(last)}"
        live = (f"{self.symbol} has no live source" if not self.live_has
                else f"nothing is filled in from {self.live_name} (one source per series)")
        if self.want is not None:  # the latest candles before `end`
            return f"{stored}: these are the last stored candles, up to {to_iso(hi)}; {live}" if hi < self.end else None
        if not (first < self.end and self.start < last):
            return f"{stored}; nothing of the requested range is stored; {live}"
        notes = []
        if self.start < first or self.end > last:
            notes.append(f"{stored}; only the stored part of the requested range is returned; {live}")
        expected = (min(hi, last) - max(lo, first)) // p
        missing = expected - len(candles)
        if missing > 0:
            notes.append(f"{missing} candle(s) inside the stored range are missing (gaps in the stored history, "
                         "or larger candles that would be incomplete: those are not served)")
        return "; ".join(notes) or None
