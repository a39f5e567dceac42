"""Signal pools: parsing them, and evaluating them on candles — whole arrays or one moment, one code path.

A pool is `logic` (`AND`/`OR`) over signals `{symbol, timeframe, metric, operator, value}`. A signal
compares its metric (see `metrics.py`) on its own series with `value`: a number, or another metric
of the same series (`"price" crosses_above "sma(50)"`). Operators: `< <= > >=` test the bar;
`crosses_above` / `crosses_below` compare the previous bar and the current one (`m[i-1] <= v[i-1]`
and `m[i] > v[i]`, mirrored for below), so a cross is true on exactly the bar it happens.

**When.** A pool is evaluated at candle closes on the grid of its finest timeframe (`step_ms`, e.g.
1m for a pool mixing 1m and 1h signals). At a close time T each signal reads the last bar of its
series that has closed at T — the bar opening at `floor(T, period) - period`. If that bar is missing
(a gap in the data, or not loaded) the signal has no value and is false: a pool never fires on stale
data. NaN (indicator warm-up) is false too.

**Edge.** A pool *fires* at T when its condition is true at T and was false at the previous close
`T - step_ms`. Held conditions therefore fire once, not on every bar.

**One code path.** `condition_at(pool, arrays, times)` is the only evaluator. `fire_times` runs it
over a whole grid (backtest replay: where would this pool have fired?); `evaluate` runs it on the two
times `[T - step, T]` (the live clock, at one close). Because indicators are causal, evaluating at T
with only the candles closed by T gives what the whole-array evaluation gives at T (tested). Live runs
hold a window of recent bars, so indicators seeded at the window start (EMA, RSI) can differ from a
long backtest in their last digits until the seed decays — a property of those indicators, not of
this module.

Pure: no I/O. Series are passed in as `{(symbol, timeframe): CandleArrays}` (see `series_keys`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.market.candles import CandleArrays
from shared.market.timeframes import parse_timeframe, timeframe_ms
from shared.market.view import IndicatorError
from shared.signals.errors import SignalError
from shared.signals.metrics import Metric, parse_metric
from shared.timefmt import to_iso

LOGICS = ("AND", "OR")
COMPARISONS = ("<", "<=", ">", ">=")
CROSSES = ("crosses_above", "crosses_below")
OPERATORS = COMPARISONS + CROSSES
MAX_SIGNALS = 20
MAX_GRID_POINTS = 2_000_000

SeriesKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Signal:
    symbol: str
    timeframe: str
    metric: Metric
    operator: str
    value: float | Metric

    @property
    def key(self) -> SeriesKey:
        return (self.symbol, self.timeframe)

    @property
    def period_ms(self) -> int:
        return timeframe_ms(self.timeframe)

    def to_doc(self) -> dict[str, Any]:
        """The canonical JSON form (what is stored and shown): metric names with their defaults filled in."""
        value = self.value.text if isinstance(self.value, Metric) else self.value
        return {"symbol": self.symbol, "timeframe": self.timeframe, "metric": self.metric.text, "operator": self.operator, "value": value}


@dataclass(frozen=True, slots=True)
class Pool:
    logic: str
    signals: tuple[Signal, ...]

    @property
    def step_ms(self) -> int:
        """The evaluation grid: the finest timeframe among the signals."""
        return min(signal.period_ms for signal in self.signals)

    def series_keys(self) -> list[SeriesKey]:
        """The (symbol, timeframe) series the evaluation needs, each once, in signal order."""
        return list(dict.fromkeys(signal.key for signal in self.signals))


# -- parsing --------------------------------------------------------------------------------------------
def _resolve_symbol(symbol: Any, known: Collection[str] | None, field: str) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise SignalError(field, "a symbol is required, e.g. BTC")
    text = symbol.strip()
    if known is None or text in known:
        return text
    folded = {name.upper(): name for name in known}
    match = folded.get(text.upper())
    if match is None:
        shown = ", ".join(sorted(known)[:20]) + (", …" if len(known) > 20 else "")
        raise SignalError(field, f"unknown symbol {text!r}; known symbols: {shown}")
    return match


def _metric(text: Any, field: str) -> Metric:
    try:
        return parse_metric(text)
    except IndicatorError as exc:
        raise SignalError(field, str(exc)) from None


def parse_signal(raw: Mapping[str, Any], index: int, known_symbols: Collection[str] | None = None) -> Signal:
    """One signal of a pool; errors name it by index (`signals[2].metric`)."""
    where = f"signals[{index}]"
    if not isinstance(raw, Mapping):
        raise SignalError(where, "a signal is an object {symbol, timeframe, metric, operator, value}")
    missing = [name for name in ("symbol", "timeframe", "metric", "operator", "value") if raw.get(name) is None]
    if missing:
        raise SignalError(f"{where}.{missing[0]}", "is required")
    symbol = _resolve_symbol(raw["symbol"], known_symbols, f"{where}.symbol")
    try:
        timeframe = parse_timeframe(raw["timeframe"])
    except ValueError as exc:
        raise SignalError(f"{where}.timeframe", str(exc)) from None
    metric = _metric(raw["metric"], f"{where}.metric")
    operator = raw["operator"]
    if operator not in OPERATORS:
        raise SignalError(f"{where}.operator", f"unknown operator {operator!r}; use one of {', '.join(OPERATORS)}")
    value_raw = raw["value"]
    value: float | Metric
    if isinstance(value_raw, bool):
        raise SignalError(f"{where}.value", "must be a number or a metric such as sma(50)")
    if isinstance(value_raw, int | float):
        value = float(value_raw)
        if not np.isfinite(value):
            raise SignalError(f"{where}.value", "must be a finite number")
    elif isinstance(value_raw, str):
        try:
            value = float(value_raw)
            if not np.isfinite(value):
                raise SignalError(f"{where}.value", "must be a finite number")
        except ValueError:
            value = _metric(value_raw, f"{where}.value")
    else:
        raise SignalError(f"{where}.value", "must be a number or a metric such as sma(50)")
    return Signal(symbol=symbol, timeframe=timeframe, metric=metric, operator=operator, value=value)


def parse_pool(logic: Any, signals: Sequence[Mapping[str, Any]], known_symbols: Collection[str] | None = None) -> Pool:
    """Validate a pool; `known_symbols` (e.g. `MarketData.symbols()`) also canonicalises their spelling."""
    if logic not in LOGICS:
        raise SignalError("logic", f"must be AND or OR, got {logic!r}")
    if not isinstance(signals, Sequence) or isinstance(signals, str | bytes) or not signals:
        raise SignalError("signals", "a pool needs at least one signal")
    if len(signals) > MAX_SIGNALS:
        raise SignalError("signals", f"a pool has at most {MAX_SIGNALS} signals, got {len(signals)}")
    return Pool(logic=logic, signals=tuple(parse_signal(raw, i, known_symbols) for i, raw in enumerate(signals)))


def pool_from_doc(doc: Mapping[str, Any]) -> Pool:
    """A stored pool (already validated and canonical) back into a Pool."""
    return parse_pool(doc["logic"], doc["signals"])


# -- evaluation -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _SignalSeries:
    """One signal over its whole series: per bar, the metric, the compared value, and the condition."""

    close_time: np.ndarray
    metric: np.ndarray
    value: np.ndarray
    condition: np.ndarray


def _signal_series(signal: Signal, candles: CandleArrays) -> _SignalSeries:
    m = signal.metric.series(candles)
    v = signal.value.series(candles) if isinstance(signal.value, Metric) else np.full(m.shape, signal.value, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN compares false: warm-up never satisfies a condition
        if signal.operator == "<":
            cond = m < v
        elif signal.operator == "<=":
            cond = m <= v
        elif signal.operator == ">":
            cond = m > v
        elif signal.operator == ">=":
            cond = m >= v
        else:
            cond = np.zeros(m.shape, dtype=bool)
            if m.size > 1:
                if signal.operator == "crosses_above":
                    cond[1:] = (m[:-1] <= v[:-1]) & (m[1:] > v[1:])
                else:
                    cond[1:] = (m[:-1] >= v[:-1]) & (m[1:] < v[1:])
    return _SignalSeries(close_time=candles.time + signal.period_ms, metric=m, value=v, condition=cond)


def _bars_at(series: _SignalSeries, period_ms: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the bar read at each time, whether that bar is the one that should have closed then)."""
    idx = np.searchsorted(series.close_time, times, side="right") - 1
    safe = np.clip(idx, 0, None)
    expected_close = times - times % period_ms
    present = (idx >= 0) & (series.close_time[safe] == expected_close) if series.close_time.size else np.zeros(times.shape, bool)
    return safe, present


def _series_of(pool: Pool, arrays_by_series: Mapping[SeriesKey, CandleArrays]) -> list[_SignalSeries]:
    out = []
    for signal in pool.signals:
        candles = arrays_by_series.get(signal.key)
        if candles is None:
            raise KeyError(f"no candles passed for {signal.symbol} {signal.timeframe}")
        out.append(_signal_series(signal, candles))
    return out


def condition_at(pool: Pool, arrays_by_series: Mapping[SeriesKey, CandleArrays], times: np.ndarray) -> np.ndarray:
    """The pool's condition (bool) at each close time in `times` — THE evaluator; the rest builds on it."""
    return _condition(pool, _series_of(pool, arrays_by_series), times)


def _condition(pool: Pool, signal_series: Sequence[_SignalSeries], times: np.ndarray) -> np.ndarray:
    """`condition_at` over series already computed (`_series_of`: the indicators, the costly part)."""
    times = np.asarray(times, dtype=np.int64)
    results = []
    for signal, series in zip(pool.signals, signal_series, strict=True):
        idx, present = _bars_at(series, signal.period_ms, times)
        results.append(present & series.condition[idx] if series.condition.size else present)
    stacked = np.vstack(results)
    return stacked.all(axis=0) if pool.logic == "AND" else stacked.any(axis=0)


def grid(pool: Pool, start_ms: int, end_ms: int) -> np.ndarray:
    """The pool's evaluation times (closes of its finest timeframe) in `[start_ms, end_ms]`."""
    step = pool.step_ms
    first = -(-start_ms // step) * step
    count = max(0, (end_ms - first) // step + 1)
    if count > MAX_GRID_POINTS:
        raise SignalError("signals", f"{count:,} evaluation times in the range; at most {MAX_GRID_POINTS:,}")
    return first + np.arange(count, dtype=np.int64) * step


def fire_times(pool: Pool, arrays_by_series: Mapping[SeriesKey, CandleArrays], start_ms: int, end_ms: int) -> np.ndarray:
    """Close times in `[start_ms, end_ms]` at which the pool fires (edge: false at the previous close)."""
    times = grid(pool, start_ms, end_ms)
    if not times.size:
        return times
    with_previous = np.concatenate(([times[0] - pool.step_ms], times))
    cond = condition_at(pool, arrays_by_series, with_previous)
    fired = cond[1:] & ~cond[:-1]
    return times[fired]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A pool at one close: its condition now and at the previous close, whether it fired, and why."""

    at_ms: int
    now: bool
    before: bool
    values: list[dict[str, Any]]

    @property
    def fired(self) -> bool:
        return self.now and not self.before


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def evaluate(pool: Pool, arrays_by_series: Mapping[SeriesKey, CandleArrays], at_ms: int) -> Evaluation:
    """The pool at the close `at_ms` (floored to its grid): the live clock's call, same path as `fire_times`."""
    at = at_ms - at_ms % pool.step_ms
    signal_series = _series_of(pool, arrays_by_series)  # once: the condition and the values read the same series
    cond = _condition(pool, signal_series, np.array([at - pool.step_ms, at], dtype=np.int64))
    values: list[dict[str, Any]] = []
    times = np.array([at], dtype=np.int64)
    for i, (signal, series) in enumerate(zip(pool.signals, signal_series, strict=True)):
        idx_arr, present_arr = _bars_at(series, signal.period_ms, times)
        idx, present = int(idx_arr[0]), bool(present_arr[0])
        values.append(
            {
                "index": i,
                **signal.to_doc(),
                "metric_value": _num(series.metric[idx]) if present else None,
                "compared_to": _num(series.value[idx]) if present else None,
                "bar_time": to_iso(int(series.close_time[idx] - signal.period_ms)) if present else None,
                "true": bool(present and series.condition[idx]),
            }
        )
    return Evaluation(at_ms=at, now=bool(cond[1]), before=bool(cond[0]), values=values)
