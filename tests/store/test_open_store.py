"""`open_store` picks the adapter from configuration."""

from __future__ import annotations

from pathlib import Path

from shared.store import CollectionSpec, open_store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore


async def test_without_a_mongodb_url_the_store_is_sqlite_in_a_created_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "store.db"
    store = open_store(mongodb_url=None, sqlite_path=path)
    assert isinstance(store, SqliteStore)
    await (await store.ensure(CollectionSpec("items"))).insert({"id": 1, "owner": "alice"})
    await store.close()
    assert path.is_file()


async def test_with_a_mongodb_url_the_store_is_mongo_and_nothing_is_contacted_yet(tmp_path: Path) -> None:
    store = open_store(mongodb_url="mongodb://127.0.0.1:1", sqlite_path=tmp_path / "unused.db")
    assert isinstance(store, MongoStore)
    await store.close()
    assert not (tmp_path / "unused.db").exists()
