"""The candle store on MongoDB through PyMongo's async API (`AsyncMongoClient`'s database object).

Collections: `candles` (one document per candle: symbol, timeframe, time, open, high, low, close,
volume, source; unique index on (symbol, timeframe, time)), `candle_coverage` (one summary document
per (symbol, timeframe)) and `candle_meta` (markers). Writes are unordered `bulk_write` upserts in
batches; a duplicate-key race between two writers of the same candle is harmless (same key, and
the retry below re-applies the batch). Reads are async only, which is why views preload what they
need when this store is configured.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, ConnectionFailure

from shared.market.candle_store import Coverage, check_write
from shared.market.candles import CandleArrays
from shared.market.timeframes import parse_timeframe
from shared.store.port import StoreUnavailableError

__all__ = ["MongoCandleStore"]

_BATCH = 5_000
_FIELDS = ("open", "high", "low", "close", "volume")


class MongoCandleStore:
    """`CandleStore` over an async MongoDB database (`client[db_name]`)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._candles = db["candles"]
        self._coverage = db["candle_coverage"]
        self._meta = db["candle_meta"]
        self._ready = False
        self._ready_lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await self._guard(self._candles.create_index(
                    [("symbol", ASCENDING), ("timeframe", ASCENDING), ("time", ASCENDING)], unique=True, name="symbol_timeframe_time"
                ))
                self._ready = True

    @staticmethod
    async def _guard(awaitable: Any) -> Any:
        try:
            return await awaitable
        except ConnectionFailure as exc:
            raise StoreUnavailableError(f"candle store: {exc}") from exc

    async def write(self, symbol: str, timeframe: str, candles: CandleArrays, *, source: str, replace: bool = True) -> int:
        tf = check_write(symbol, timeframe, candles, source)
        if not len(candles):
            return 0
        await self._ensure()
        columns = [getattr(candles, name).tolist() for name in _FIELDS]
        changed = 0
        times = candles.time.tolist()
        for lo in range(0, len(times), _BATCH):
            ops = []
            for i in range(lo, min(lo + _BATCH, len(times))):
                key = {"symbol": symbol, "timeframe": tf, "time": times[i]}
                values = {name: columns[k][i] for k, name in enumerate(_FIELDS)}
                values["source"] = source
                update = {"$set": values} if replace else {"$setOnInsert": values}
                ops.append(UpdateOne(key, update, upsert=True))
            changed += await self._bulk(ops)
        if changed:
            await self._refresh_coverage(symbol, tf, source)
        return changed

    async def _bulk(self, ops: list[UpdateOne]) -> int:
        for attempt in range(2):
            try:
                result = await self._guard(self._candles.bulk_write(ops, ordered=False))
                return int(result.upserted_count) + int(result.modified_count)
            except BulkWriteError as exc:  # a concurrent writer inserted the same key first: re-apply once
                if attempt or any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
        return 0

    async def _refresh_coverage(self, symbol: str, tf: str, source: str) -> None:
        cursor = await self._guard(self._candles.aggregate([
            {"$match": {"symbol": symbol, "timeframe": tf}},
            {"$group": {"_id": None, "first": {"$min": "$time"}, "last": {"$max": "$time"}, "rows": {"$sum": 1}}},
        ]))
        summary = (await cursor.to_list(None))[0]
        key = f"{symbol}|{tf}"
        known = await self._guard(self._coverage.find_one({"_id": key}))
        sources = set(known.get("sources", [])) if known else set()
        sources.add(source)
        await self._guard(self._coverage.replace_one(
            {"_id": key},
            {"_id": key, "symbol": symbol, "timeframe": tf, "first": int(summary["first"]), "last": int(summary["last"]),
             "rows": int(summary["rows"]), "sources": sorted(sources)},
            upsert=True,
        ))

    async def read(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> CandleArrays:
        tf = parse_timeframe(timeframe)
        await self._ensure()
        window: dict[str, int] = {}
        if start_ms is not None:
            window["$gte"] = int(start_ms)
        if end_ms is not None:
            window["$lt"] = int(end_ms)
        query: dict[str, Any] = {"symbol": symbol, "timeframe": tf}
        if window:
            query["time"] = window
        projection = {"_id": 0, "time": 1, **{name: 1 for name in _FIELDS}}
        try:
            docs = await self._candles.find(query, projection).sort("time", ASCENDING).to_list(None)
        except ConnectionFailure as exc:
            raise StoreUnavailableError(f"candle store: {exc}") from exc
        if not docs:
            return CandleArrays.empty()
        return CandleArrays(
            np.fromiter((d["time"] for d in docs), dtype=np.int64, count=len(docs)),
            *(np.fromiter((d[name] for d in docs), dtype=np.float64, count=len(docs)) for name in _FIELDS),
        )

    async def coverage(self, symbol: str | None = None) -> list[Coverage]:
        try:
            docs = await self._coverage.find({"symbol": symbol} if symbol else {}).sort([("symbol", 1), ("timeframe", 1)]).to_list(None)
        except ConnectionFailure as exc:
            raise StoreUnavailableError(f"candle store: {exc}") from exc
        return [Coverage(d["symbol"], d["timeframe"], d["first"], d["last"], d["rows"], tuple(d.get("sources", ()))) for d in docs]

    async def get_marker(self, key: str) -> str | None:
        doc = await self._guard(self._meta.find_one({"_id": key}))
        return doc["value"] if doc else None

    async def set_marker(self, key: str, value: str) -> None:
        await self._guard(self._meta.replace_one({"_id": key}, {"_id": key, "value": value}, upsert=True))

    async def close(self) -> None:
        """The database client belongs to the caller, who closes it."""
