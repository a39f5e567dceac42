"""`MarketView` implementations: what a running program sees of the market through `ctx`.

- `LiveView`: a fixed moment (now, or a chosen time for a test run): the last closed candles and the
  current price. Used by test runs, live runs and the query endpoint.
- `BacktestView`: a cursor over a whole candle array. The backtester moves it bar by bar
  (`advance()` / `seek(k)`); at bar k the program sees bars up to k only (bar k has just closed; its
  close time is `timestamp`), and `price` is bar k's close. Each indicator is computed once over the
  whole array per (series, name, args) and each bar only indexes into it — O(1) per bar.

Views created by `market(symbol, timeframe)` share their parent's moment (a backtest child follows
the parent's cursor through a precomputed index map, so it stays O(1) too) and the family's cache,
so asking `ctx.market("ETH")` on every bar loads and computes ETH once.

Every series, and so every view, has exactly one `source` (`store`, `simulator` or `hyperliquid`,
see `sourcing.py`) and a `note` saying what it lacks (None when nothing): a backtest or test run
reports them with its results.

The program-facing values come from the indicator registry (`registry.py`), the same code the query
endpoint uses, so a query and a program always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shared.market.candles import CandleArrays
from shared.market.registry import IndicatorSeries, get_indicator
from shared.market.timeframes import parse_timeframe, timeframe_ms
from shared.market.view import IndicatorError, IndicatorValue, MarketView, UnknownSymbolError
from shared.timefmt import to_iso

__all__ = ["BacktestView", "LiveView", "Series", "MAX_CANDLES_PER_CALL"]

MAX_CANDLES_PER_CALL = 10_000


class Series:
    """One candle series (symbol, timeframe) from one `source`, with its indicator cache."""

    def __init__(self, symbol: str, timeframe: str, candles: CandleArrays, *, source: str, note: str | None = None) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.source = source
        self.note = note
        self.period_ms = timeframe_ms(timeframe)
        self.candles = candles
        self.close_time = candles.time + self.period_ms
        self._by_call: dict[tuple[str, tuple[Any, ...]], IndicatorSeries] = {}
        self._by_args: dict[tuple[str, tuple[Any, ...]], IndicatorSeries] = {}
        self._iso: dict[int, str] = {}

    def indicator(self, name: str, args: Any) -> IndicatorSeries:
        """The whole-array indicator for `name(args)`, computed on first use (raises IndicatorError)."""
        key_args = tuple(args) if isinstance(args, (list, tuple)) else args
        try:
            return self._by_call[(name, key_args)]
        except (KeyError, TypeError):
            pass
        spec = get_indicator(name)
        normalized = spec.normalize(key_args if isinstance(key_args, tuple) else args)
        series = self._by_args.get((name, normalized))
        if series is None:
            series = IndicatorSeries(spec, normalized, spec.compute(self.candles, normalized))
            self._by_args[(name, normalized)] = series
        try:
            self._by_call[(name, key_args)] = series
        except TypeError:  # unhashable argument values: just not cached by call
            pass
        return series

    def rows(self, lo: int, hi: int) -> list[dict[str, float | str]]:
        """Candles lo..hi-1 as program dicts (ISO strings cached: a backtest asks for the same ones again)."""
        c = self.candles
        out = []
        times = c.time[lo:hi].tolist()
        columns = [getattr(c, name)[lo:hi].tolist() for name in ("open", "high", "low", "close", "volume")]
        iso = self._iso
        for k, t in enumerate(times):
            text = iso.get(t)
            if text is None:
                text = iso[t] = to_iso(t)
            out.append({"time": text, "open": columns[0][k], "high": columns[1][k], "low": columns[2][k],
                        "close": columns[3][k], "volume": columns[4][k]})
        return out


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) or not float(n).is_integer() \
            or not 0 <= n <= MAX_CANDLES_PER_CALL:
        raise IndicatorError(f"candles(n): n must be a whole number from 0 to {MAX_CANDLES_PER_CALL}, got {n!r}")
    return int(n)


class _Family:
    """Views that share one moment (or one backtest cursor) and one cache of series."""

    def __init__(self, loader: Callable[[str, str], MarketView]) -> None:
        self.loader = loader
        self.views: dict[tuple[str, str], MarketView] = {}

    def get(self, symbol: str, timeframe: str) -> MarketView:
        """The family's view of (symbol, timeframe), loading it on first use (the loader resolves the
        symbol's spelling and may hand back a view the family already has under its canonical name)."""
        key = (symbol, timeframe)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = self.loader(symbol, timeframe)
            self.views.setdefault((view.symbol, view.timeframe), view)
        return view


def _market(family: _Family, own_timeframe: str, symbol: str, timeframe: str | None) -> MarketView:
    if not isinstance(symbol, str) or not symbol:
        raise UnknownSymbolError(f"market(symbol): symbol must be a non-empty string, got {symbol!r}")
    try:
        tf = parse_timeframe(timeframe) if timeframe is not None else own_timeframe
    except ValueError as exc:
        raise IndicatorError(str(exc)) from None
    return family.get(symbol, tf)


class _SeriesView:
    """What every view of one series shares: its name, its series and its family of sibling views."""

    _series: Series
    _family: _Family

    @property
    def symbol(self) -> str:
        return self._series.symbol

    @property
    def timeframe(self) -> str:
        return self._series.timeframe

    @property
    def series(self) -> Series:
        return self._series

    @property
    def source(self) -> str:
        """Where this view's candles come from: `store`, `simulator` or `hyperliquid` (one source per series)."""
        return self._series.source

    @property
    def note(self) -> str | None:
        """What this view's series lacks (range outside stored history, gaps, stale data), or None."""
        return self._series.note

    def market(self, symbol: str, timeframe: str | None = None) -> MarketView:
        return _market(self._family, self.timeframe, symbol, timeframe)


class LiveView(_SeriesView):
    """The market at one moment: closed candles up to `timestamp` and the price then.

    For a series the live source serves, `timestamp` is the moment asked (now) and `price` the live
    price; for one only the store has, the close time and close of its last stored candle.
    """

    def __init__(self, series: Series, at_ms: int, price: float, family: _Family) -> None:
        if not len(series.candles):
            raise UnknownSymbolError(f"no {series.symbol} {series.timeframe} candles had closed by {to_iso(int(at_ms))}")
        self._series = series
        self._at = int(at_ms)
        self._price = float(price)
        self._family = family
        family.views.setdefault((series.symbol, series.timeframe), self)

    @property
    def price(self) -> float:
        return self._price

    @property
    def timestamp(self) -> int:
        return self._at

    def candles(self, n: int) -> list[dict[str, float | str]]:
        size = len(self._series.candles)
        return self._series.rows(max(0, size - _count(n)), size)

    def indicator(self, name: str, args: tuple[float, ...]) -> IndicatorValue:
        return self._series.indicator(name, args).value_at(len(self._series.candles) - 1)

    def __repr__(self) -> str:
        return f"LiveView({self.symbol} {self.timeframe} at {to_iso(self._at)}, {len(self._series.candles)} candles)"


class BacktestView(_SeriesView):
    """A cursor over a series for a backtest (see module docstring). Starts at bar 0 (the first bar of the range)."""

    def __init__(self, series: Series, offset: int, family: _Family) -> None:
        if not 0 <= offset < len(series.candles):
            raise UnknownSymbolError(f"no {series.symbol} {series.timeframe} candles in the backtest range")
        self._series = series
        self._offset = offset  # bars before this one are warm-up history
        self._i = offset
        self._family = family
        self._closes = series.candles.close
        self._close_time = series.close_time
        family.views.setdefault((series.symbol, series.timeframe), self)

    # -- the cursor (backtester side) ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._series.candles) - self._offset

    @property
    def position(self) -> int:
        """Current bar, 0-based from the start of the backtest range."""
        return self._i - self._offset

    @property
    def index(self) -> int:
        """Current bar as an index into `arrays` (which include the warm-up bars)."""
        return self._i

    def seek(self, k: int) -> None:
        if not 0 <= k < len(self):
            raise IndexError(f"bar {k} is outside the backtest (0..{len(self) - 1})")
        self._i = self._offset + k

    def advance(self) -> bool:
        """Move to the next bar; False (and no move) at the last one."""
        if self._i + 1 >= len(self._series.candles):
            return False
        self._i += 1
        return True

    @property
    def arrays(self) -> CandleArrays:
        """The whole series including warm-up (for the simulated broker, which may look at bar k+1's open)."""
        return self._series.candles

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def bar_time(self) -> int:
        """Open time of the current bar (epoch ms)."""
        return int(self._series.candles.time[self._i])

    # -- the MarketView (program side) -------------------------------------------------------------
    @property
    def price(self) -> float:
        return float(self._closes[self._i])

    @property
    def timestamp(self) -> int:
        return int(self._close_time[self._i])

    def candles(self, n: int) -> list[dict[str, float | str]]:
        return self._series.rows(max(0, self._i + 1 - _count(n)), self._i + 1)

    def indicator(self, name: str, args: tuple[float, ...]) -> IndicatorValue:
        return self._series.indicator(name, args).value_at(self._i)

    def child(self, series: Series) -> _BacktestChild:
        """A view of another series that follows this cursor (used by the family loader)."""
        mapping = np.searchsorted(series.close_time, self._close_time, side="right") - 1
        return _BacktestChild(self, series, mapping, self._family)

    def __repr__(self) -> str:
        return f"BacktestView({self.symbol} {self.timeframe}, bar {self.position}/{len(self)} at {to_iso(self.timestamp)})"


class _BacktestChild(_SeriesView):
    """Another symbol/timeframe seen from a backtest: its last bar closed by the parent's current time."""

    def __init__(self, parent: BacktestView, series: Series, mapping: np.ndarray, family: _Family) -> None:
        self._parent = parent
        self._series = series
        self._mapping = mapping
        self._family = family

    @property
    def _i(self) -> int:
        i = int(self._mapping[self._parent.index])
        if i < 0:
            raise UnknownSymbolError(
                f"no {self.symbol} {self.timeframe} candle had closed by {to_iso(self._parent.timestamp)}"
            )
        return i

    @property
    def price(self) -> float:
        return float(self._series.candles.close[self._i])

    @property
    def timestamp(self) -> int:
        return self._parent.timestamp

    def candles(self, n: int) -> list[dict[str, float | str]]:
        count = _count(n)
        i = int(self._mapping[self._parent.index])
        return self._series.rows(max(0, i + 1 - count), i + 1)

    def indicator(self, name: str, args: tuple[float, ...]) -> IndicatorValue:
        series = self._series.indicator(name, args)
        return series.value_at(self._i)
