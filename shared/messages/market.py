"""Messages of market data: symbols, snapshots with indicators, candles, CSV imports.

Symbols (the one definition, used by every request Struct through `Symbol`, by the CSV import over
HTTP and the CLI, and by `MarketData.import_candles` / the candle stores through `symbol_problem`):
1 to 32 characters, ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit. So no
whitespace, control or bidi characters, and no trailing newline (msgspec matches patterns with
`re.search`, where `$` also matches before a final newline: hence the `(?!\\n)`). Symbols are
case-insensitive: `btc` finds `BTC`; a new symbol is stored upper-cased unless a source already
spells it otherwise (Hyperliquid's `kPEPE`).

`source` in replies names where the candles came from: `store` (bundled history, imports),
`simulator` or `hyperliquid`; one source per series, never a mix (see `shared/market/sourcing.py`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from shared.messages.base import DateText, Event, Reply, Request

MAX_SYMBOL_LENGTH = 32
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$(?!\n)"
_SYMBOL = re.compile(SYMBOL_PATTERN)

Symbol = Annotated[
    str,
    msgspec.Meta(
        pattern=SYMBOL_PATTERN,
        max_length=MAX_SYMBOL_LENGTH,
        description="1-32 of A-Z a-z 0-9 . _ - (starting with a letter or digit), e.g. BTC; case-insensitive",
    ),
]
Source = Literal["store", "simulator", "hyperliquid"]


def symbol_problem(symbol: object) -> str | None:
    """Why `symbol` is not a valid symbol (None when it is): the same rule as the `Symbol` type."""
    if not isinstance(symbol, str):
        return f"a symbol must be a string, got {type(symbol).__name__}"
    if _SYMBOL.search(symbol) is None:
        return (f"invalid symbol {symbol!r}: 1-{MAX_SYMBOL_LENGTH} characters of A-Z, a-z, 0-9, '.', '_' or '-', "
                "starting with a letter or digit")
    return None

Timeframe = Annotated[str, msgspec.Meta(max_length=8, description="1m 5m 15m 30m 1h 4h 1d")]
IndicatorCall = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="rsi, rsi(7), macd(12,26,9)…")]


class SymbolsQuery(Request):
    pass


class SymbolList(Reply):
    symbols: list[str]


class MarketQuery(Request):
    symbol: Symbol
    timeframe: Timeframe = "1h"
    indicators: Annotated[list[IndicatorCall], msgspec.Meta(max_length=50)] = []


class MarketSnapshot(Reply):
    symbol: str
    timeframe: str
    price: float
    time: str  # the moment the numbers are for: now, or the close of the last stored candle (see `note`)
    indicators: dict[str, Any]
    source: Source
    note: str | None = None


class CandlesQuery(Request):
    symbol: Symbol
    timeframe: Timeframe = "1h"
    start: DateText | None = None
    end: DateText | None = None
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
    source: Source
    note: str | None = None  # what the source could not give: the range outside stored history, gaps


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
