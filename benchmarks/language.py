"""How many times per second a compiled program's `run` can be called, as a backtest calls it.

Run: `.venv/bin/python benchmarks/language.py` (optionally `--bars N`). Prints one row per program,
the best of `--repeat` backtests (the machine is shared; the best run is the code's speed):
(a) the grid example of LANGUAGE.md, (b) an SMA crossover reading two indicators. The market view is
a fake whose `indicator` is a dict lookup into precomputed arrays at an index that advances every
call, so the numbers measure the language, not indicator maths. Target: ≥ 300,000 calls/s for (b).

A second table (`--compile`, on by default) times compiling programs of 10k, 100k and 1M characters of
each shape in `tests/lang/big.py` (past the 64 KiB platform limit on purpose) and prints the growth
factor per tenfold size: about 10 is linear; a quadratic step shows as about 100.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import print_table
from shared.lang import AccountSnapshot, RunLimits, compile_program
from tests.lang.big import SHAPES

GRID = """
// Grid: buy each time price falls one grid step below the last fill, sell one step above.
fn run(ctx) {
    let step = ctx.params.get("spacing", 250);
    let qty = ctx.params.get("quantity", 0.01);
    let last = ctx.state.get("last_fill", ctx.price);
    if ctx.price <= last - step {
        ctx.state.last_fill = ctx.price;
        ctx.buy(ctx.symbol, qty, "Grid level hit");
    } else if ctx.price >= last + step && ctx.position() != null {
        ctx.state.last_fill = ctx.price;
        ctx.sell(ctx.symbol, qty, "Grid level hit");
    } else {
        ctx.hold("between grid levels");
    }
}
"""

SMA_CROSS = """
fn run(ctx) {
    let fast = ctx.sma(10);
    let slow = ctx.sma(30);
    if fast == null || slow == null {
        ctx.hold("warming up");
        return;
    }
    let pos = ctx.position();
    if fast > slow && pos == null {
        ctx.buy(ctx.symbol, 0.01, "fast above slow");
    } else if fast < slow && pos != null {
        ctx.close(ctx.symbol, "fast below slow");
    } else {
        ctx.hold("no signal");
    }
}
"""


def _sma(prices: list[float], window: int) -> list[float | None]:
    out: list[float | None] = [None] * len(prices)
    total = 0.0
    for i, price in enumerate(prices):
        total += price
        if i >= window:
            total -= prices[i - window]
        if i >= window - 1:
            out[i] = total / window
    return out


class ReplayView:
    """A MarketView over precomputed series; `index` is the current bar."""

    def __init__(self, prices: list[float]) -> None:
        self.symbol = "BTC"
        self.timeframe = "1h"
        self.index = 0
        self.prices = prices
        self.series: dict[tuple[str, tuple[float, ...]], list[float | None]] = {
            ("sma", (10.0,)): _sma(prices, 10),
            ("sma", (30.0,)): _sma(prices, 30),
        }

    @property
    def price(self) -> float:
        return self.prices[self.index]

    @property
    def timestamp(self) -> int:
        return 1_700_000_000_000 + self.index * 3_600_000

    def candles(self, n: int) -> list[dict[str, float | str]]:
        return []

    def indicator(self, name: str, args: tuple[float, ...]) -> float | None:
        return self.series[(name, args)][self.index]

    def market(self, symbol: str, timeframe: str | None = None) -> ReplayView:
        return self


class FillingAccount(AccountSnapshot):
    """Opens and closes a position when the benchmark sees a decision (a minimal broker)."""

    def apply(self, decision: dict[str, object], price: float) -> None:
        action = decision["action"]
        if action == "buy":
            self.positions["BTC"] = {"side": "long", "size": decision["quantity"], "entry_price": price,
                                     "unrealized_pnl": 0.0}  # fmt: skip
        elif action in ("sell", "close"):
            self.positions.pop("BTC", None)


def _runner(source: str, prices: list[float]) -> tuple[ReplayView, FillingAccount, Callable[[], object]]:
    result = compile_program(source)
    assert result.ok and result.program is not None, result.errors
    view = ReplayView(prices)
    account = FillingAccount()
    runner = result.program.runner(
        view,
        account,
        params={"spacing": 250, "quantity": 0.01},
        state={"last_fill": prices[0]},
        trigger={"type": "backtest"},
        limits=RunLimits.backtest(),
    )
    return view, account, runner.run


def measure(source: str, bars: int, prices: list[float], repeat: int) -> float:
    """Best calls per second over `repeat` backtests of `bars` bars (fills applied as it goes)."""
    best = 0.0
    for _ in range(repeat):
        view, account, run = _runner(source, prices)
        apply = account.apply
        gc.collect()
        started = time.perf_counter()
        for i in range(bars):
            view.index = i
            decision = run().decision  # type: ignore[attr-defined]
            if decision["action"] != "hold":
                apply(decision, prices[i])
        best = max(best, bars / (time.perf_counter() - started))
    return best


def decisions(source: str, bars: int, prices: list[float]) -> dict[str, int]:
    """What the program decided over the first bars: a check that the benchmark exercises it."""
    view, account, run = _runner(source, prices)
    seen: dict[str, int] = {}
    for i in range(bars):
        view.index = i
        outcome = run()
        assert outcome.status == "ok", outcome.error  # type: ignore[attr-defined]
        decision = outcome.decision  # type: ignore[attr-defined]
        seen[decision["action"]] = seen.get(decision["action"], 0) + 1
        if decision["action"] != "hold":
            account.apply(decision, prices[i])
    return seen


def compile_rows(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> list[tuple[str, ...]]:
    """Seconds (CPU) to compile each shape at each size, and the growth per tenfold size."""
    rows = []
    for name, make in SHAPES.items():
        seconds = []
        for size in sizes:
            source = make(size)
            gc.collect()
            started = time.process_time()
            result = compile_program(source, max_bytes=10**9)
            seconds.append(time.process_time() - started)
            assert result.ok, result.errors[:2]
        growth = [later / max(earlier, 1e-4) for earlier, later in zip(seconds, seconds[1:], strict=False)]
        rows.append((name, *(f"{s:.3f}" for s in seconds), " / ".join(f"{g:.1f}×" for g in growth)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time table")
    args = parser.parse_args()
    rng = random.Random(7)
    prices = [60_000.0]
    for _ in range(args.bars - 1):
        prices.append(max(1.0, prices[-1] * (1 + rng.gauss(0, 0.004))))
    rows = []
    for label, source, target in (("(a) grid (LANGUAGE.md)", GRID, None), ("(b) SMA crossover", SMA_CROSS, 300_000)):
        rate = measure(source, args.bars, prices, args.repeat)
        seen = ", ".join(f"{k} {v}" for k, v in sorted(decisions(source, 2000, prices).items()))
        verdict = "—" if target is None else (f">= {target:,}: " + ("met" if rate >= target else "NOT MET"))
        rows.append((label, f"{rate:,.0f}", f"{1e6 / rate:.2f}", verdict, seen))
    print_table(("program", "calls/s", "µs/call", "target", "decisions in the first 2,000 bars"), rows)
    if not args.no_compile:
        print()
        print_table(("compile: shape", "10k chars (s)", "100k chars (s)", "1M chars (s)", "growth per 10× size"), compile_rows())


if __name__ == "__main__":
    main()
