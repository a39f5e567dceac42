"""The read-only window a running program has on the market.

This protocol is the one seam between the program language (`shared/lang`, which builds `ctx` on top
of it) and market data (`shared/market`, which implements it over numpy arrays). Keeping it this small
is what lets one compiled program run unchanged in a test run, a live run and a backtest: only the
view behind `ctx` changes.

Rules every implementation keeps:
- Only closed candles at the view's current time are visible (no look-ahead); `price` is the last
  price at that time (the close of the last closed candle, or a live mid price).
- `indicator` returns exactly what `ctx.<name>(...)` gives the program: a float, `None` while there is
  not enough history (warm-up), a bool for `volume_spike`, or a dict of floats/None for the
  multi-output indicators (`macd` -> value/signal/histogram, `bbands` -> upper/middle/lower,
  `stoch` -> k/d). Unknown names or bad arguments raise `IndicatorError`.
- In a backtest, `indicator` and `price` cost O(1) per bar: whole-array indicators are computed once
  per (series, name, args) and each bar only indexes into them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

IndicatorValue = float | bool | None | dict[str, float | None]


class IndicatorError(ValueError):
    """An indicator name or argument a program (or a query) asked for that does not exist or is invalid."""


class UnknownSymbolError(LookupError):
    """A symbol (or symbol/timeframe pair) no configured market-data source has."""


@runtime_checkable
class MarketView(Protocol):
    @property
    def symbol(self) -> str: ...

    @property
    def timeframe(self) -> str: ...

    @property
    def price(self) -> float: ...

    @property
    def timestamp(self) -> int:
        """Current time of the view in epoch milliseconds (bar close time in a backtest)."""
        ...

    def candles(self, n: int) -> list[dict[str, float | str]]:
        """The last `n` closed candles, oldest first, as `{time (ISO-8601 UTC), open, high, low, close, volume}`."""
        ...

    def indicator(self, name: str, args: tuple[float, ...]) -> IndicatorValue: ...

    def market(self, symbol: str, timeframe: str | None = None) -> MarketView:
        """The same kind of view, at the same time, for another symbol and/or timeframe.

        Raises `UnknownSymbolError` when no data exists for it.
        """
        ...
