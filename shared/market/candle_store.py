"""The candle store port: where stored candles (bundled history, imports) live, keyed by (symbol, timeframe, time).

Why its own store and not the JSON document store: candles are millions of small, fixed-shape rows
read as whole ranges into numpy. A table with a primary key on (symbol, timeframe, time) reads a
year of minutes in a fraction of a second; JSON documents would take tens of seconds.

Adapters: `SqliteCandleStore` (embedded default; can also read synchronously, which lets a
`MarketView.market()` call load another series on the spot) and `MongoCandleStore` (production,
async only, so views preload what they need). Both keep a small coverage summary per
(symbol, timeframe) up to date on every write, so "what is stored where" costs one tiny query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shared.market.candles import CandleArrays, candle_problems
from shared.market.errors import CandleDataError
from shared.market.timeframes import parse_timeframe, timeframe_ms
from shared.messages.market import symbol_problem

__all__ = ["CandleStore", "Coverage", "SyncCandleReader", "check_write"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """What is stored for one (symbol, timeframe): first and last open time, row count, sources seen."""

    symbol: str
    timeframe: str
    first_ms: int
    last_ms: int
    rows: int
    sources: tuple[str, ...]


class CandleStore(Protocol):
    async def write(self, symbol: str, timeframe: str, candles: CandleArrays, *, source: str, replace: bool = True) -> int:
        """Insert candles; an existing (symbol, timeframe, time) is overwritten when `replace`, else kept.

        Idempotent. Returns how many rows were inserted or actually changed (0 when re-writing the same
        candles). All or nothing: invalid candles raise CandleDataError and nothing is written.
        """
        ...

    async def read(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> CandleArrays:
        """Stored candles with open time in [start_ms, end_ms), sorted by time."""
        ...

    async def coverage(self, symbol: str | None = None) -> list[Coverage]: ...

    async def get_marker(self, key: str) -> str | None:
        """A small named value kept beside the candles (e.g. which bundle version was loaded)."""
        ...

    async def set_marker(self, key: str, value: str) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SyncCandleReader(Protocol):
    """A store that can also answer synchronously (SQLite): used by views loading series on demand."""

    def read_sync(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> CandleArrays: ...

    def coverage_sync(self, symbol: str | None = None) -> list[Coverage]: ...


def check_write(symbol: str, timeframe: str, candles: CandleArrays, source: str) -> str:
    """Validate a write before any row is stored; returns the canonical timeframe."""
    problem = symbol_problem(symbol)
    if problem is not None:
        raise CandleDataError([], problem)
    if not source:
        raise CandleDataError([], "a source name is required")
    try:
        tf = parse_timeframe(timeframe)
    except ValueError as exc:
        raise CandleDataError([], str(exc)) from None
    problems = candle_problems(candles, timeframe_ms(tf))
    if problems:
        raise CandleDataError(problems)
    return tf
