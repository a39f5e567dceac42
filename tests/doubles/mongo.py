"""An in-memory stand-in for the part of PyMongo's asyncio API (`AsyncMongoClient`) that we use.

Why: no MongoDB server can run on the machines here, yet the Mongo adapter and anything written
against `AsyncMongoClient` must be exercised in every test run. This double is a thin async shell
around `mongomock`, so filters, update operators (`$set`, `$inc`, `$push`, ...), upserts, sorting and
unique indexes follow MongoDB's own semantics instead of a hand-written imitation of them.

Covered (same names, arguments and return types as PyMongo's async classes):
- `AsyncMongoClientDouble()`: `client["db"]`, `client.db`, `client.get_database(name)`,
  `await client.drop_database(name)`, `await client.close()`.
- database: `db["coll"]`, `db.coll`, `db.get_collection(name)`, `await db.command("ping")` (any
  command mongomock knows), `await db.list_collection_names()`, `await db.drop_collection(name)`.
- collection: async `insert_one`, `insert_many`, `find_one`, `find_one_and_update` (`upsert=`,
  `return_document=`), `update_one`, `update_many`, `replace_one` (`upsert=`), `delete_one`,
  `delete_many`, `count_documents`, `create_index`, `drop`, `bulk_write` (InsertOne, UpdateOne,
  UpdateMany, ReplaceOne, DeleteOne, DeleteMany; ordered, stops at the first error like the real one),
  `aggregate` (awaited, returns a cursor).
- `find(...)` is *not* awaited, exactly like `AsyncCollection.find`: it returns a cursor that supports
  `.sort(...)`, `.skip(n)`, `.limit(n)` (chainable), `async for` and `await cursor.to_list(None)`.
- Errors are PyMongo's own: `pymongo.errors.DuplicateKeyError` on a duplicate `_id` or a unique-index
  violation. `client.set_unavailable(True)` makes every later call raise
  `pymongo.errors.ServerSelectionTimeoutError`, to test how code behaves when the database goes away;
  `client.closed` tells whether `close()` was awaited.

Not covered: transactions and sessions, change streams, real concurrency (every call runs to completion
synchronously inside one event-loop step, so operations never interleave — each is trivially atomic,
which is at least as strong as what MongoDB guarantees for a single-document operation), write/read
concerns, timeouts, cursors that outlive their data (results are computed when first iterated), and
whatever mongomock itself does not implement (some aggregation stages; index options such as
`partialFilterExpression` are accepted but ignored, `sparse=True` works).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import mongomock
from mongomock.collection import BulkOperationBuilder
from pymongo.errors import ServerSelectionTimeoutError
from pymongo.results import BulkWriteResult

__all__ = ["AsyncMongoClientDouble", "AsyncDatabaseDouble", "AsyncCollectionDouble", "AsyncCursorDouble"]

P = ParamSpec("P")
T = TypeVar("T")


class _Health:
    """Shared by a client and everything it hands out, so one switch takes the whole 'server' down."""

    def __init__(self) -> None:
        self.unavailable = False

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one mongomock call, unless the double is pretending the server is unreachable."""
        if self.unavailable:
            raise ServerSelectionTimeoutError("mongo double: server unavailable (set_unavailable(True))")
        return fn(*args, **kwargs)


class AsyncCursorDouble:
    """`AsyncCursor` over a mongomock cursor: chain `sort/skip/limit`, then iterate or `to_list`."""

    def __init__(self, cursor: Any, health: _Health) -> None:
        self._cursor = cursor
        self._health = health

    def sort(self, key_or_list: str | Sequence[tuple[str, int]], direction: int | None = None) -> AsyncCursorDouble:
        if direction is None:
            self._cursor.sort(key_or_list)
        else:
            self._cursor.sort(key_or_list, direction)
        return self

    def skip(self, skip: int) -> AsyncCursorDouble:
        self._cursor.skip(skip)
        return self

    def limit(self, limit: int) -> AsyncCursorDouble:
        self._cursor.limit(limit)
        return self

    def __aiter__(self) -> AsyncCursorDouble:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return self._health.call(next, self._cursor)
        except StopIteration:
            raise StopAsyncIteration from None

    async def next(self) -> dict[str, Any]:
        return await self.__anext__()

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        """All remaining documents (at most `length` of them when given), like `AsyncCursor.to_list`."""
        out: list[dict[str, Any]] = []
        async for doc in self:
            out.append(doc)
            if length is not None and len(out) >= length:
                break
        return out

    async def close(self) -> None:
        self._cursor.close()


class _BulkBuilderShim:
    """Lets PyMongo's own write-op objects add themselves to mongomock's bulk builder.

    Why: PyMongo 4.x ops pass a `sort=` keyword that mongomock 4.3 does not accept; it is dropped here
    when unset, and refused loudly when set rather than silently ignored.
    """

    def __init__(self, builder: Any) -> None:
        self._builder = builder

    def add_insert(self, doc: Mapping[str, Any]) -> None:
        self._builder.add_insert(doc)

    def add_update(self, selector: Mapping[str, Any], doc: Any, multi: bool, upsert: bool, *,
                   sort: Any = None, **options: Any) -> None:
        _refuse_sort(sort)
        self._builder.add_update(selector, doc, multi, upsert, **options)

    def add_replace(self, selector: Mapping[str, Any], doc: Mapping[str, Any], upsert: bool, *,
                    sort: Any = None, **options: Any) -> None:
        _refuse_sort(sort)
        self._builder.add_replace(selector, doc, upsert, **options)

    def add_delete(self, selector: Mapping[str, Any], limit: int, **options: Any) -> None:
        self._builder.add_delete(selector, limit == 1, **options)


def _refuse_sort(sort: Any) -> None:
    if sort is not None:
        raise NotImplementedError("mongo double: sort= on bulk update/replace ops is not supported")


class AsyncCollectionDouble:
    """`AsyncCollection`: every method awaits a synchronous mongomock call (except `find`, as in PyMongo)."""

    def __init__(self, collection: mongomock.Collection, health: _Health) -> None:
        self._coll = collection
        self._health = health

    @property
    def name(self) -> str:
        return self._coll.name

    @property
    def full_name(self) -> str:
        return self._coll.full_name

    async def insert_one(self, document: dict[str, Any], **kwargs: Any) -> Any:
        return self._health.call(self._coll.insert_one, document, **kwargs)

    async def insert_many(self, documents: Iterable[dict[str, Any]], ordered: bool = True, **kwargs: Any) -> Any:
        return self._health.call(self._coll.insert_many, list(documents), ordered=ordered, **kwargs)

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return self._health.call(self._coll.find_one, filter, *args, **kwargs)

    def find(self, filter: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> AsyncCursorDouble:
        return AsyncCursorDouble(self._health.call(self._coll.find, filter, *args, **kwargs), self._health)

    async def find_one_and_update(self, filter: Mapping[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        return self._health.call(self._coll.find_one_and_update, filter, update, *args, **kwargs)

    async def find_one_and_replace(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], *args: Any,
                                   **kwargs: Any) -> Any:
        return self._health.call(self._coll.find_one_and_replace, filter, replacement, *args, **kwargs)

    async def find_one_and_delete(self, filter: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        return self._health.call(self._coll.find_one_and_delete, filter, *args, **kwargs)

    async def update_one(self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **kwargs: Any) -> Any:
        return self._health.call(self._coll.update_one, filter, update, upsert=upsert, **kwargs)

    async def update_many(self, filter: Mapping[str, Any], update: Any, upsert: bool = False, **kwargs: Any) -> Any:
        return self._health.call(self._coll.update_many, filter, update, upsert=upsert, **kwargs)

    async def replace_one(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False,
                          **kwargs: Any) -> Any:
        return self._health.call(self._coll.replace_one, filter, replacement, upsert=upsert, **kwargs)

    async def delete_one(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        return self._health.call(self._coll.delete_one, filter, **kwargs)

    async def delete_many(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        return self._health.call(self._coll.delete_many, filter, **kwargs)

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:
        return self._health.call(self._coll.count_documents, filter, **kwargs)

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        return self._health.call(self._coll.create_index, keys, **kwargs)

    async def index_information(self) -> dict[str, Any]:
        return self._health.call(self._coll.index_information)

    async def drop(self) -> None:
        self._health.call(self._coll.drop)

    async def bulk_write(self, requests: Sequence[Any], ordered: bool = True, **kwargs: Any) -> BulkWriteResult:
        """Run PyMongo write-op objects (`UpdateOne`, `ReplaceOne`, ...) through mongomock's bulk engine."""
        if kwargs:
            raise NotImplementedError(f"mongo double: bulk_write options {sorted(kwargs)} are not supported")

        def run() -> BulkWriteResult:
            builder = BulkOperationBuilder(self._coll, ordered=ordered)
            shim = _BulkBuilderShim(builder)
            for op in requests:
                op._add_to_bulk(shim)
            return BulkWriteResult(builder.execute(), True)

        return self._health.call(run)

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any) -> AsyncCursorDouble:
        return AsyncCursorDouble(self._health.call(self._coll.aggregate, list(pipeline), **kwargs), self._health)


class AsyncDatabaseDouble:
    """`AsyncDatabase`: hands out collection doubles and answers `command`."""

    def __init__(self, database: mongomock.Database, health: _Health) -> None:
        self._db = database
        self._health = health

    @property
    def name(self) -> str:
        return self._db.name

    def __getitem__(self, name: str) -> AsyncCollectionDouble:
        return self.get_collection(name)

    def __getattr__(self, name: str) -> AsyncCollectionDouble:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_collection(name)

    def get_collection(self, name: str, **_options: Any) -> AsyncCollectionDouble:
        return AsyncCollectionDouble(self._db.get_collection(name), self._health)

    async def command(self, command: str | Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._health.call(self._db.command, command, **kwargs)

    async def list_collection_names(self, **kwargs: Any) -> list[str]:
        return self._health.call(self._db.list_collection_names, **kwargs)

    async def drop_collection(self, name: str) -> None:
        self._health.call(self._db.drop_collection, name)


class AsyncMongoClientDouble:
    """`AsyncMongoClient` with an in-memory server; each instance is a separate, empty 'server'."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self._client = mongomock.MongoClient()
        self._health = _Health()
        self.closed = False

    def set_unavailable(self, unavailable: bool = True) -> None:
        """Pretend the server is (un)reachable: while down every call raises ServerSelectionTimeoutError."""
        self._health.unavailable = unavailable

    def __getitem__(self, name: str) -> AsyncDatabaseDouble:
        return self.get_database(name)

    def __getattr__(self, name: str) -> AsyncDatabaseDouble:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_database(name)

    def get_database(self, name: str, **_options: Any) -> AsyncDatabaseDouble:
        return AsyncDatabaseDouble(self._client.get_database(name), self._health)

    async def drop_database(self, name: str) -> None:
        self._health.call(self._client.drop_database, name)

    async def close(self) -> None:
        self.closed = True
