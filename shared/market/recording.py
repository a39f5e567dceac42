"""A `MarketView` that notes what a program read through it: "the values the program read".

Two places show a program's reads: a backtest trigger's context (`services/backtester/engine.py`
replays the bar through this view) and a live execution's `values` (`services/executor/live/work.py`
runs through it). Both record the same way, here, so a read means the same thing in both.

A read is a tuple `(name, args, result, market)`:
- `name` is `price`, `candles` (args `(n,)`, result `{"count": rows}`: the rows themselves are not
  kept) or an indicator's name (`rsi`, args `(14,)`, result as the program got it);
- `market` is `"SYMBOL TIMEFRAME"` for a read through `ctx.market(...)`, None for the program's own
  series;
- non-finite floats (also inside dict results) are kept as None, so a read is JSON as it stands.

Tuples rather than dicts because a backtest may record tens of thousands of contexts; callers turn
them into their documents when they are shown (`indicator_reads` for the execution log).
"""

from __future__ import annotations

import math
from typing import Any

from shared.market.view import MarketView

Read = tuple[str, tuple[Any, ...], Any, "str | None"]
NOT_INDICATORS = frozenset(("price", "candles"))
"""Read names that are not indicator calls (no indicator has these names: `shared/market/registry.py`)."""


class RecordingView:
    """Forwards to `inner` and appends every read to `calls` (at most `limit` reads when given).

    `calls` may be swapped between runs (the backtest engine starts a fresh list per replayed bar);
    views from `ctx.market(...)` append to the list of the view they came from, at the time they are made.
    """

    __slots__ = ("inner", "calls", "label", "limit")

    def __init__(self, inner: MarketView, calls: list[Read], label: str | None = None, *, limit: int | None = None) -> None:
        self.inner = inner
        self.calls = calls
        self.label = label
        self.limit = limit

    @property
    def symbol(self) -> str:
        return self.inner.symbol

    @property
    def timeframe(self) -> str:
        return self.inner.timeframe

    @property
    def source(self) -> str | None:
        return getattr(self.inner, "source", None)

    @property
    def price(self) -> float:
        price = self.inner.price
        self._note("price", (), price)
        return price

    @property
    def timestamp(self) -> int:
        return self.inner.timestamp

    def candles(self, n: int) -> list[dict[str, float | str]]:
        rows = self.inner.candles(n)
        self._note("candles", (n,), {"count": len(rows)})
        return rows

    def indicator(self, name: str, args: tuple[float, ...]) -> Any:
        value = self.inner.indicator(name, args)
        self._note(name, tuple(args), value)
        return value

    def market(self, symbol: str, timeframe: str | None = None) -> MarketView:
        inner = self.inner.market(symbol, timeframe)
        return RecordingView(inner, self.calls, f"{inner.symbol} {inner.timeframe}", limit=self.limit)

    def _note(self, name: str, args: tuple[Any, ...], result: Any) -> None:
        calls = self.calls
        if self.limit is None or len(calls) < self.limit:
            calls.append((name, args, plain(result), self.label))


def plain(value: Any) -> Any:
    """`value` with non-finite floats (NaN while an indicator warms up, ±inf) as None, also inside dicts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def indicator_reads(calls: list[Read], symbol: str, timeframe: str) -> list[dict[str, Any]]:
    """The indicator calls among `calls` as the execution log lists them: `{symbol, timeframe,
    indicator, args, value}`, where a read of the program's own series names `symbol`/`timeframe`."""
    out: list[dict[str, Any]] = []
    for name, args, result, market in calls:
        if name in NOT_INDICATORS:
            continue
        sym, tf = (symbol, timeframe) if market is None else market.split(" ", 1)
        out.append({"symbol": sym, "timeframe": tf, "indicator": name, "args": list(args), "value": result})
    return out
