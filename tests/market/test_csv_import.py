"""CSV import: formats accepted, every bad row reported by line, nothing stored from a rejected file."""

from __future__ import annotations

import pytest

from shared.market import CsvImportError, SqliteCandleStore, build_market_data, parse_candles_csv
from shared.timefmt import parse_time

HEADER = "time,open,high,low,close,volume\n"
T0 = parse_time("2026-03-01T00:00:00Z")


@pytest.mark.parametrize(
    ("time_text", "expected_ms"),
    [
        ("2026-03-01T00:00:00Z", T0),  # ISO with Z
        ("2026-03-01T01:00:00+01:00", T0),  # ISO with offset
        ("2026-03-01 00:00:00", T0),  # ISO without zone = UTC
        ("2026-03-01", T0),  # a date
        (str(T0 // 1000), T0),  # epoch seconds
        (str(T0), T0),  # epoch milliseconds
        (f"{T0 // 1000}.0", T0),  # epoch seconds written as a float
    ],
)
def test_time_may_be_iso_8601_or_epoch_seconds_or_milliseconds(time_text: str, expected_ms: int) -> None:
    candles = parse_candles_csv(f"{HEADER}{time_text},1,2,0.5,1.5,10\n")
    assert candles.time.tolist() == [expected_ms]


def test_header_may_use_any_column_order_case_and_extra_columns_and_a_bom() -> None:
    text = "\ufeffVolume,Close,Low,High,Open,Timestamp,trades\n10,1.5,0.5,2,1,2026-03-01T00:00:00Z,7\n"
    candles = parse_candles_csv(text.encode())
    assert candles.to_rows() == [{"time": "2026-03-01T00:00:00Z", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}]


def test_rows_in_any_order_come_back_sorted_and_blank_lines_are_skipped() -> None:
    text = HEADER + "2026-03-01T00:02:00Z,1,1,1,1,1\n\n2026-03-01T00:00:00Z,2,2,2,2,2\n2026-03-01T00:01:00Z,3,3,3,3,3\n"
    assert parse_candles_csv(text, timeframe="1m").close.tolist() == [2.0, 3.0, 1.0]


BAD_ROWS = [
    # (row, reason fragment) — each goes on its own line after a good first row (line 2)
    ("2026-03-01T00:01:00Z,1,2", "expected 6 fields like the header, got 3"),
    ("yesterday,1,2,0.5,1.5,1", "time 'yesterday' is neither ISO-8601 nor epoch seconds/milliseconds"),
    ("2026-03-01T00:01:00Z,abc,2,0.5,1.5,1", "open 'abc' is not a number"),
    ("2026-03-01T00:01:00Z,1,2,0.5,nan,1", "close 'nan' is not a finite number"),
    ("2026-03-01T00:01:00Z,1,inf,0.5,1.5,1", "high 'inf' is not a finite number"),
    ("2026-03-01T00:01:00Z,-1,2,0.5,1.5,1", "prices must be > 0"),
    ("2026-03-01T00:01:00Z,1,2,0.5,1.5,-4", "volume must be >= 0"),
    ("2026-03-01T00:01:00Z,1,0.4,0.5,0.45,1", "high is below low"),
    ("2026-03-01T00:01:00Z,1,1.2,0.5,1.5,1", "high is below open or close"),
    ("2026-03-01T00:01:00Z,1,2,1.2,1.5,1", "low is above open or close"),
    ("2026-03-01T00:00:00Z,1,2,0.5,1.5,1", "duplicate time 2026-03-01T00:00:00Z (also on line 2)"),
    ("2026-03-01T00:01:30Z,1,2,0.5,1.5,1", "is not a candle open time of this timeframe"),
    ("1772323200000000,1,2,0.5,1.5,1", "too large for epoch milliseconds (microseconds?)"),
    ("2350-01-01T00:00:00Z,1,2,0.5,1.5,1", "time is outside 1970..2200"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_a_bad_row_is_reported_with_its_line_number_and_reason(row: str, reason: str) -> None:
    text = HEADER + "2026-03-01T00:00:00Z,1,2,0.5,1.5,1\n" + row + "\n"
    with pytest.raises(CsvImportError) as info:
        parse_candles_csv(text, timeframe="1m")
    assert len(info.value.errors) == 1
    line, message = info.value.errors[0]
    assert line == 3 and reason in message


def test_every_bad_row_is_collected_in_line_order() -> None:
    rows = [row.replace("00:01:00", f"00:{10 + i:02d}:00") for i, (row, _) in enumerate(BAD_ROWS[:10])]
    text = HEADER + "2026-03-01T00:00:00Z,1,2,0.5,1.5,1\n" + "\n".join(rows) + "\n2026-03-01T00:05:00Z,1,2,0.5,1.5,1\n"
    with pytest.raises(CsvImportError) as info:
        parse_candles_csv(text)
    assert [line for line, _ in info.value.errors] == list(range(3, 13))
    assert info.value.details()[0] == {"line": 3, "reason": "expected 6 fields like the header, got 3"}
    assert str(info.value).startswith("10 bad line(s): line 3: expected 6 fields")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        (HEADER, "has a header but no candles"),
        ("time,open,high,low,close\n2026-03-01,1,1,1,1\n", "header is missing column(s) volume"),
        ("time,open,high,low,close,volume,Close\n", "column 'close' appears twice"),
    ],
)
def test_file_level_problems_are_reported_on_line_1(text: str, reason: str) -> None:
    with pytest.raises(CsvImportError) as info:
        parse_candles_csv(text)
    assert info.value.errors[0][0] == 1 and reason in info.value.errors[0][1]


def test_non_utf8_bytes_are_rejected_with_their_line() -> None:
    with pytest.raises(CsvImportError) as info:
        parse_candles_csv(HEADER.encode() + b"2026-03-01,1,2,0.5,1.5,\xff\n")
    assert info.value.errors == [(2, "the file is not UTF-8 text")]


async def test_a_rejected_file_stores_nothing_and_a_good_one_imports_idempotently(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: parse_time("2026-06-01"))
    good = HEADER + "".join(f"2026-03-01T{h:02d}:00:00Z,{100 + h},{101 + h},{99 + h},{100.5 + h},{h + 1}\n" for h in range(24))
    bad = good + "2026-03-02T00:00:00Z,1,0.5,2,1,1\n"  # the last row is broken
    with pytest.raises(CsvImportError) as info:
        await md.import_candles("BTC", "1h", parse_candles_csv(bad, timeframe="1h"))
    assert info.value.errors == [(26, "high is below low")]
    assert await sqlite_store.coverage() == []

    candles = parse_candles_csv(good, timeframe="1h")
    assert await md.import_candles("BTC", "1h", candles) == 24
    assert await md.import_candles("BTC", "1h", candles) == 0  # same file again: nothing changes
    stored = await sqlite_store.read("BTC", "1h")
    assert stored.equals(candles)
    served = await md.candles("BTC", "1h", parse_time("2026-03-01"), parse_time("2026-03-02"))
    assert served.equals(candles)  # imported candles win over the simulator
