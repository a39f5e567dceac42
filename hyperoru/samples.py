"""Sample programs created on a platform's first start, so a newcomer has something to open and run.

They are created through the public API, like any user's programs, and only when the default owner has
no programs yet (a second start, or a user who deleted them, gets none).
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperoru.embedded import Platform

SAMPLES: tuple[dict[str, str], ...] = (
    {
        "name": "Grid Bot",
        "description": "Buys each time price falls one grid step below the last fill, sells one step above.",
        "code": """// Grid: buy each time price falls one grid step below the last fill, sell one step above.
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
""",
    },
)


def _call(url: str, method: str = "GET", body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def seed_samples(platform: Platform) -> None:
    programs = f"{platform.url}/api/programs/"
    if _call(f"{programs}?limit=1"):
        return
    for sample in SAMPLES:
        _call(programs, "POST", sample)
    platform.say(f"created {len(SAMPLES)} sample program(s)")
