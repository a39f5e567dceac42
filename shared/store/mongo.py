"""The production store: the `Store` port over MongoDB through PyMongo's asyncio API (`AsyncMongoClient`).

Documents are stored with `_id` = our `id` (so the primary key is Mongo's own unique index) and read
back with `_id` renamed to `id`. Every filter carries `owner`, and every secondary index is led by
`owner`, so no query can cross users and each is served by an index. Counters are documents of the
`_counters` collection incremented by `find_one_and_update($inc, upsert=True)`.

Only PyMongo's public async API is used, so the adapter runs unchanged on a real `AsyncMongoClient`
and on the in-memory double in `tests/doubles/mongo.py`. PyMongo's errors are translated: a duplicate
key becomes the port's `DuplicateKeyError`; a lost or unreachable server (`ConnectionFailure`, which
covers `ServerSelectionTimeoutError`, `AutoReconnect`, `NetworkTimeout`, `NotPrimaryError`) or a
timed-out operation becomes `StoreUnavailableError`, which callers may retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo import errors as mongo_errors

from shared.store.port import CollectionSpec, Doc, DuplicateKeyError, OrderBy, StoreUnavailableError, Where
from shared.store.query import (
    COUNTERS,
    Condition,
    check_changes,
    check_collection_name,
    check_counter,
    check_doc,
    check_id,
    index_fields,
    check_owner,
    check_page,
    normalize_order,
    parse_where,
)

__all__ = ["MongoStore", "MongoCollection"]


class _TranslateErrors:
    """Maps PyMongo's exceptions onto the port's (see the module docstring)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None) -> None:
        if isinstance(exc, mongo_errors.DuplicateKeyError):
            raise DuplicateKeyError(str(exc)) from exc
        if isinstance(exc, mongo_errors.ConnectionFailure) or (
            isinstance(exc, mongo_errors.PyMongoError) and exc.timeout
        ):
            raise StoreUnavailableError(f"mongodb: {exc}") from exc


_errors = _TranslateErrors()


def _key(field: str) -> str:
    return "_id" if field == "id" else field


def _to_mongo(doc: Doc) -> dict[str, Any]:
    return {"_id": doc["id"], **{k: v for k, v in doc.items() if k != "id"}}


def _from_mongo(raw: dict[str, Any]) -> Doc:
    return {"id": raw.pop("_id"), **raw}


def _filter(owner: str, conditions: Sequence[Condition]) -> dict[str, Any]:
    """`{"owner": owner, field: value | {"$op": value}, ...}`; a second test on one field goes under `$and`."""
    merged: dict[str, Any] = {"owner": owner}
    extra: list[dict[str, Any]] = []
    for cond in conditions:
        key = _key(cond.field)
        test = cond.value if cond.op == "$eq" else {cond.op: list(cond.value) if cond.op == "$in" else cond.value}
        if key not in merged:
            merged[key] = test
        elif isinstance(merged[key], dict) and isinstance(test, dict) and not set(merged[key]) & set(test):
            merged[key] = {**merged[key], **test}  # {"$gte": 1} + {"$lt": 5} on one field
        else:
            extra.append({key: test})
    if extra:
        merged["$and"] = extra
    return merged


def _id_conditions(id: int | str, where: Where | None) -> list[Condition]:
    return [Condition("id", "$eq", check_id(id)), *parse_where(where)]


class MongoCollection:
    """One MongoDB collection seen through the port."""

    __slots__ = ("name", "_coll")

    def __init__(self, coll: Any, name: str) -> None:
        self.name = name
        self._coll = coll

    async def insert(self, doc: Doc) -> None:
        check_doc(doc)
        with _errors:
            await self._coll.insert_one(_to_mongo(doc))

    async def get(self, owner: str, id: int | str) -> Doc | None:
        with _errors:
            raw = await self._coll.find_one({"_id": check_id(id), "owner": check_owner(owner)})
        return None if raw is None else _from_mongo(raw)

    async def find(
        self,
        owner: str,
        where: Where | None = None,
        *,
        order_by: OrderBy = (("id", -1),),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Doc]:
        limit, offset = check_page(limit, offset)
        query = _filter(check_owner(owner), parse_where(where))
        sort = [(_key(f), d) for f, d in normalize_order(order_by)]
        if limit == 0:  # Mongo reads limit(0) as "no limit"; the port means "nothing"
            return []
        with _errors:
            cursor = self._coll.find(query).sort(sort).skip(offset)
            if limit is not None:
                cursor = cursor.limit(limit)
            return [_from_mongo(raw) for raw in await cursor.to_list(None)]

    async def count(self, owner: str, where: Where | None = None) -> int:
        with _errors:
            return await self._coll.count_documents(_filter(check_owner(owner), parse_where(where)))

    async def update(self, owner: str, id: int | str, changes: Mapping[str, Any], *, where: Where | None = None) -> Doc | None:
        check_changes(changes)
        query = _filter(check_owner(owner), _id_conditions(id, where))
        with _errors:
            if not changes:  # `$set: {}` is an error in MongoDB; nothing to write, just test the condition
                raw = await self._coll.find_one(query)
            else:
                raw = await self._coll.find_one_and_update(
                    query, {"$set": dict(changes)}, return_document=ReturnDocument.AFTER
                )
        return None if raw is None else _from_mongo(raw)

    async def replace(self, doc: Doc) -> None:
        """Upsert filtered by owner too: if the id belongs to someone else the upsert's insert clashes
        on `_id` and raises DuplicateKeyError, so another owner's document is never overwritten."""
        id, owner = check_doc(doc)
        with _errors:
            await self._coll.replace_one({"_id": id, "owner": owner}, _to_mongo(doc), upsert=True)

    async def delete(self, owner: str, id: int | str) -> bool:
        with _errors:
            result = await self._coll.delete_one({"_id": check_id(id), "owner": check_owner(owner)})
        return result.deleted_count > 0

    async def delete_many(self, owner: str, where: Where | None = None) -> int:
        with _errors:
            result = await self._coll.delete_many(_filter(check_owner(owner), parse_where(where)))
        return result.deleted_count


class MongoStore:
    """The `Store` port over one MongoDB database. It takes over the client: `close()` closes it."""

    def __init__(self, client: Any, db_name: str) -> None:
        self._client = client
        self._db = client[db_name]
        self._counters = self._db[COUNTERS]
        self._collections: dict[str, MongoCollection] = {}

    async def ensure(self, spec: CollectionSpec) -> MongoCollection:
        """Create the owner-led indexes (MongoDB creates the collection with its first index or insert)."""
        name = check_collection_name(spec.name)
        coll = self._db[name]
        with _errors:
            for fields in index_fields(spec):
                await coll.create_index([("owner", ASCENDING), *((_key(f), ASCENDING) for f in fields)])
        return self._collections.setdefault(name, MongoCollection(coll, name))

    def collection(self, name: str) -> MongoCollection:
        try:
            return self._collections[name]
        except KeyError:
            raise KeyError(f"collection {name!r} was not ensured by this store") from None

    async def next_id(self, counter: str) -> int:
        query = {"_id": check_counter(counter)}
        try:
            return await self._increment(query)
        except DuplicateKeyError:
            # Two first-ever upserts of one counter can race and the loser gets E11000; its retry finds the
            # document. (MongoDB >= 4.2 retries such upserts itself; this covers the cases it does not.)
            return await self._increment(query)

    async def _increment(self, query: dict[str, Any]) -> int:
        with _errors:
            raw = await self._counters.find_one_and_update(
                query, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        return raw["value"]

    async def ping(self) -> None:
        with _errors:
            await self._db.command("ping")

    async def close(self) -> None:
        await self._client.close()
