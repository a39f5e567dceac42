"""Backtest engine speed against backtesting.py, and the engine's memory on a year of 1-minute bars.

Run: `.venv/bin/python benchmarks/backtest.py` (options: `--bars N`, `--rss-bars N`, `--repeat N`,
`--no-reference`). On the same synthetic 1-minute candles (a seeded random walk, plus one flat closing
bar so both engines close the last trade at the same price), the SMA(10)/SMA(20) crossover always
long or short with 10 units: our engine (`services/backtester/engine.py`, trigger contexts recorded, as
a job runs it) and backtesting.py (test-only reference, AGPL, imported not copied) in this process.
Both must produce identical trades (entry/exit time and price). Prints bars/s of each and the ratio;
target ≥ 2×. Then, in a fresh child process, the peak RSS of loading a year of 1-minute bars and
backtesting them (target ≤ 400 MB). Finally, when `benchmarks/backtest_job.py` exists, the same candles
and program as a job through the API (submit → completed, data from the store; best of `--repeat` jobs
one after the other on one platform, like the in-process runs; target ≥ 1.5× backtesting.py's
in-process speed).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import print_table  # noqa: E402
from services.backtester.engine import BacktestOutcome, BacktestSpec, run_backtest, view_over  # noqa: E402
from shared.lang import compile_program  # noqa: E402
from shared.market.candles import CandleArrays  # noqa: E402
from shared.trading import AccountConfig  # noqa: E402

SMA_CROSS = """
fn run(ctx) {
    let fast = ctx.sma(10);
    let slow = ctx.sma(20);
    if fast == null || slow == null { return; }
    let pf = ctx.state.get("fast", null);
    let ps = ctx.state.get("slow", null);
    ctx.state.fast = fast;
    ctx.state.slow = slow;
    if pf == null { return; }
    if pf < ps && fast > slow {
        if ctx.position() != null { ctx.close(ctx.symbol, "cross up"); }
        ctx.buy(ctx.symbol, 10, "cross up");
    } else if ps < pf && slow > fast {
        if ctx.position() != null { ctx.close(ctx.symbol, "cross down"); }
        ctx.sell(ctx.symbol, 10, "cross down");
    }
}
"""
CASH = 1_000_000.0
FEE = 0.0002
MINUTE = 60_000
START = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def synthetic_minutes(n: int, seed: int = 42) -> CandleArrays:
    """`n` one-minute candles of a random walk, the last one flat (open = high = low = close)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.r_[100.0, close[:-1]]
    spread = rng.uniform(0.0, 0.0006, n)
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    open_[-1] = high[-1] = low[-1] = close[-1] = close[-2]
    volume = rng.uniform(1.0, 100.0, n)
    return CandleArrays(time=START + MINUTE * np.arange(n, dtype=np.int64), open=open_, high=high, low=low, close=close, volume=volume)


def run_ours(candles: CandleArrays) -> BacktestOutcome:
    compiled = compile_program(SMA_CROSS)
    assert compiled.ok, compiled.diagnostics
    view = view_over(candles, "SYN", "1m")
    return run_backtest(compiled.program, view, BacktestSpec(account=AccountConfig(initial_capital=CASH, fee_rate=FEE)))


def run_reference(candles: CandleArrays):  # type: ignore[no-untyped-def]
    import pandas as pd
    from backtesting import Backtest, Strategy

    def sma(values, n):  # type: ignore[no-untyped-def]
        return pd.Series(values).rolling(n).mean()

    def crossed(a, b) -> bool:  # type: ignore[no-untyped-def]
        return bool(a[-2] < b[-2] and a[-1] > b[-1])

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, 10)
            self.slow = self.I(sma, self.data.Close, 20)

        def next(self) -> None:
            if crossed(self.fast, self.slow):
                self.position.close()
                self.buy(size=10)
            elif crossed(self.slow, self.fast):
                self.position.close()
                self.sell(size=10)

    frame = pd.DataFrame(
        {"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close, "Volume": candles.volume},
        index=pd.to_datetime(candles.time, unit="ms"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(frame, SmaCross, cash=CASH, commission=FEE, finalize_trades=True).run()


def same_trades(ours: BacktestOutcome, stats) -> bool:  # type: ignore[no-untyped-def]
    theirs = stats["_trades"]
    if len(theirs) != len(ours.trades):
        print(f"trade counts differ: ours {len(ours.trades)}, backtesting.py {len(theirs)}")
        return False
    entry_times = theirs["EntryTime"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    exit_times = theirs["ExitTime"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    mine = np.array([(t.entry_time, t.exit_time) for t in ours.trades], dtype=np.int64)
    prices = np.array([(t.entry_price, t.exit_price) for t in ours.trades])
    return bool(
        np.array_equal(mine[:, 0], entry_times)
        and np.array_equal(mine[:, 1], exit_times)
        and np.allclose(prices[:, 0], theirs["EntryPrice"].to_numpy(), rtol=1e-12)
        and np.allclose(prices[:, 1], theirs["ExitPrice"].to_numpy(), rtol=1e-12)
        and abs(ours.metrics["final_equity"] - stats["Equity Final [$]"]) <= 1e-6 * CASH
    )


def timed(fn, *args):  # type: ignore[no-untyped-def]
    gc.collect()
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike getrusage's ru_maxrss it does not carry the parent's peak
    over fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(bars: int) -> None:
    """In a fresh process: the peak RSS of holding `bars` 1-minute candles and backtesting them."""
    baseline = peak_rss_mb()
    candles = synthetic_minutes(bars, seed=7)
    started = time.perf_counter()
    outcome = run_ours(candles)
    seconds = time.perf_counter() - started
    print(json.dumps({"bars": bars, "baseline_mb": baseline, "peak_mb": peak_rss_mb(), "seconds": seconds,
                      "trades": len(outcome.trades), "triggers": len(outcome.triggers)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--rss-bars", type=int, default=525_600, help="a year of 1-minute bars")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs of our engine")
    parser.add_argument("--no-reference", action="store_true", help="skip backtesting.py")
    parser.add_argument("--no-job", action="store_true", help="skip the full job through the API")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    rss = subprocess.run([sys.executable, __file__, "--rss-child", str(args.rss_bars)], capture_output=True, text=True, check=False)

    candles = synthetic_minutes(args.bars)
    reference = None
    if not args.no_reference:
        try:
            import backtesting  # noqa: F401
        except ImportError:
            reference = "backtesting.py not installed (pip install -e '.[test]')"
    # Interleaved, best of `--repeat` each: the machine is shared, the best run is each engine's speed.
    ours, ours_seconds, stats, ref_seconds = None, float("inf"), None, float("inf")
    for _ in range(max(1, args.repeat)):
        ours, seconds = timed(run_ours, candles)
        ours_seconds = min(ours_seconds, seconds)
        if reference is None and not args.no_reference:
            stats, seconds = timed(run_reference, candles)
            ref_seconds = min(ref_seconds, seconds)
    assert ours is not None
    rows: list[list[object]] = [["ours", f"{args.bars:,}", f"{ours_seconds:.2f}", f"{args.bars / ours_seconds:,.0f}",
                                 len(ours.trades), len(ours.triggers)]]  # fmt: skip
    verdict = reference or "backtesting.py skipped"
    if stats is not None:
        rows.append(["backtesting.py", f"{args.bars:,}", f"{ref_seconds:.2f}", f"{args.bars / ref_seconds:,.0f}",
                     len(stats["_trades"]), "-"])  # fmt: skip
        identical = same_trades(ours, stats)
        ratio = ref_seconds / ours_seconds
        verdict = (f"ratio {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'NOT met'}); "
                   f"trades identical: {'yes' if identical else 'NO'}")  # fmt: skip
    print_table(["engine", "bars", "seconds", "bars/s", "trades", "triggers"], rows)
    print(verdict)

    if rss.returncode == 0:
        info = json.loads(rss.stdout.strip().splitlines()[-1])
        print_table(
            ["engine process", "bars", "peak RSS MB", "of which imports MB", "seconds", "trades"],
            [["ours (fresh process)", f"{info['bars']:,}", f"{info['peak_mb']:.0f}", f"{info['baseline_mb']:.0f}",
              f"{info['seconds']:.2f}", info["trades"]]],
        )  # fmt: skip
        print(f"peak RSS target <= 400 MB: {'met' if info['peak_mb'] <= 400 else 'NOT met'}")
    else:
        print(f"RSS child failed: {rss.stderr.strip()[-500:]}")

    job = Path(__file__).with_name("backtest_job.py")
    if job.exists() and not args.no_job:
        print("\n== the same backtest as a job through the API (benchmarks/backtest_job.py) ==", flush=True)
        try:
            from benchmarks.backtest_job import measure_job

            measured = measure_job(candles, SMA_CROSS, symbol="SYN", initial_capital=CASH, fee_rate=FEE, repeat=args.repeat)
        except Exception as exc:  # noqa: BLE001 - report and go on: the in-process numbers stand
            print(f"job benchmark failed: {type(exc).__name__}: {exc}")
        else:
            runs = ", ".join(f"{seconds:.2f}" for seconds in measured["runs"])
            rows = [["job via API", f"{measured['bars']:,}", f"{measured['seconds']:.2f}", f"{measured['bars_per_s']:,.0f}", runs]]
            print_table(["run", "bars", "seconds (best)", "bars/s", "every job (s)"], rows)
            if stats is not None:
                ratio = ref_seconds / measured["seconds"]
                print(f"job vs backtesting.py in-process: {ratio:.2f}x (target >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})")

if __name__ == "__main__":
    main()
