"""`hyperoru import-candles` as a user runs it, against a real SQLite store in a temporary data dir."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.market import SqliteCandleStore, UnknownSymbolError, build_market_data
from shared.timefmt import parse_time

HYPERORU = str(Path(sys.executable).parent / "hyperoru")
GOOD = "time,open,high,low,close,volume\n2016-02-01T00:00:00Z,10,12,9,11,100\n2016-02-01T01:00:00Z,11,13,10,12,120\n"


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HYPERORU, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, env={**os.environ}, timeout=120)


def stored_closes(data_dir: Path, symbol: str) -> list[float]:
    async def read() -> list[float]:
        store = SqliteCandleStore(data_dir / "hyperoru.db")
        market = build_market_data(store)
        arrays = await market.candles(symbol, "1h", start_ms=parse_time("2016-02-01"), end_ms=parse_time("2016-02-02"))
        await market.close()
        await store.close()
        return [float(c) for c in arrays.close]

    return asyncio.run(read())


def test_import_stores_the_candles_and_is_idempotent(tmp_path: Path) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD)
    first = run("import-candles", str(csv), "--symbol", "clia", "--timeframe", "1h", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "imported 2 candle(s) of CLIA 1h from 2016-02-01T00:00:00Z to 2016-02-01T01:00:00Z" in first.stdout
    again = run("import-candles", str(csv), "--symbol", "CLIA", "--timeframe", "1h", data_dir=tmp_path)
    assert again.returncode == 0
    assert stored_closes(tmp_path, "CLIA") == [11.0, 12.0]


def test_bad_rows_are_listed_by_line_and_nothing_is_stored(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(GOOD + "2016-02-01T02:00:00Z,1,0.5,2,1,1\n2016-02-01T03:00:00Z,1,2,0.5,abc,1\n")
    result = run("import-candles", str(csv), "--symbol", "CLIB", "--timeframe", "1h", data_dir=tmp_path)
    assert result.returncode == 1
    assert "line 4" in result.stderr and "line 5" in result.stderr
    assert "nothing was imported" in result.stderr
    with pytest.raises(UnknownSymbolError):
        stored_closes(tmp_path, "CLIB")


def test_unknown_timeframe_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD)
    result = run("import-candles", str(csv), "--symbol", "CLIC", "--timeframe", "2h", data_dir=tmp_path)
    assert result.returncode == 1 and "2h" in result.stderr
