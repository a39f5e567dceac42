"""The PyMongo double behaves like AsyncMongoClient where other code relies on it (see its docstring)."""

from __future__ import annotations

import pytest
from pymongo import DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, ServerSelectionTimeoutError

from tests.doubles.mongo import AsyncCollectionDouble, AsyncMongoClientDouble


@pytest.fixture
async def coll() -> AsyncCollectionDouble:
    coll = AsyncMongoClientDouble()["db"]["c"]
    await coll.insert_many([{"_id": i, "v": i % 3} for i in range(1, 10)])
    return coll


async def test_find_is_not_awaited_and_its_cursor_chains_sort_skip_limit(coll: AsyncCollectionDouble) -> None:
    cursor = coll.find({"v": {"$gte": 1}}).sort([("v", -1), ("_id", 1)]).skip(1).limit(3)
    assert [d["_id"] for d in await cursor.to_list(None)] == [5, 8, 1]


async def test_cursor_iterates_with_async_for_and_to_list_honours_length(coll: AsyncCollectionDouble) -> None:
    assert [d["_id"] async for d in coll.find({"v": 0}).sort("_id", 1)] == [3, 6, 9]
    assert len(await coll.find().to_list(2)) == 2


async def test_duplicate_id_and_unique_index_violations_raise_pymongos_error(coll: AsyncCollectionDouble) -> None:
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": 1})
    await coll.create_index([("email", 1)], unique=True, sparse=True)
    await coll.insert_one({"_id": 100, "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": 101, "email": "a@x"})


async def test_find_one_and_update_upserts_and_returns_the_document_after(coll: AsyncCollectionDouble) -> None:
    after = await coll.find_one_and_update(
        {"_id": "n"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": "n", "value": 1}


async def test_bulk_write_runs_pymongo_operation_objects(coll: AsyncCollectionDouble) -> None:
    result = await coll.bulk_write([
        UpdateOne({"_id": 1}, {"$set": {"v": 10}}),
        ReplaceOne({"_id": 50}, {"v": 50}, upsert=True),
        InsertOne({"_id": 60}),
        DeleteOne({"_id": 2}),
    ])
    assert (result.matched_count, result.upserted_count, result.inserted_count, result.deleted_count) == (1, 1, 1, 1)
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "v": 10}
    with pytest.raises(BulkWriteError):
        await coll.bulk_write([InsertOne({"_id": 60})])


async def test_aggregate_is_awaited_and_returns_a_cursor(coll: AsyncCollectionDouble) -> None:
    cursor = await coll.aggregate([{"$group": {"_id": "$v", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert await cursor.to_list(None) == [{"_id": 0, "n": 3}, {"_id": 1, "n": 3}, {"_id": 2, "n": 3}]


async def test_set_unavailable_makes_calls_fail_like_an_unreachable_server() -> None:
    client = AsyncMongoClientDouble()
    client.set_unavailable(True)
    with pytest.raises(ServerSelectionTimeoutError):
        await client["db"].command("ping")
    with pytest.raises(ServerSelectionTimeoutError):
        await client["db"]["c"].find().to_list(None)
