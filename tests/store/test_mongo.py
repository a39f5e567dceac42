"""What only the Mongo adapter has to prove: its document layout, its indexes, and outage handling.

These run over the in-memory PyMongo double (the shared behaviour is in test_contract.py, which also
runs on a real server when MONGODB_URL is set).
"""

from __future__ import annotations

import pytest

from shared.store import CollectionSpec, StoreUnavailableError
from shared.store.mongo import MongoStore
from tests.doubles.mongo import AsyncMongoClientDouble

ITEMS = CollectionSpec("items", indexes=(("kind", "rank"),))


@pytest.fixture
def client() -> AsyncMongoClientDouble:
    return AsyncMongoClientDouble()


async def test_documents_are_stored_with_the_id_as_mongo_id(client: AsyncMongoClientDouble) -> None:
    store = MongoStore(client, "app")
    await (await store.ensure(ITEMS)).insert({"id": 5, "owner": "alice", "kind": "a"})
    assert await client["app"]["items"].find_one({}) == {"_id": 5, "owner": "alice", "kind": "a"}


async def test_every_index_is_led_by_owner_and_ends_with_the_id(client: AsyncMongoClientDouble) -> None:
    await MongoStore(client, "app").ensure(ITEMS)
    keys = [info["key"] for name, info in (await client["app"]["items"].index_information()).items() if name != "_id_"]
    assert sorted(keys) == [[("owner", 1), ("_id", 1)], [("owner", 1), ("kind", 1), ("rank", 1), ("_id", 1)]]


async def test_an_unreachable_server_makes_every_call_store_unavailable(client: AsyncMongoClientDouble) -> None:
    store = MongoStore(client, "app")
    items = await store.ensure(ITEMS)
    client.set_unavailable(True)
    for call in (
        store.ping(),
        store.next_id("items"),
        items.insert({"id": 1, "owner": "alice"}),
        items.get("alice", 1),
        items.find("alice"),
        items.update("alice", 1, {"kind": "b"}),
        store.ensure(ITEMS),
    ):
        with pytest.raises(StoreUnavailableError):
            await call


async def test_the_store_recovers_when_the_server_comes_back(client: AsyncMongoClientDouble) -> None:
    store = MongoStore(client, "app")
    client.set_unavailable(True)
    with pytest.raises(StoreUnavailableError):
        await store.ping()
    client.set_unavailable(False)
    await store.ping()
    assert await store.next_id("items") == 1


async def test_close_closes_the_client(client: AsyncMongoClientDouble) -> None:
    await MongoStore(client, "app").close()
    assert client.closed
