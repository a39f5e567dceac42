"""The indicator registry: one table from name to function, defaults, argument rules and output kind.

Why one table: programs (`ctx.rsi(14)` through a `MarketView`) and the query endpoint
(`query-market-data`) both resolve names here, so what a user queries is exactly what their program
sees — same defaults, same validation messages, same warm-up `None`s.

Arguments arrive as a tuple of floats (the language has one number type). Periods must be whole
numbers in 1..10,000; multipliers finite and in (0, 100]. Missing trailing arguments take the
defaults; extra ones are an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from shared.market import indicators as ind
from shared.market.candles import CandleArrays
from shared.market.view import IndicatorError, IndicatorValue, MarketView

MAX_PERIOD = 10_000
MAX_MULTIPLIER = 100.0

Output = np.ndarray | tuple[np.ndarray, ...]
Kind = Literal["number", "bool", "dict"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: float | None  # None: required
    integer: bool = True  # a period (whole number in 1..MAX_PERIOD) or a positive multiplier


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator: how to call it, what it needs, and what it gives back."""

    name: str
    params: tuple[Param, ...]
    kind: Kind
    keys: tuple[str, ...]  # names of the outputs of a "dict" indicator
    compute: Callable[[CandleArrays, tuple[Any, ...]], Output]
    summary: str
    variadic_defaults: bool = False  # vwap(): no args = session VWAP, vwap(n) = rolling

    def signature(self) -> str:
        shown = ", ".join(
            p.name if p.default is None else f"{p.name}={_fmt(p.default)}" for p in self.params
        )
        if self.variadic_defaults:
            return f"{self.name}() or {self.name}({shown})"
        return f"{self.name}({shown})"

    def normalize(self, args: Sequence[float]) -> tuple[Any, ...]:
        """Validated arguments with defaults filled in; raises IndicatorError with a clear message."""
        if not isinstance(args, (tuple, list)):
            raise IndicatorError(f"{self.name}: arguments must be a list of numbers")
        if len(args) > len(self.params):
            raise IndicatorError(f"{self.name} takes at most {len(self.params)} argument(s): {self.signature()}; got {len(args)}")
        values: list[Any] = []
        for i, param in enumerate(self.params):
            if i < len(args):
                values.append(_check(self.name, param, args[i]))
            elif self.variadic_defaults:
                break
            elif param.default is None:
                raise IndicatorError(f"{self.name} needs argument `{param.name}`: {self.signature()}")
            else:
                values.append(int(param.default) if param.integer else float(param.default))
        return tuple(values)

    def value_at(self, output: Output, i: int) -> IndicatorValue:
        """The program-facing value of bar `i`: float, None (warm-up), bool, or a dict of floats/None."""
        if self.kind == "dict":
            return {key: _float(series[i]) for key, series in zip(self.keys, output, strict=True)}
        value = output[i]  # type: ignore[index]
        if self.kind == "bool":
            return bool(value == 1.0)  # warm-up (NaN) reads as "no spike"
        return _float(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _float(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _check(indicator: str, param: Param, raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.integer, np.floating)):
        raise IndicatorError(f"{indicator}: `{param.name}` must be a number, got {raw!r}")
    value = float(raw)
    if not math.isfinite(value):
        raise IndicatorError(f"{indicator}: `{param.name}` must be a finite number, got {raw!r}")
    if param.integer:
        if not value.is_integer() or not 1 <= value <= MAX_PERIOD:
            raise IndicatorError(
                f"{indicator}: `{param.name}` must be a whole number of bars from 1 to {MAX_PERIOD}, got {_fmt(value)}"
            )
        return int(value)
    if not 0 < value <= MAX_MULTIPLIER:
        raise IndicatorError(f"{indicator}: `{param.name}` must be greater than 0 and at most {_fmt(MAX_MULTIPLIER)}, got {_fmt(value)}")
    return value


def _macd(c: CandleArrays, a: tuple[Any, ...]) -> Output:
    fast, slow, signal = a
    if fast >= slow:
        raise IndicatorError(f"macd: `fast` ({fast}) must be smaller than `slow` ({slow})")
    return ind.macd(c.close, fast, slow, signal)


def _vwap(c: CandleArrays, a: tuple[Any, ...]) -> Output:
    if a:
        return ind.vwap_rolling(c.high, c.low, c.close, c.volume, a[0])
    return ind.vwap_session(c.time, c.high, c.low, c.close, c.volume)


P = Param
_SPECS = (
    IndicatorSpec("rsi", (P("period", 14),), "number", (), lambda c, a: ind.rsi(c.close, *a),
                  "Wilder's relative strength index of the close, 0..100"),
    IndicatorSpec("sma", (P("period", 20),), "number", (), lambda c, a: ind.sma(c.close, *a),
                  "simple moving average of the close"),
    IndicatorSpec("ema", (P("period", 20),), "number", (), lambda c, a: ind.ema(c.close, *a),
                  "exponential moving average of the close (SMA-seeded)"),
    IndicatorSpec("atr", (P("period", 14),), "number", (), lambda c, a: ind.atr(c.high, c.low, c.close, *a),
                  "average true range (Wilder smoothing)"),
    IndicatorSpec("vwap", (P("period", None),), "number", (), _vwap,
                  "volume-weighted average typical price since 00:00 UTC; vwap(n): over the last n bars",
                  variadic_defaults=True),
    IndicatorSpec("obv", (), "number", (), lambda c, a: ind.obv(c.close, c.volume),
                  "on-balance volume, 0 at the first bar of the series"),
    IndicatorSpec("macd", (P("fast", 12), P("slow", 26), P("signal", 9)), "dict", ("value", "signal", "histogram"), _macd,
                  "MACD line, its signal EMA and their difference"),
    IndicatorSpec("bbands", (P("period", 20), P("mult", 2, integer=False)), "dict", ("upper", "middle", "lower"),
                  lambda c, a: ind.bbands(c.close, *a), "Bollinger bands: SMA ± mult × population std"),
    IndicatorSpec("stoch", (P("period", 14), P("smooth", 3)), "dict", ("k", "d"),
                  lambda c, a: ind.stoch(c.high, c.low, c.close, *a), "stochastic oscillator %K and its SMA %D, 0..100"),
    IndicatorSpec("volume_spike", (P("period", 20), P("mult", 2, integer=False)), "bool", (),
                  lambda c, a: ind.volume_spike(c.volume, *a), "true when volume > mult × mean volume of the previous period bars"),
    IndicatorSpec("change", (P("period", 1),), "number", (), lambda c, a: ind.change(c.close, *a),
                  "percent change of the close over period bars"),
)

INDICATORS: Mapping[str, IndicatorSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def get_indicator(name: str) -> IndicatorSpec:
    """The spec for `name`; unknown names raise IndicatorError listing the supported ones."""
    spec = INDICATORS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise IndicatorError(f"unknown indicator {name!r}; supported: {', '.join(sorted(INDICATORS))}")
    return spec


@dataclass(frozen=True, slots=True)
class IndicatorSeries:
    """An indicator computed over a whole candle series; `value_at(i)` is O(1)."""

    spec: IndicatorSpec
    args: tuple[Any, ...]
    output: Output

    def value_at(self, i: int) -> IndicatorValue:
        return self.spec.value_at(self.output, i)


def compute_series(candles: CandleArrays, name: str, args: Sequence[float] = ()) -> IndicatorSeries:
    """Validate `name(args)` and compute it over every bar of `candles`."""
    spec = get_indicator(name)
    normalized = spec.normalize(args)
    return IndicatorSeries(spec, normalized, spec.compute(candles, normalized))


_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$")


def parse_indicator_call(text: str) -> tuple[str, tuple[float, ...]]:
    """`"rsi"` -> ("rsi", ()), `"bbands(20, 2.5)"` -> ("bbands", (20.0, 2.5)); raises IndicatorError."""
    match = _CALL.match(text) if isinstance(text, str) else None
    if not match:
        raise IndicatorError(f"cannot read indicator {text!r}; write it as a name with optional arguments, e.g. rsi or rsi(14)")
    name, inner = match.group(1).lower(), match.group(2)
    args: list[float] = []
    if inner is not None and inner.strip():
        for part in inner.split(","):
            try:
                args.append(float(part))
            except ValueError:
                raise IndicatorError(f"{name}: argument {part.strip()!r} is not a number") from None
    get_indicator(name)
    return name, tuple(args)


def compute_indicators(source: MarketView | CandleArrays, names: Sequence[str]) -> dict[str, IndicatorValue]:
    """Latest value of each named indicator (`"rsi"`, `"rsi(7)"`, `"macd(12,26,9)"`), JSON-able.

    With a `MarketView` the values come from `view.indicator` — the very call a program makes; with
    bare `CandleArrays` they are computed here at the last bar. Keys are the names as given.
    """
    if isinstance(names, str):
        raise IndicatorError("indicators must be a list of names")
    result: dict[str, IndicatorValue] = {}
    for text in names:
        name, args = parse_indicator_call(text)
        if isinstance(source, CandleArrays):
            if not len(source):
                spec = get_indicator(name)
                spec.normalize(args)
                result[text] = {k: None for k in spec.keys} if spec.kind == "dict" else (False if spec.kind == "bool" else None)
            else:
                result[text] = compute_series(source, name, args).value_at(len(source) - 1)
        else:
            result[text] = source.indicator(name, args)
    return result
