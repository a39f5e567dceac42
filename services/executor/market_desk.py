"""Market data as the API serves it: symbols, a snapshot with indicators, candles, CSV imports.

The snapshot is computed through the same `MarketView` and indicator table that a program's `ctx`
reads, so what a user queries is exactly what their program would see at that moment. Every reply
with market data names its `source` (`store`, `simulator`, `hyperliquid`: one per series) and, in
`note`, what the answer lacks (see `shared/market/sourcing.py`). Symbols are answered in their
canonical spelling (`btc` asked, `BTC` answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared import subjects
from shared.context import RequestContext
from shared.errors import InvalidRequest, NotFound, Unavailable
from shared.market import (
    CandleDataError,
    IndicatorError,
    MarketData,
    MarketDataUnavailableError,
    MarketRequestError,
    NoCandlesError,
    UnknownSymbolError,
    compute_indicators,
    parse_candles_csv,
    parse_timeframe,
)
from shared.messages.base import Event
from shared.messages.market import (
    Candle,
    CandleImport,
    CandleImportResult,
    CandlesImported,
    CandleSeries,
    CandlesQuery,
    MarketQuery,
    MarketSnapshot,
    SymbolList,
    SymbolsQuery,
)
from shared.timefmt import parse_time, to_iso

Publish = Callable[[str, Event], Awaitable[None]]


def checked_timeframe(timeframe: str) -> str:
    try:
        return parse_timeframe(timeframe)
    except ValueError as exc:
        raise InvalidRequest(str(exc), details={"field": "timeframe", "reason": str(exc)}) from None


async def unknown_symbol(market: MarketData, symbol: str, error: UnknownSymbolError | None = None) -> NotFound:
    """The 404 for a series that does not exist: an unknown symbol (listing the known ones), or a known
    one with no candles at that timeframe or moment (`NoCandlesError`, naming the field and why)."""
    if isinstance(error, NoCandlesError):
        details: dict[str, object] = {"field": "timeframe" if error.timeframes else "symbol", "reason": str(error)}
        if error.timeframes:
            details["timeframes"] = error.timeframes
        return NotFound(str(error), details=details)
    symbols = await market.symbols()
    return NotFound(f"unknown symbol `{symbol}`; available: {', '.join(symbols)}", details={"field": "symbol", "available": symbols})


def _time_param(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidRequest(f"{name}: not an ISO-8601 date or time", details={"field": name}) from None


class MarketDesk:
    def __init__(self, market: MarketData, publish: Publish) -> None:
        self._market = market
        self._publish = publish

    async def symbols(self, req: SymbolsQuery, ctx: RequestContext) -> SymbolList:
        return SymbolList(symbols=await self._market.symbols())

    async def query(self, req: MarketQuery, ctx: RequestContext) -> MarketSnapshot:
        timeframe = checked_timeframe(req.timeframe)
        try:
            view = await self._market.view(req.symbol, timeframe)
        except UnknownSymbolError as exc:
            raise await unknown_symbol(self._market, req.symbol, exc) from None
        try:
            indicators = compute_indicators(view, req.indicators)
        except IndicatorError as exc:
            raise InvalidRequest(str(exc), details={"field": "indicators", "reason": str(exc)}) from None
        return MarketSnapshot(symbol=view.symbol, timeframe=timeframe, price=view.price, time=to_iso(view.timestamp),
                              indicators=indicators, source=view.source, note=view.note)  # type: ignore[arg-type]

    async def candles(self, req: CandlesQuery, ctx: RequestContext) -> CandleSeries:
        timeframe = checked_timeframe(req.timeframe)
        start, end = _time_param("start", req.start), _time_param("end", req.end)
        if start is not None and end is not None and start >= end:
            raise InvalidRequest("start must be before end", details={"field": "start"})
        try:
            series = await self._market.series(req.symbol, timeframe, start_ms=start, end_ms=end, limit=req.limit)
        except UnknownSymbolError as exc:
            raise await unknown_symbol(self._market, req.symbol, exc) from None
        except MarketRequestError as exc:
            raise InvalidRequest(str(exc), details={"field": "start" if start is not None else "limit", "reason": str(exc)}) from None
        arrays = series.candles
        candles = [
            Candle(time=to_iso(int(t)), open=float(o), high=float(h), low=float(lo), close=float(c), volume=float(v))
            for t, o, h, lo, c, v in zip(
                arrays.time, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume, strict=True
            )
        ]
        return CandleSeries(symbol=series.symbol, timeframe=timeframe, candles=candles, source=series.source,  # type: ignore[arg-type]
                            note=series.note)

    async def import_csv(self, req: CandleImport, ctx: RequestContext) -> CandleImportResult:
        timeframe = checked_timeframe(req.timeframe)
        try:
            symbol = await self._market.canonical_symbol(req.symbol)
            arrays = parse_candles_csv(req.csv, timeframe=timeframe)
            written = await self._market.import_candles(symbol, timeframe, arrays)
        except CandleDataError as exc:  # CsvImportError included: every bad line, nothing stored
            raise InvalidRequest(
                f"the CSV has {len(exc.errors)} bad row(s); nothing was imported",
                details={"field": "csv", "errors": exc.details()},
            ) from None
        except MarketRequestError as exc:
            raise InvalidRequest(str(exc), details={"field": "symbol"}) from None
        except MarketDataUnavailableError as exc:
            raise Unavailable(str(exc)) from None
        rows = len(arrays)
        first, last = to_iso(int(arrays.time[0])), to_iso(int(arrays.time[-1]))
        await self._publish(
            subjects.EVT_CANDLES_IMPORTED,
            CandlesImported(**ctx.event_fields(), symbol=symbol, timeframe=timeframe, rows=rows, written=written, first=first, last=last),
        )
        return CandleImportResult(symbol=symbol, timeframe=timeframe, rows=rows, written=written, first=first, last=last)
