"""What a signal measures: `price`, or an indicator of the market registry with its arguments.

A metric is written the way `query-market-data` takes indicators — `"rsi"`, `"rsi(14)"`,
`"bbands(20, 2.5)"` — and parsed by the registry's own `parse_indicator_call`, so a pool, a program
(`ctx.rsi(14)`) and the query endpoint accept exactly the same names, defaults and argument rules.
Indicators with several outputs name one with a suffix: `"macd(12,26,9).histogram"`, `"bbands.upper"`,
`"stoch.k"`. `change` is the registry's percent change (`"change"` = over 1 bar, `"change(4)"`).

A metric is computed over a whole candle series at once (numpy), giving one float per bar with NaN
where there is no value yet (warm-up); a bool indicator (`volume_spike`) reads 1.0/0.0 and its
warm-up reads 0.0, as it does for programs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.market.candles import CandleArrays
from shared.market.registry import IndicatorSpec, get_indicator, parse_indicator_call
from shared.market.view import IndicatorError

PRICE = "price"
METRIC_MAX_CHARS = 64
_PROBE = CandleArrays(
    time=np.arange(3, dtype=np.int64) * 60_000,
    open=np.ones(3),
    high=np.ones(3),
    low=np.ones(3),
    close=np.ones(3),
    volume=np.ones(3),
)


@dataclass(frozen=True, slots=True)
class Metric:
    """A parsed metric; `text` is its canonical spelling (defaults filled in), e.g. `rsi(14)`."""

    text: str
    name: str
    args: tuple[Any, ...] = ()
    key: str | None = None

    def series(self, candles: CandleArrays) -> np.ndarray:
        """The metric at every bar of `candles` (float64, NaN where undefined)."""
        if self.name == PRICE:
            return np.asarray(candles.close, dtype=np.float64)
        spec = get_indicator(self.name)
        output = spec.compute(candles, self.args)
        if spec.kind == "dict":
            values = output[spec.keys.index(self.key)]  # type: ignore[arg-type, index]
        else:
            values = output
        values = np.asarray(values, dtype=np.float64)
        if spec.kind == "bool":
            values = np.where(np.isnan(values), 0.0, values)
        return values


def _fmt(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _split_key(text: str) -> tuple[str, str | None]:
    """`"macd(12,26,9).histogram"` → ("macd(12,26,9)", "histogram"); arguments may hold dots (2.5)."""
    close = text.rfind(")")
    head, tail = (text[: close + 1], text[close + 1 :]) if close >= 0 else ("", text)
    if close < 0:
        name, dot, key = text.partition(".")
        return name, (key.strip() if dot else None)
    tail = tail.strip()
    if not tail:
        return head, None
    if not tail.startswith("."):
        raise IndicatorError(f"cannot read metric {text!r}: unexpected {tail!r} after the arguments")
    return head, tail[1:].strip()


def parse_metric(text: str) -> Metric:
    """Parse and validate a metric; raises IndicatorError with a message a user can act on."""
    if not isinstance(text, str) or not text.strip():
        raise IndicatorError("a metric is required: price, change, or an indicator such as rsi(14)")
    if len(text) > METRIC_MAX_CHARS:
        raise IndicatorError(f"a metric is at most {METRIC_MAX_CHARS} characters")
    stripped = text.strip()
    if stripped.lower() == PRICE:
        return Metric(text=PRICE, name=PRICE)
    call, key = _split_key(stripped)
    name, raw_args = parse_indicator_call(call)
    spec: IndicatorSpec = get_indicator(name)
    args = spec.normalize(raw_args)
    if spec.kind == "dict":
        if key is None:
            raise IndicatorError(f"{name} has several outputs; name one: " + ", ".join(f"{name}.{k}" for k in spec.keys))
        if key not in spec.keys:
            raise IndicatorError(f"{name} has no output {key!r}; its outputs are {', '.join(spec.keys)}")
    elif key is not None:
        raise IndicatorError(f"{name} has a single output; write it without `.{key}`")
    spec.compute(_PROBE, args)  # rules between arguments (macd: fast < slow) are checked by the computation
    shown = f"{name}({','.join(_fmt(a) for a in args)})" if args else name
    return Metric(text=shown + (f".{key}" if key else ""), name=name, args=args, key=key)
