"""What only the SQLite adapter has to prove: durability in a file, and several processes sharing it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from shared.store import Collection, CollectionSpec, StoreUnavailableError
from shared.store.sqlite import SqliteStore

ITEMS = CollectionSpec("items", indexes=(("kind", "rank"),))
REPO = Path(__file__).resolve().parents[2]


async def test_documents_and_counters_survive_reopening_the_file(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "s.db")
    items = await first.ensure(ITEMS)
    await items.insert({"id": await first.next_id("items"), "owner": "alice", "kind": "a"})
    await first.close()

    second = SqliteStore(tmp_path / "s.db")
    items = await second.ensure(ITEMS)
    assert await items.get("alice", 1) == {"id": 1, "owner": "alice", "kind": "a"}
    assert await second.next_id("items") == 2
    await second.close()


async def test_two_stores_on_one_file_both_write_and_see_each_others_writes(tmp_path: Path) -> None:
    one, two = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    items_one, items_two = await one.ensure(ITEMS), await two.ensure(ITEMS)

    async def write(store: SqliteStore, items: Collection, by: str) -> None:
        for _ in range(50):
            await items.insert({"id": await store.next_id("items"), "owner": "alice", "by": by})

    await asyncio.gather(write(one, items_one, "one"), write(two, items_two, "two"))
    assert await items_one.count("alice") == await items_two.count("alice") == 100
    assert await items_two.count("alice", {"by": "one"}) == 50
    assert sorted(d["id"] for d in await items_one.find("alice")) == list(range(1, 101))
    assert await items_two.update("alice", 1, {"seen": True}) is not None
    assert (await items_one.get("alice", 1))["seen"] is True
    await one.close()
    await two.close()


WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    from shared.store import CollectionSpec
    from shared.store.sqlite import SqliteStore

    async def main(path, n):
        store = SqliteStore(path)
        items = await store.ensure(CollectionSpec("items", indexes=(("kind", "rank"),)))
        ids = []
        for _ in range(n):
            ids.append(await store.next_id("items"))
            await items.insert({"id": ids[-1], "owner": "alice"})
        await store.close()
        print(json.dumps(ids))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_processes_creating_and_writing_one_file_at_once_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # not created yet: the processes race to create it and switch it to WAL
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(path), "100", cwd=REPO, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0]
    ids = [id for stdout, _ in outputs for id in json.loads(stdout)]
    assert sorted(ids) == list(range(1, 401))

    store = SqliteStore(path)
    assert await (await store.ensure(ITEMS)).count("alice") == 400
    await store.close()


async def test_a_write_lock_held_past_the_busy_timeout_makes_the_store_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", busy_timeout_ms=50)
    items = await store.ensure(ITEMS)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    with pytest.raises(StoreUnavailableError):
        await items.insert({"id": 1, "owner": "alice"})
    assert await items.get("alice", 1) is None  # WAL: reads go on while the lock is held
    other.execute("ROLLBACK")
    await items.insert({"id": 1, "owner": "alice"})
    other.close()
    await store.close()


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_filters_and_sorts_on_indexed_fields_use_the_owner_led_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    items = await store.ensure(ITEMS)
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)  # white-box: look at the SQL the adapter ran
    await items.find("alice", {"kind": "a"}, order_by=[("rank", -1)], limit=5)
    await items.get("alice", 1)
    store._conn.set_trace_callback(None)
    find_plan, get_plan = (
        " ".join(row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements
    )
    assert "USING INDEX items__kind__rank__id" in find_plan
    assert "TEMP B-TREE" not in find_plan  # the sort by rank comes from the index
    assert "sqlite_autoindex_items_1" in get_plan  # the primary key
    await store.close()
