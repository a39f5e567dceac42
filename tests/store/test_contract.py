"""The storage contract: every adapter must pass every test here, unchanged.

Adapters: SQLite on a real temp file, the Mongo adapter over the in-memory PyMongo double, and the
Mongo adapter over a real server when `MONGODB_URL` is set (each test then uses its own database,
dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.store import Collection, CollectionSpec, DuplicateKeyError, InvalidQueryError, Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.doubles.mongo import AsyncMongoClientDouble

MONGODB_URL = os.environ.get("MONGODB_URL")
ITEMS = CollectionSpec("items", indexes=(("kind",), ("kind", "rank")))
ALICE, BOB = "alice", "bob"


@pytest.fixture(
    params=[
        "sqlite",
        "mongo-double",
        pytest.param(
            "mongo-server",
            marks=pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set: no MongoDB server to test against"),
        ),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        sqlite_store = SqliteStore(tmp_path / "store.db")
        yield sqlite_store
        await sqlite_store.close()
    elif request.param == "mongo-double":
        double_store = MongoStore(AsyncMongoClientDouble(), "contract")
        yield double_store
        await double_store.close()
    else:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)
        db_name = f"contract_{uuid.uuid4().hex[:12]}"
        yield MongoStore(client, db_name)
        await client.drop_database(db_name)
        await client.close()


@pytest.fixture
async def items(store: Store) -> Collection:
    return await store.ensure(ITEMS)


def item(id: int | str, owner: str = ALICE, **fields: Any) -> dict[str, Any]:
    return {"id": id, "owner": owner, **fields}


def ids(docs: list[dict[str, Any]]) -> list[int | str]:
    return [doc["id"] for doc in docs]


# --- insert / get ---------------------------------------------------------------------------------


async def test_inserted_document_is_returned_unchanged_by_get(items: Collection) -> None:
    doc = item(1, name="RSI dip ✓", rank=2.5, enabled=True, note=None, tags=["a", "b"], params={"n": 14, "x": [1.5]})
    await items.insert(doc)
    assert await items.get(ALICE, 1) == doc


async def test_get_of_unknown_id_returns_none(items: Collection) -> None:
    assert await items.get(ALICE, 404) is None


async def test_int_and_string_ids_are_different_ids(items: Collection) -> None:
    await items.insert(item(1, kind="int"))
    await items.insert(item("1", kind="str"))
    assert (await items.get(ALICE, 1))["kind"] == "int"
    assert (await items.get(ALICE, "1"))["kind"] == "str"


async def test_insert_of_existing_id_raises_duplicate_key_error(items: Collection) -> None:
    await items.insert(item("bt-1", rank=1))
    with pytest.raises(DuplicateKeyError):
        await items.insert(item("bt-1", rank=2))
    assert (await items.get(ALICE, "bt-1"))["rank"] == 1


async def test_insert_of_id_taken_by_another_owner_raises_duplicate_key_error(items: Collection) -> None:
    await items.insert(item(7, owner=BOB))
    with pytest.raises(DuplicateKeyError):
        await items.insert(item(7, owner=ALICE))


async def test_insert_without_id_or_owner_is_refused(items: Collection) -> None:
    with pytest.raises(InvalidQueryError):
        await items.insert({"owner": ALICE})
    with pytest.raises(InvalidQueryError):
        await items.insert({"id": 1})


# --- owner scoping --------------------------------------------------------------------------------


async def test_another_owner_never_sees_a_document(items: Collection) -> None:
    await items.insert(item(1, kind="a"))
    assert await items.get(BOB, 1) is None
    assert await items.find(BOB) == []
    assert await items.find(BOB, {"kind": "a"}) == []
    assert await items.count(BOB) == 0


async def test_another_owner_cannot_update_or_delete_a_document(items: Collection) -> None:
    await items.insert(item(1, kind="a"))
    assert await items.update(BOB, 1, {"kind": "b"}) is None
    assert await items.delete(BOB, 1) is False
    assert await items.delete_many(BOB) == 0
    assert await items.get(ALICE, 1) == item(1, kind="a")


async def test_replace_cannot_take_over_another_owners_id(items: Collection) -> None:
    await items.insert(item(1, kind="a"))
    with pytest.raises(DuplicateKeyError):
        await items.replace(item(1, owner=BOB, kind="stolen"))
    assert await items.get(ALICE, 1) == item(1, kind="a")
    assert await items.get(BOB, 1) is None


# --- find -----------------------------------------------------------------------------------------

FIND_DOCS = [
    item(1, kind="a", rank=1, flag=True, mixed=5),
    item(2, kind="b", rank=2, flag=False, mixed="5"),
    item(3, kind="c", rank=10, mixed=7.5),
    item(4, kind="a", rank=2.5),
    item(5, kind="b"),  # no rank: a missing field
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param(None, [1, 2, 3, 4, 5], id="no-filter"),
        pytest.param({"kind": "a"}, [1, 4], id="equality-string"),
        pytest.param({"rank": 2}, [2], id="equality-number"),
        pytest.param({"flag": True}, [1], id="equality-bool"),
        pytest.param({"rank": None}, [5], id="equality-null-matches-missing"),
        pytest.param({"kind": "a", "rank": {"$gt": 1}}, [4], id="two-fields-are-anded"),
        pytest.param({"rank": {"$ne": 2}}, [1, 3, 4, 5], id="ne-includes-missing"),
        pytest.param({"rank": {"$ne": None}}, [1, 2, 3, 4], id="ne-null-means-present"),
        pytest.param({"rank": {"$lt": 2.5}}, [1, 2], id="lt"),
        pytest.param({"rank": {"$lte": 2.5}}, [1, 2, 4], id="lte"),
        pytest.param({"rank": {"$gt": 2}}, [3, 4], id="gt-numeric-not-lexical"),
        pytest.param({"rank": {"$gte": 2}}, [2, 3, 4], id="gte"),
        pytest.param({"rank": {"$gte": 2, "$lt": 10}}, [2, 4], id="range-with-two-operators"),
        pytest.param({"kind": {"$gt": "a"}}, [2, 3, 5], id="gt-on-strings"),
        pytest.param({"mixed": {"$gt": 1}}, [1, 3], id="range-compares-within-one-type"),
        pytest.param({"rank": {"$in": [1, 10]}}, [1, 3], id="in"),
        pytest.param({"rank": {"$in": [None, 1]}}, [1, 5], id="in-with-null-matches-missing"),
        pytest.param({"rank": {"$in": []}}, [], id="in-empty-matches-nothing"),
        pytest.param({"id": {"$in": [2, 4, 99]}}, [2, 4], id="in-on-id"),
        pytest.param({"id": {"$gte": 4}}, [4, 5], id="range-on-id"),
    ],
)
async def test_find_filters_like_mongodb(items: Collection, where: dict[str, Any] | None, expected: list[int]) -> None:
    for doc in FIND_DOCS:
        await items.insert(doc)
    await items.insert(item(1_000, owner=BOB, kind="a", rank=1))  # never part of any result
    assert sorted(ids(await items.find(ALICE, where))) == expected
    assert await items.count(ALICE, where) == len(expected)


async def test_find_default_order_is_newest_id_first(items: Collection) -> None:
    for id in (2, 10, 1):
        await items.insert(item(id))
    assert ids(await items.find(ALICE)) == [10, 2, 1]


@pytest.mark.parametrize(
    ("field", "direction", "expected"),
    [
        pytest.param("rank", 1, [5, 2, 1, 3, 4], id="numbers-ascending-missing-first"),
        pytest.param("rank", -1, [4, 3, 1, 2, 5], id="numbers-descending"),
        pytest.param("name", 1, [3, 1, 4, 2, 5], id="strings-ascending"),
        pytest.param("name", -1, [5, 2, 4, 1, 3], id="strings-descending"),
    ],
)
async def test_find_orders_numbers_as_numbers_and_strings_as_strings(
    items: Collection, field: str, direction: int, expected: list[int]
) -> None:
    ranks_and_names = {1: (9, "bravo"), 2: (-1, "delta"), 3: (9.5, "Alpha"), 4: (10, "charlie"), 5: (None, "echo")}
    for id, (rank, name) in ranks_and_names.items():
        fields = {"name": name} if rank is None else {"name": name, "rank": rank}
        await items.insert(item(id, **fields))
    assert ids(await items.find(ALICE, order_by=[(field, direction)])) == expected


async def test_find_breaks_ties_by_id_in_the_direction_of_the_last_key(items: Collection) -> None:
    for id, kind in [(1, "a"), (2, "b"), (3, "a"), (4, "b")]:
        await items.insert(item(id, kind=kind))
    assert ids(await items.find(ALICE, order_by=[("kind", 1)])) == [1, 3, 2, 4]
    assert ids(await items.find(ALICE, order_by=[("kind", -1)])) == [4, 2, 3, 1]
    assert ids(await items.find(ALICE, order_by=[("kind", 1), ("id", -1)])) == [3, 1, 4, 2]


async def test_find_pages_with_limit_and_offset(items: Collection) -> None:
    for id in range(1, 8):
        await items.insert(item(id, rank=id))
    order = [("rank", 1)]
    assert ids(await items.find(ALICE, order_by=order, limit=3)) == [1, 2, 3]
    assert ids(await items.find(ALICE, order_by=order, limit=3, offset=3)) == [4, 5, 6]
    assert ids(await items.find(ALICE, order_by=order, limit=3, offset=6)) == [7]
    assert ids(await items.find(ALICE, order_by=order, offset=5)) == [6, 7]
    assert await items.find(ALICE, order_by=order, limit=0) == []


async def test_count_counts_only_matching_documents_of_the_owner(items: Collection) -> None:
    for id, kind in [(1, "a"), (2, "a"), (3, "b")]:
        await items.insert(item(id, kind=kind))
    await items.insert(item(4, owner=BOB, kind="a"))
    assert await items.count(ALICE) == 3
    assert await items.count(ALICE, {"kind": "a"}) == 2
    assert await items.count(BOB, {"kind": "a"}) == 1


# --- update / replace -----------------------------------------------------------------------------


async def test_update_sets_given_fields_keeps_the_others_and_returns_the_new_document(items: Collection) -> None:
    await items.insert(item(1, kind="a", rank=1, version=1))
    updated = await items.update(ALICE, 1, {"rank": 2, "params": {"n": [1, 2]}, "note": None})
    expected = item(1, kind="a", rank=2, version=1, params={"n": [1, 2]}, note=None)
    assert updated == expected
    assert await items.get(ALICE, 1) == expected


async def test_update_with_a_holding_condition_writes(items: Collection) -> None:
    await items.insert(item(1, version=3, status="queued"))
    updated = await items.update(ALICE, 1, {"version": 4, "status": "running"}, where={"version": 3})
    assert updated == item(1, version=4, status="running")


async def test_update_with_a_failing_condition_writes_nothing_and_returns_none(items: Collection) -> None:
    await items.insert(item(1, version=3, status="queued"))
    assert await items.update(ALICE, 1, {"version": 4}, where={"version": 2}) is None
    assert await items.update(ALICE, 1, {"version": 4}, where={"status": {"$in": ["done", "failed"]}}) is None
    assert await items.get(ALICE, 1) == item(1, version=3, status="queued")


async def test_only_one_of_two_racing_compare_and_set_updates_wins(items: Collection) -> None:
    await items.insert(item(1, version=1))
    results = await asyncio.gather(
        *(items.update(ALICE, 1, {"version": 2, "by": n}, where={"version": 1}) for n in range(10))
    )
    assert sum(result is not None for result in results) == 1


async def test_update_of_unknown_id_returns_none(items: Collection) -> None:
    assert await items.update(ALICE, 404, {"rank": 1}) is None
    assert await items.count(ALICE) == 0


async def test_update_with_no_changes_returns_the_document_when_the_condition_holds(items: Collection) -> None:
    await items.insert(item(1, version=1))
    assert await items.update(ALICE, 1, {}, where={"version": 1}) == item(1, version=1)
    assert await items.update(ALICE, 1, {}, where={"version": 2}) is None


@pytest.mark.parametrize("field", ["id", "owner"])
async def test_update_refuses_to_change_id_or_owner(items: Collection, field: str) -> None:
    await items.insert(item(1))
    with pytest.raises(InvalidQueryError):
        await items.update(ALICE, 1, {field: "other"})
    assert await items.get(ALICE, 1) == item(1)


async def test_replace_inserts_then_wholly_replaces(items: Collection) -> None:
    await items.replace(item("trig-1", kind="a", rank=1))
    await items.replace(item("trig-1", kind="b"))
    assert await items.get(ALICE, "trig-1") == item("trig-1", kind="b")


async def test_replace_is_idempotent(items: Collection) -> None:
    doc = item("conv-1", kind="a", messages=[{"role": "user", "text": "hi"}])
    await items.replace(doc)
    await items.replace(doc)
    assert await items.find(ALICE) == [doc]


# --- delete ---------------------------------------------------------------------------------------


async def test_delete_removes_one_document_and_reports_whether_it_existed(items: Collection) -> None:
    await items.insert(item(1))
    await items.insert(item(2))
    assert await items.delete(ALICE, 1) is True
    assert await items.delete(ALICE, 1) is False
    assert ids(await items.find(ALICE)) == [2]


async def test_delete_many_removes_matching_documents_of_the_owner_only(items: Collection) -> None:
    for id, kind in [(1, "a"), (2, "a"), (3, "b")]:
        await items.insert(item(id, kind=kind))
    await items.insert(item(4, owner=BOB, kind="a"))
    assert await items.delete_many(ALICE, {"kind": "a"}) == 2
    assert ids(await items.find(ALICE)) == [3]
    assert await items.delete_many(ALICE) == 1
    assert ids(await items.find(BOB)) == [4]


# --- counters -------------------------------------------------------------------------------------


async def test_counters_start_at_one_and_count_up_independently(store: Store) -> None:
    assert [await store.next_id("programs") for _ in range(3)] == [1, 2, 3]
    assert await store.next_id("bindings") == 1
    assert await store.next_id("programs") == 4


async def test_concurrent_next_id_calls_get_distinct_values(store: Store) -> None:
    values = await asyncio.gather(*(store.next_id("executions") for _ in range(200)))
    assert sorted(values) == list(range(1, 201))


# --- collections ----------------------------------------------------------------------------------


async def test_ensure_is_idempotent_and_keeps_data(store: Store) -> None:
    first = await store.ensure(ITEMS)
    await first.insert(item(1, kind="a"))
    again = await store.ensure(ITEMS)
    assert await again.get(ALICE, 1) == item(1, kind="a")
    assert store.collection("items") is again


async def test_collection_that_was_never_ensured_is_a_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.collection("nope")


async def test_ping_succeeds_on_a_reachable_store(store: Store) -> None:
    await store.ping()


# --- rejected input -------------------------------------------------------------------------------

BAD_FIELDS = ["Name", "kind\n", "a.b", "$where", "1x", "a b", "x') OR 1=1 --", "_id", "", "naïve"]


@pytest.mark.parametrize("bad", BAD_FIELDS)
async def test_bad_field_names_are_rejected_everywhere(store: Store, items: Collection, bad: str) -> None:
    await items.insert(item(1, kind="a"))
    with pytest.raises(InvalidQueryError):
        await items.find(ALICE, {bad: 1})
    with pytest.raises(InvalidQueryError):
        await items.count(ALICE, {bad: 1})
    with pytest.raises(InvalidQueryError):
        await items.find(ALICE, order_by=[(bad, 1)])
    with pytest.raises(InvalidQueryError):
        await items.update(ALICE, 1, {bad: 1})
    with pytest.raises(InvalidQueryError):
        await items.delete_many(ALICE, {bad: 1})
    with pytest.raises(InvalidQueryError):
        await store.ensure(CollectionSpec("other", indexes=((bad,),)))
    assert await items.find(ALICE) == [item(1, kind="a")]


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"kind": {"$regex": "a"}}, id="unsupported-operator"),
        pytest.param({"kind": {"$where": "1"}}, id="where-operator"),
        pytest.param({"kind": {}}, id="empty-operator-mapping"),
        pytest.param({"kind": {"$in": "a"}}, id="in-without-a-list"),
        pytest.param({"kind": ["a", "b"]}, id="array-equality"),
        pytest.param({"rank": {"$lt": None}}, id="range-against-null"),
    ],
)
async def test_unsupported_filters_are_rejected(items: Collection, where: dict[str, Any]) -> None:
    with pytest.raises(InvalidQueryError):
        await items.find(ALICE, where)


@pytest.mark.parametrize("name", ["Items", "_counters", "a-b", "a.b", "1items", "sqlite_master", 'x" --'])
async def test_bad_collection_names_are_rejected(store: Store, name: str) -> None:
    with pytest.raises(InvalidQueryError):
        await store.ensure(CollectionSpec(name))
