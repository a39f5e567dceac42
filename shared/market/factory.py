"""Opening market data from the settings: the candle store the configuration names, and the sources.

One function used by every service and the CLI, so all of them read the same candles the same way.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from shared.market.candle_store import CandleStore
from shared.market.market_data import MarketData, build_market_data
from shared.market.store_mongo import MongoCandleStore
from shared.market.store_sqlite import SqliteCandleStore
from shared.settings import Settings


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
        store, seed=settings.market_seed, hyperliquid_url=settings.hyperliquid_url, live_speed=settings.market_live_speed
    )
    resources.push_async_callback(market.close)
    return market, store
