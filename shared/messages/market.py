"""Messages of market data: symbols, snapshots with indicators, candles, CSV imports."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from shared.messages.base import Event, Reply, Request

Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{1,20}$", description="e.g. BTC")]
Timeframe = Annotated[str, msgspec.Meta(max_length=8, description="1m 5m 15m 30m 1h 4h 1d")]


class SymbolsQuery(Request):
    pass


class SymbolList(Reply):
    symbols: list[str]


class MarketQuery(Request):
    symbol: Symbol
    timeframe: Timeframe = "1h"
    indicators: Annotated[list[str], msgspec.Meta(max_length=50)] = []


class MarketSnapshot(Reply):
    symbol: str
    timeframe: str
    price: float
    time: str
    indicators: dict[str, Any]


class CandlesQuery(Request):
    symbol: Symbol
    timeframe: Timeframe = "1h"
    start: str | None = None
    end: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500


class Candle(Reply):
    time: str
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandleSeries(Reply):
    symbol: str
    timeframe: str
    candles: list[Candle]


class CandleImport(Request):
    symbol: Symbol
    timeframe: Timeframe
    csv: str


class CandleImportResult(Reply):
    symbol: str
    timeframe: str
    rows: int  # candles in the file
    written: int  # of those, how many were new or changed (0 when the same file is imported again)
    first: str
    last: str


class CandlesImported(Event):
    """`evt.executor.candles.imported`."""

    symbol: str
    timeframe: str
    rows: int
    written: int
    first: str
    last: str
