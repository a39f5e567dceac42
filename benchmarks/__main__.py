"""`python -m benchmarks` (or `make bench`): every benchmark, one table each."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ("gateway", "market", "language", "live", "backtest")


def main() -> None:
    for name in ORDER:
        if not (HERE / f"{name}.py").exists():
            continue
        print(f"\n== {name} ==", flush=True)
        sys.argv = [f"benchmarks/{name}.py"]
        runpy.run_module(f"benchmarks.{name}", run_name="__main__")


main()
