"""Market-data benchmarks: one command, one table.

    .venv/bin/python benchmarks/market.py

Targets (from the market-data issue):
- every indicator over 1,000,000 candles: < 1 s in total;
- a backtest-sized read, one year of 1m candles (525,600 rows) out of the SQLite store as numpy
  arrays: < 2 s;
- the simulator generating a year of 1m candles for one symbol: "well under a second".
Each figure is the best of a few runs (the machine is shared; the best run is the code's speed).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import print_table  # noqa: E402
from shared.market import INDICATORS, CandleArrays, SqliteCandleStore, build_market_data, ensure_bundled_history  # noqa: E402
from shared.market.registry import compute_series  # noqa: E402
from shared.market.simulator import Simulator  # noqa: E402
from shared.timefmt import parse_time  # noqa: E402

YEAR = (parse_time("2025-01-01"), parse_time("2026-01-01"))


def best(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


ROWS: list[list[str]] = []


def row(name: str, seconds: float, target: float | None = None, note: str = "") -> None:
    verdict = "" if target is None else ("ok" if seconds < target else "SLOW")
    limit = "" if target is None else f"< {target:g} s"
    ROWS.append([name, f"{seconds * 1000:9.1f} ms", limit, verdict, note])


def main() -> None:
    sim = Simulator(42)

    seconds = best(lambda: sim.candles("BTC", "1m", *YEAR))
    row("simulator: one year of 1m candles (525,600), BTC", seconds, 1.0)

    # 1,000,000 candles: two years of 1m simulator candles (realistic prices, volumes, gaps-free)
    million = sim.candles("ETH", "1m", parse_time("2024-01-01"), parse_time("2026-01-01"))[:1_000_000]
    assert len(million) == 1_000_000
    total = 0.0
    for name in sorted(INDICATORS):
        seconds = best(lambda name=name: compute_series(million, name, ()))
        total += seconds
        defaults = ",".join(f"{p.default:g}" for p in INDICATORS[name].params if p.default is not None)
        row(f"  {name}({defaults}) over 1,000,000 candles", seconds)
    row("indicators: all of the above, 1,000,000 candles", total, 1.0, f"{len(INDICATORS)} indicators, default args")

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteCandleStore(Path(tmp) / "hyperoru.db")
        year = sim.candles("BTC", "1m", *YEAR)
        start = time.perf_counter()
        store.write_sync("BTC", "1m", year, source="benchmark")
        row("sqlite store: write one year of 1m (525,600 rows)", time.perf_counter() - start, None, "setup, for reference")
        result: list[CandleArrays] = []
        seconds = best(lambda: result.append(store.read_sync("BTC", "1m", *YEAR)))
        assert len(result[-1]) == 525_600 and result[-1].equals(year)
        row("sqlite store: read one year of 1m into numpy", seconds, 2.0, "525,600 rows")

        md = build_market_data(store, clock=lambda: parse_time("2026-06-01"))
        seconds = best(lambda: asyncio.run(md.candles("BTC", "1m", *YEAR)))
        row("MarketData.candles: one year of stored 1m", seconds, None, "read + source plan")
        seconds = best(lambda: asyncio.run(md.candles("BTC", "1h", *YEAR)))
        row("MarketData.candles: one year of stored 1m as 1h", seconds, None, "resampled, complete candles only")
        seconds = best(lambda: asyncio.run(md.view("ETH", "1h")), runs=5)
        row("MarketData.view: ETH 1h now (simulator)", seconds, None, "what query-market-data and test-run load")

        async def backtest_loop() -> None:
            view = await md.backtest_view("BTC", "1m", *YEAR, warmup=500)
            for k in range(len(view)):
                view.seek(k)
                view.indicator("rsi", (14,))
                view.indicator("macd", (12, 26, 9))
                _ = view.price

        seconds = best(lambda: asyncio.run(backtest_loop()), runs=1)
        row("backtest view: 525,600 bars x (seek, rsi, macd, price)", seconds, None, f"{seconds / 525_600 * 1e6:.2f} us/bar incl. compute")

        fresh = SqliteCandleStore(Path(tmp) / "bundle.db")
        start = time.perf_counter()
        rows = asyncio.run(ensure_bundled_history(fresh))
        row("bundled history: first load into SQLite", time.perf_counter() - start, None, f"{rows:,} rows")
        seconds = best(lambda: asyncio.run(ensure_bundled_history(fresh)))
        row("bundled history: later starts (already loaded)", seconds)
    print_table(["benchmark", "time (best)", "target", "", "note"], ROWS)


if __name__ == "__main__":
    main()
