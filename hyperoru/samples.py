"""Sample programs created on a platform's first start, so a newcomer has something to open and run.

They are the dev guide's example strategies (tested to compile and run bar by bar), created through the
public API like any user's programs, and only when the default owner has no programs yet (a second
start, or a user who deleted them, gets none).
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

from services.executor.guide import examples

if TYPE_CHECKING:
    from hyperoru.embedded import Platform

NAMES = {
    "grid": "Grid Bot",
    "rsi_mean_reversion": "RSI Mean Reversion",
    "sma_ema_crossover": "SMA/EMA Crossover",
    "atr_breakout": "Breakout with ATR Stop",
    "dca": "DCA",
}


def samples() -> list[dict[str, str]]:
    """One program per guide example; the description is the example's first comment line."""
    programs = []
    for key, code in examples().items():
        first_line = code.splitlines()[0].removeprefix("//").strip()
        programs.append({"name": NAMES.get(key, key), "description": first_line, "code": code})
    return programs


def _call(url: str, method: str = "GET", body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def seed_samples(platform: Platform) -> None:
    programs = f"{platform.url}/api/programs/"
    if _call(f"{programs}?limit=1"):
        return
    created = samples()
    for sample in created:
        _call(programs, "POST", sample)
    platform.say(f"created {len(created)} sample programs: {', '.join(s['name'] for s in created)}")
