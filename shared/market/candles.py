"""`CandleArrays`: a series of OHLCV candles as six parallel numpy arrays.

Why columns and not a list of candle objects: every consumer (indicators, resampling, the backtest
loop, the stores) works on whole columns at once, and a year of 1-minute candles is 525,600 rows —
as objects that is hundreds of MB and seconds of Python; as arrays it is 25 MB and milliseconds.

The arrays are read-only views, so a series handed to one program or cached for a backtest cannot be
changed under another one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.timefmt import to_iso

FIELDS = ("time", "open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")

# Epoch-ms bounds accepted anywhere (1970-01-01 .. 2200-01-01): outside them a number is not a time.
MIN_TIME_MS = 0
MAX_TIME_MS = 7_258_118_400_000


def _column(values: Any, dtype: type) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError("candle columns must be one-dimensional")
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, slots=True, eq=False)
class CandleArrays:
    """Candles sorted by open time: `time` int64 epoch ms (open time, UTC), the rest float64."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", _column(self.time, np.int64))
        for name in FIELDS[1:]:
            object.__setattr__(self, name, _column(getattr(self, name), np.float64))
        n = self.time.size
        if any(getattr(self, name).size != n for name in FIELDS[1:]):
            raise ValueError("candle columns must all have the same length")

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> CandleArrays:
        return cls(*(np.empty(0, dtype=np.int64 if name == "time" else np.float64) for name in FIELDS))

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[float] | Mapping[str, Any]]) -> CandleArrays:
        """From `(time, open, high, low, close, volume)` tuples or dicts with those keys."""
        items = list(rows)
        if not items:
            return cls.empty()
        if isinstance(items[0], Mapping):
            items = [tuple(row[name] for name in FIELDS) for row in items]  # type: ignore[index]
        table = np.asarray(items, dtype=np.float64).reshape(-1, 6)
        return cls(table[:, 0].astype(np.int64), *(table[:, k] for k in range(1, 6)))

    @classmethod
    def concat(cls, parts: Sequence[CandleArrays]) -> CandleArrays:
        """Join series and sort them by time (the parts must not share times)."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        if all(a.time[-1] < b.time[0] for a, b in zip(parts, parts[1:], strict=False)):  # already in order: no sort
            return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in FIELDS))
        joined = cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in FIELDS))
        order = np.argsort(joined.time, kind="stable")
        return joined.take(order)

    # -- access ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.time.size)

    def __getitem__(self, index: slice) -> CandleArrays:
        if not isinstance(index, slice):
            raise TypeError("CandleArrays supports slices only; use .row(i) for one candle")
        return CandleArrays(*(getattr(self, name)[index] for name in FIELDS))

    def take(self, indices: np.ndarray) -> CandleArrays:
        """The candles at `indices` (an index array or boolean mask)."""
        return CandleArrays(*(getattr(self, name)[indices] for name in FIELDS))

    def between(self, start_ms: int | None, end_ms: int | None) -> CandleArrays:
        """Candles whose open time is in `[start_ms, end_ms)` (None = unbounded), by binary search."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.time, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.time, end_ms, "left"))
        return self[lo:max(lo, hi)]

    def last(self, n: int) -> CandleArrays:
        return self[max(0, len(self) - n):] if n > 0 else self[0:0]

    def row(self, i: int) -> dict[str, float | str]:
        """One candle as the API and programs show it: ISO time and float fields."""
        return {
            "time": to_iso(int(self.time[i])),
            "open": float(self.open[i]),
            "high": float(self.high[i]),
            "low": float(self.low[i]),
            "close": float(self.close[i]),
            "volume": float(self.volume[i]),
        }

    def to_rows(self) -> list[dict[str, float | str]]:
        columns = [getattr(self, name).tolist() for name in FIELDS[1:]]
        return [
            {"time": to_iso(t), "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for t, o, h, lo, c, v in zip(self.time.tolist(), *columns, strict=True)
        ]

    def equals(self, other: CandleArrays) -> bool:
        """Exactly the same candles (same times and bit-identical values)."""
        return len(self) == len(other) and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in FIELDS)

    def __repr__(self) -> str:
        if not len(self):
            return "CandleArrays(empty)"
        return f"CandleArrays({len(self)} candles, {to_iso(int(self.time[0]))} .. {to_iso(int(self.time[-1]))})"


def candle_problems(candles: CandleArrays, period_ms: int | None = None) -> list[tuple[int, str]]:
    """Every rule a candle series breaks, as `(row index, reason)`, in row order.

    Rules: finite numbers; prices > 0; volume >= 0; low <= open, close <= high; time inside
    1970..2200 and (when `period_ms` is given) on that timeframe's grid; times strictly increasing
    (a repeated time is a duplicate). Vectorised, so checking a year of minutes costs milliseconds.
    """
    found: list[tuple[int, str]] = []
    o, h, lo, c, v, t = candles.open, candles.high, candles.low, candles.close, candles.volume, candles.time

    def flag(mask: np.ndarray, reason: Any) -> None:
        for i in np.flatnonzero(mask).tolist():
            found.append((i, reason(i) if callable(reason) else reason))

    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(v)
    flag(~finite, "non-finite number")
    with np.errstate(invalid="ignore"):
        positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0)
        flag(finite & ~positive, "prices must be > 0")
        flag(finite & (v < 0), "volume must be >= 0")
        sane = finite & positive  # relations are only worth reporting between valid prices
        flag(sane & (h < lo), "high is below low")
        flag(sane & (h >= lo) & ((h < o) | (h < c)), "high is below open or close")
        flag(sane & (h >= lo) & ((lo > o) | (lo > c)), "low is above open or close")
    flag((t < MIN_TIME_MS) | (t > MAX_TIME_MS), "time is outside 1970..2200")
    if period_ms:
        flag(t % period_ms != 0, lambda i: f"time {to_iso(int(t[i]))} is not a candle open time of this timeframe")
    if t.size > 1:
        step = np.diff(t)
        flag(np.concatenate([[False], step == 0]), "duplicate time")
        flag(np.concatenate([[False], step < 0]), "time goes backwards")
    found.sort(key=lambda item: item[0])
    return found
