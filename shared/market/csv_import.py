"""Reading candles that users bring as CSV, with every bad row reported by line number.

Format: a header row naming the columns `time, open, high, low, close, volume` (any order, any case;
`timestamp`/`date`/`datetime` also name the time column; other columns are ignored), then one candle
per line. `time` is the candle's OPEN time: ISO-8601 (`2026-03-01T12:00:00Z`; no zone means UTC) or
epoch seconds or epoch milliseconds (numbers below 1e11 are seconds, 1e11 and up milliseconds).

Why all-or-nothing with every error at once: a user fixing a file wants the whole list, not one
error per upload, and a half-imported series would silently mix old and new candles. So parsing
collects every problem and raises `CsvImportError` (`.errors` = [(line, reason)], header = line 1)
before anything is stored; rows may come in any order and are returned sorted by time.
"""

from __future__ import annotations

import csv
import io
import math
import re

import numpy as np

from shared.market.candles import MAX_TIME_MS, MIN_TIME_MS, CandleArrays, candle_problems
from shared.market.errors import CsvImportError
from shared.market.timeframes import timeframe_ms
from shared.timefmt import parse_time, to_iso

__all__ = ["parse_candles_csv", "CsvImportError"]

_REQUIRED = ("time", "open", "high", "low", "close", "volume")
_TIME_ALIASES = {"time", "timestamp", "date", "datetime"}
_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")
_SECONDS_BELOW = 1e11  # 1e11 s is the year 5138; 1e11 ms is 1973
_MS_BELOW = 1e14  # larger numbers look like microseconds


def _parse_time(text: str) -> int:
    value = text.strip()
    if _NUMBER.match(value):
        number = float(value)
        if number >= _MS_BELOW:
            raise ValueError(f"time {value} is too large for epoch milliseconds (microseconds?)")
        ms = number * 1000 if number < _SECONDS_BELOW else number
        if not float(ms).is_integer():
            raise ValueError(f"time {value} is not a whole number of milliseconds")
        return int(ms)
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        raise ValueError(f"time {value!r} is neither ISO-8601 nor epoch seconds/milliseconds") from None


def _parse_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text.strip()!r} is not a finite number")
    return value


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError([(line, "the file is not UTF-8 text")]) from None


def _header_columns(header: list[str]) -> dict[str, int]:
    """Column index of each required field; raises CsvImportError on line 1 when the header is wrong."""
    found: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for i, raw in enumerate(header):
        name = raw.strip().lower()
        name = "time" if name in _TIME_ALIASES else name
        if name in _REQUIRED:
            if name in found:
                problems.append((1, f"column {name!r} appears twice"))
            found[name] = i
    missing = [name for name in _REQUIRED if name not in found]
    if missing:
        problems.append((1, f"header is missing column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)}"))
    if problems:
        raise CsvImportError(problems)
    return found


def parse_candles_csv(data: bytes | str, *, timeframe: str | None = None) -> CandleArrays:
    """Parse and validate a candle CSV (see module docstring); raises CsvImportError listing every bad line.

    With `timeframe`, times must also be open times of that timeframe (e.g. on the hour for `1h`).
    """
    period = timeframe_ms(timeframe) if timeframe is not None else None
    reader = csv.reader(io.StringIO(_decode(data)))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError([(1, "the file is empty; expected a header row: " + ",".join(_REQUIRED))]) from None
    except csv.Error as exc:
        raise CsvImportError([(1, f"unreadable CSV: {exc}")]) from None
    columns = _header_columns(header)
    width = len(header)
    errors: list[tuple[int, str]] = []
    lines: list[int] = []
    rows: list[tuple[int, float, float, float, float, float]] = []
    order = [columns[name] for name in _REQUIRED[1:]]
    time_col = columns["time"]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append((reader.line_num, f"unreadable CSV: {exc}"))
            continue
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != width:
            errors.append((line, f"expected {width} fields like the header, got {len(row)}"))
            continue
        reasons = []
        try:
            t = _parse_time(row[time_col])
        except ValueError as exc:
            reasons.append(str(exc))
            t = 0
        values = []
        for name, col in zip(_REQUIRED[1:], order, strict=True):
            try:
                values.append(_parse_number(name, row[col]))
            except ValueError as exc:
                reasons.append(str(exc))
        if reasons:
            errors.append((line, "; ".join(reasons)))
            continue
        lines.append(line)
        rows.append((t, *values))  # type: ignore[arg-type]
    if not rows and not errors:
        raise CsvImportError([(1, "the file has a header but no candles")])
    candles, line_of = _sorted(rows, lines)
    for index, reason in candle_problems(candles, period):
        line = int(line_of[index])
        if reason == "duplicate time":
            reason = f"duplicate time {to_iso(int(candles.time[index]))} (also on line {int(line_of[index - 1])})"
        elif reason == "time is outside 1970..2200":
            reason = f"time is outside {to_iso(MIN_TIME_MS)[:4]}..{to_iso(MAX_TIME_MS)[:4]}"
        errors.append((line, reason))
    if errors:
        errors.sort(key=lambda item: item[0])
        raise CsvImportError(errors)
    return candles


def _sorted(rows: list[tuple[int, float, float, float, float, float]], lines: list[int]) -> tuple[CandleArrays, np.ndarray]:
    if not rows:
        return CandleArrays.empty(), np.empty(0, dtype=np.int64)
    times = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.array([r[1:] for r in rows], dtype=np.float64)
    line_of = np.asarray(lines, dtype=np.int64)
    order = np.lexsort((line_of, times))  # by time, then by line: a duplicate's later line is flagged
    v = values[order]
    return CandleArrays(times[order], v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4]), line_of[order]
