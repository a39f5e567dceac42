"""Errors of the market-data layer, grouped by what the caller can do about them.

`IndicatorError` and `UnknownSymbolError` live in `view.py` (the protocol shared with the language)
and are re-exported here so callers import every market error from one place. The gateway maps them:
`IndicatorError`, `CandleDataError`/`CsvImportError` -> 422 (with `.errors` as details),
`UnknownSymbolError` (and `NoCandlesError`) -> 404, `MarketDataUnavailableError` -> 503.
"""

from __future__ import annotations

from shared.market.view import IndicatorError, UnknownSymbolError

__all__ = [
    "CandleDataError",
    "CsvImportError",
    "IndicatorError",
    "MarketDataUnavailableError",
    "NoCandlesError",
    "UnknownSymbolError",
]

_SHOWN = 20


class CandleDataError(ValueError):
    """Candles that break a rule (non-finite values, high below low, duplicate or misaligned times…).

    `errors` lists every problem as `(position, reason)`; nothing of the rejected batch was stored.
    """

    where = "row"

    def __init__(self, errors: list[tuple[int, str]], message: str | None = None) -> None:
        self.errors = list(errors)
        if message is None:
            shown = "; ".join(f"{self.where} {at}: {reason}" for at, reason in self.errors[:_SHOWN])
            more = len(self.errors) - _SHOWN
            message = f"{len(self.errors)} bad {self.where}(s): {shown}" + (f"; … and {more} more" if more > 0 else "")
        super().__init__(message)

    def details(self) -> list[dict[str, int | str]]:
        """JSON-able list for an error reply: `[{"line": 3, "reason": "…"}, …]`."""
        return [{self.where: at, "reason": reason} for at, reason in self.errors]


class CsvImportError(CandleDataError):
    """A candle CSV file that was rejected; `errors` are `(line number, reason)`, line 1 is the header."""

    where = "line"


class MarketDataUnavailableError(RuntimeError):
    """A market-data source cannot answer right now (network, rate limit, not preloaded); retry later."""


class NoCandlesError(UnknownSymbolError):
    """A known symbol with no candles at the asked timeframe (stored only at larger ones, no live source).

    A subclass of `UnknownSymbolError` so code that treats "no data for this series" alike keeps
    working; the API answers it as 404 on the `timeframe` field, listing `timeframes` that exist.
    """

    def __init__(self, message: str, *, timeframes: list[str] | None = None) -> None:
        super().__init__(message)
        self.timeframes = list(timeframes or [])
