"""Storage: the `Store` port (see `port.py`), its SQLite and MongoDB adapters, and `open_store` to pick one.

Services import from here only; which adapter runs is decided once, by configuration.
"""

from __future__ import annotations

from pathlib import Path

from shared.store.port import (
    Collection,
    CollectionSpec,
    Doc,
    DuplicateKeyError,
    OrderBy,
    Store,
    StoreUnavailableError,
    Where,
)
from shared.store.query import InvalidQueryError

__all__ = [
    "Collection",
    "CollectionSpec",
    "Doc",
    "DuplicateKeyError",
    "InvalidQueryError",
    "OrderBy",
    "Store",
    "StoreUnavailableError",
    "Where",
    "open_store",
]

# Fail fast when MongoDB is unreachable instead of PyMongo's default 30 s: callers turn
# StoreUnavailableError into "not ready" and retry, which beats hanging a request.
_SERVER_SELECTION_TIMEOUT_MS = 5_000


def open_store(*, mongodb_url: str | None, sqlite_path: Path, mongodb_db: str = "hyperoru") -> Store:
    """MongoDB when a URL is given (production), else the embedded SQLite file (created with its directory).

    Nothing is contacted yet for MongoDB (the client connects lazily); call `await store.ping()` to check.
    """
    if mongodb_url:
        from pymongo import AsyncMongoClient  # imported here so the embedded default never loads the driver

        from shared.store.mongo import MongoStore

        client: AsyncMongoClient = AsyncMongoClient(mongodb_url, serverSelectionTimeoutMS=_SERVER_SELECTION_TIMEOUT_MS)
        return MongoStore(client, mongodb_db)

    from shared.store.sqlite import SqliteStore

    sqlite_path = Path(sqlite_path)
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(sqlite_path)
