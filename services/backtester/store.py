"""The backtester's collections; the only module of the service that touches them.

- `backtests`: one record per job (status, progress, settings, metrics, the downsampled curve, the
  failure). Status changes are compare-and-set on the status read (`shared.jobs` decides which moves
  exist), so a cancel racing a completion, or two replicas with the same job, cannot both win.
- `backtest_equity`, `backtest_trades`, `backtest_triggers`, `backtest_markers`: a job's results, in
  chunk documents of a fixed number of items (ids `<bt-id>:<chunk>`), because a year of one-minute
  bars is 500,000 equity points and thousands of trades: one document each would be as many writes.
  Item `n` lives in chunk `n // size` at position `n % size`, so a page, or one trigger
  (`trig-<hex>-<n>`), is one or two primary-key reads. Writing results is idempotent (old chunks of
  the job are deleted, then chunks are replaced by id), so a redelivered job rewrites the same result.
  A chunk's items are packed (`pack_items`): the engine's own records (`services/backtester/items.py`:
  trigger and trade rows as msgpack, markers as numpy columns, the curve as float64 pairs), zstd-
  compressed, in base64; the API's items are made from them when read (`unpack_items`). Why: a year
  of one-minute bars is ~50 MB of JSON (digit-heavy floats) and building it took as long as the
  backtest; packed rows are ~6 MB, encoded and written in a fraction of a second, and a page still
  costs one small decompression. Chunks written earlier (plain `items`, zlib JSON, zlib pairs) still read.
- `backtest_active`: under the service's own owner, the ids of jobs not finished yet (queued or
  running), for crash-only start-up and the sweeper, which must find them across owners.

Everything else is owner-scoped like every other store query.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import zstandard

from services.backtester.items import MARKER_DTYPE, marker_items, trade_item, trigger_item
from shared.jobs import is_terminal, transition
from shared.store import CollectionSpec, Doc, Store

BACKTESTS = CollectionSpec("backtests", indexes=(("seq",), ("program_id", "seq"), ("status", "seq")))
EQUITY = CollectionSpec("backtest_equity", indexes=(("backtest_id",),))
TRADES = CollectionSpec("backtest_trades", indexes=(("backtest_id",),))
TRIGGERS = CollectionSpec("backtest_triggers", indexes=(("backtest_id",),))
MARKERS = CollectionSpec("backtest_markers", indexes=(("backtest_id",),))
ACTIVE = CollectionSpec("backtest_active", indexes=(("created_at",),))

SYSTEM_OWNER = "_backtester"
"""Owner of the `backtest_active` index (no user can be called this: owners start with a letter or digit)."""

CHUNK_SIZES = {EQUITY.name: 10_000, TRADES.name: 1_000, TRIGGERS.name: 200, MARKERS.name: 2_000}
RESULT_COLLECTIONS = (EQUITY.name, TRADES.name, TRIGGERS.name, MARKERS.name)


def chunk_id(backtest_id: str, chunk: int) -> str:
    return f"{backtest_id}:{chunk}"


_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode
_encode_rows = msgspec.msgpack.Encoder().encode
_decode_rows = msgspec.msgpack.Decoder().decode
_compress = zstandard.ZstdCompressor(level=1).compress
_decompress = zstandard.ZstdDecompressor().decompress
PAIRS = "zstd-f8x2"
"""Equity chunks: `[time ms, equity]` pairs as little-endian float64."""
TRIGGER_ROWS = "zstd-msgpack-triggers"
"""Trigger chunks: msgpack of the engine's `Trigger` rows (`items.py`)."""
TRADE_ROWS = "zstd-msgpack-trades"
"""Trade chunks: msgpack of the engine's `ClosedTrade`s."""
MARKER_COLUMNS = "zstd-markers"
"""Marker chunks: the `items.MARKER_DTYPE` records."""
JSON = "zlib-json"
"""The API's items as JSON (zlib): what an older worker handed over, and chunks written before rows."""
_OLD_PAIRS = "zlib-f8x2"


def pack_items(name: str, values: Any) -> dict[str, Any]:
    """The stored form of one chunk's items (see the module docstring): engine records (a curve array,
    `ClosedTrade`s, `Trigger`s, marker columns), or the API's items as dicts."""
    if name == EQUITY.name:
        raw = np.ascontiguousarray(np.asarray(values, dtype="<f8").reshape(-1, 2)).tobytes()
        encoding = PAIRS
    elif name == MARKERS.name and isinstance(values, np.ndarray):
        raw = np.ascontiguousarray(values, dtype=MARKER_DTYPE).tobytes()
        encoding = MARKER_COLUMNS
    elif len(values) and not isinstance(values[0], dict):
        raw = _encode_rows(values)
        encoding = TRIGGER_ROWS if name == TRIGGERS.name else TRADE_ROWS
    else:
        return {"encoding": JSON, "count": len(values),
                "data": base64.b64encode(zlib.compress(_encode_json(list(values)), 1)).decode("ascii")}  # fmt: skip
    return {"encoding": encoding, "count": len(values), "data": base64.b64encode(_compress(raw)).decode("ascii")}


def unpack_items(doc: dict[str, Any], start: int = 0, stop: int | None = None, *, contexts: bool = True) -> list[Any]:
    """The API's items `start:stop` of one chunk (equity: `[time ms, equity]` pairs); triggers without
    their context unless `contexts`. Only the items asked for are made."""
    return _unpack(doc, contexts)[start:stop] if _is_old(doc) else _unpack(doc, contexts, start, stop)


def _is_old(doc: dict[str, Any]) -> bool:
    return "items" in doc or doc["encoding"] in (JSON, _OLD_PAIRS)


def _unpack(doc: dict[str, Any], contexts: bool, start: int = 0, stop: int | None = None) -> list[Any]:
    if "items" in doc:  # written before chunks were packed
        return doc["items"]  # type: ignore[no-any-return]
    encoding = doc["encoding"]
    if encoding in (JSON, _OLD_PAIRS):
        raw = zlib.decompress(base64.b64decode(doc["data"]))
        if encoding == _OLD_PAIRS:
            return np.frombuffer(raw, dtype="<f8").reshape(-1, 2).tolist()  # type: ignore[no-any-return]
        return _decode_json(raw)  # type: ignore[no-any-return]
    raw = _decompress(base64.b64decode(doc["data"]))
    if encoding == PAIRS:
        return np.frombuffer(raw, dtype="<f8").reshape(-1, 2)[start:stop].tolist()  # type: ignore[no-any-return]
    if encoding == MARKER_COLUMNS:
        return marker_items(np.frombuffer(raw, dtype=MARKER_DTYPE)[start:stop])
    rows = _decode_rows(raw)[start:stop]
    if encoding == TRADE_ROWS:
        return [trade_item(row) for row in rows]
    if encoding == TRIGGER_ROWS:
        first = doc["chunk"] * CHUNK_SIZES[TRIGGERS.name] + start
        return [trigger_item(row, doc["backtest_id"], first + n, context=contexts) for n, row in enumerate(rows)]
    raise ValueError(f"unknown result chunk encoding {encoding!r}")


class BacktestStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: Store) -> BacktestStore:
        for spec in (BACKTESTS, EQUITY, TRADES, TRIGGERS, MARKERS, ACTIVE):
            await store.ensure(spec)
        return cls(store)

    async def ping(self) -> None:
        await self._store.ping()

    def _c(self, name: str) -> Any:
        return self._store.collection(name)

    # ---- records --------------------------------------------------------------------------------

    async def next_seq(self) -> int:
        return await self._store.next_id("backtests")

    async def create(self, doc: Doc) -> None:
        """The record first, then the active index: an index entry never points at nothing."""
        await self._c(BACKTESTS.name).insert(doc)
        await self._c(ACTIVE.name).replace(
            {"id": doc["id"], "owner": SYSTEM_OWNER, "job_owner": doc["owner"], "created_at": doc["created_at"]}
        )

    async def get(self, owner: str, backtest_id: str) -> Doc | None:
        return await self._c(BACKTESTS.name).get(owner, backtest_id)

    async def move(self, owner: str, backtest_id: str, current: str, target: str, changes: dict[str, Any] | None = None,
                   *, where: dict[str, Any] | None = None) -> Doc | None:
        """Compare-and-set `current` → `target` (checked against the lifecycle table); None when the
        record is no longer in `current` (someone else moved it first). Finishing drops the index entry."""
        transition(current, target)
        values = {**(changes or {}), "status": target}
        doc = await self._c(BACKTESTS.name).update(owner, backtest_id, values, where={"status": current, **(where or {})})
        if doc is not None and is_terminal(target):
            await self._c(ACTIVE.name).delete(SYSTEM_OWNER, backtest_id)
        return doc

    async def touch(self, owner: str, backtest_id: str, changes: dict[str, Any], *, attempt: int) -> Doc | None:
        """Progress and heartbeat of a running job, only while this attempt still owns it (a cancel or
        a newer claim makes this None, which tells the runner to stop)."""
        return await self._c(BACKTESTS.name).update(
            owner, backtest_id, changes, where={"status": "running", "attempts": attempt}
        )

    async def forget_active(self, backtest_id: str) -> None:
        await self._c(ACTIVE.name).delete(SYSTEM_OWNER, backtest_id)

    async def active(self, limit: int = 1000) -> list[Doc]:
        """Unfinished jobs of every owner, oldest first (crash-only start-up and the sweeper)."""
        return await self._c(ACTIVE.name).find(SYSTEM_OWNER, order_by=(("created_at", 1),), limit=limit)

    async def history(self, owner: str, *, limit: int, before_seq: int | None, program_id: int | None,
                      status: str | None) -> list[Doc]:
        where: dict[str, Any] = {}
        if program_id is not None:
            where["program_id"] = program_id
        if status is not None:
            where["status"] = status
        if before_seq is not None:
            where["seq"] = {"$lt": before_seq}
        return await self._c(BACKTESTS.name).find(owner, where, order_by=(("seq", -1),), limit=limit)

    # ---- results --------------------------------------------------------------------------------

    async def write_results(self, owner: str, backtest_id: str, items: dict[str, Sequence[Any] | np.ndarray]) -> None:
        """Replace the job's result chunks (idempotent: the same result written twice is one result).
        The equity curve may be given as an (n, 2) array of `[time ms, equity]`."""
        for name in RESULT_COLLECTIONS:
            collection = self._c(name)
            await collection.delete_many(owner, {"backtest_id": backtest_id})
            values = items.get(name, ())
            size = CHUNK_SIZES[name]
            for chunk, start in enumerate(range(0, len(values), size)):
                await collection.replace(
                    {
                        "id": chunk_id(backtest_id, chunk),
                        "owner": owner,
                        "backtest_id": backtest_id,
                        "chunk": chunk,
                        **pack_items(name, values[start : start + size]),
                    }
                )

    async def read_items(self, owner: str, name: str, backtest_id: str, start: int, count: int, *,
                         contexts: bool = True) -> list[Any]:
        """Items `start` … `start + count - 1` of one result list (fewer at its end); triggers without
        their context unless `contexts`."""
        size = CHUNK_SIZES[name]
        collection = self._c(name)
        found: list[Any] = []
        chunk = start // size
        position = start % size
        while len(found) < count:
            doc = await collection.get(owner, chunk_id(backtest_id, chunk))
            if doc is None:
                break
            found.extend(unpack_items(doc, position, position + count - len(found), contexts=contexts))
            if doc.get("count", len(doc.get("items", ()))) < size:
                break
            chunk, position = chunk + 1, 0
        return found

    async def delete_results(self, owner: str, backtest_id: str) -> None:
        for name in RESULT_COLLECTIONS:
            await self._c(name).delete_many(owner, {"backtest_id": backtest_id})
