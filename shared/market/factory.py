"""Opening market data from the settings: the candle store the configuration names, and the sources.

One function used by every service and the CLI, so all of them read the same candles the same way.

The market clock: with `MARKET_LIVE_SPEED` > 1 market time runs faster than the wall clock from an
anchor (`MarketData.now`). Every process of a platform must use the SAME anchor, or replicas and a
restarted process disagree on "now" (a restarted executor would see market time jump back).
`MARKET_CLOCK_ANCHOR` names it; `hyperoru up` picks it once (`shared_clock_anchor`), keeps it in the
data dir so a restart of the platform continues the same market clock, and hands it to every child.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from shared.market.candle_store import CandleStore
from shared.market.market_data import MarketData, build_market_data
from shared.market.store_mongo import MongoCandleStore
from shared.market.store_sqlite import SqliteCandleStore
from shared.settings import Settings, SettingsError
from shared.timefmt import now_ms, parse_time

ANCHOR_ENV = "MARKET_CLOCK_ANCHOR"
ANCHOR_FILE = "market-clock.json"
"""In the data dir: `{"anchor_ms": …, "speed": …}`, written by `hyperoru up` (delete it to start afresh)."""


def parse_clock_anchor(text: str | None) -> int | None:
    """`MARKET_CLOCK_ANCHOR` (epoch ms, or an ISO date/date-time, UTC when naive) → epoch ms; None if unset."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        return int(value) if value.isdigit() else parse_time(value)
    except ValueError:
        raise SettingsError(f"invalid environment: `{ANCHOR_ENV}` is neither epoch milliseconds nor an ISO date-time: {value!r}") from None


def shared_clock_anchor(data_dir: Path, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The `MARKET_CLOCK_ANCHOR` every process of one `hyperoru up` gets (as an env entry).

    A value in `env` wins. Otherwise, with a sped-up clock, the anchor stored in the data dir for the
    same speed (a restart continues the same market clock), else a new one (now) which is stored.
    At speed 1 market time is the wall clock and no anchor is needed (nothing is written).
    """
    given = env.get(ANCHOR_ENV, "").strip()
    if given:
        parse_clock_anchor(given)
        return {ANCHOR_ENV: given}
    try:
        speed = float(env.get("MARKET_LIVE_SPEED", "") or 1.0)
    except ValueError:
        return {}  # the services refuse the bad speed themselves, naming it
    if speed == 1.0:
        return {}
    path = Path(data_dir) / ANCHOR_FILE
    try:
        stored = json.loads(path.read_text())
        if float(stored["speed"]) == speed:
            return {ANCHOR_ENV: str(int(stored["anchor_ms"]))}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: start a new one
    anchor = now_ms()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"anchor_ms": anchor, "speed": speed}))
    os.replace(scratch, path)  # crash-only: the file is the old one or the new one, never half
    return {ANCHOR_ENV: str(anchor)}


async def open_candle_store(settings: Settings, resources: AsyncExitStack) -> CandleStore:
    store: CandleStore
    if settings.mongodb_url:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url, serverSelectionTimeoutMS=5000)
        resources.push_async_callback(client.close)
        store = MongoCandleStore(client[settings.mongodb_db])
    else:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        store = SqliteCandleStore(settings.sqlite_path)
    resources.push_async_callback(store.close)
    return store


async def open_market_data(settings: Settings, resources: AsyncExitStack) -> tuple[MarketData, CandleStore]:
    store = await open_candle_store(settings, resources)
    market = build_market_data(
        store, seed=settings.market_seed, hyperliquid_url=settings.hyperliquid_url, live_speed=settings.market_live_speed,
        clock_anchor_ms=parse_clock_anchor(settings.market_clock_anchor),
    )
    resources.push_async_callback(market.close)
    return market, store
