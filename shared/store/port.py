"""The storage port: a small document store that both MongoDB and SQLite can serve.

Services talk to this and nothing else, so that the embedded SQLite default and production MongoDB
behave the same (one contract test suite runs on every adapter). Documents are plain JSON-able dicts
with an `id` (int from `next_id`, or a string like `bt-…`) and an `owner`; every read and write is
scoped by owner so no query can cross users.

`where` filters are Mongo-shaped and deliberately small: top-level field equality, or one of the
operators `$ne $lt $lte $gt $gte $in` per field, e.g. `{"program_id": 3, "version": {"$lte": 5}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]
Where = Mapping[str, Any]
OrderBy = Sequence[tuple[str, int]]  # (field, 1 ascending | -1 descending)


class DuplicateKeyError(Exception):
    """An insert whose id already exists."""


class StoreUnavailableError(Exception):
    """The database cannot be reached right now; the caller may retry."""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """A collection and the secondary indexes its queries need (each index is prefixed by owner)."""

    name: str
    indexes: tuple[tuple[str, ...], ...] = field(default=())


class Collection(Protocol):
    name: str

    async def insert(self, doc: Doc) -> None:
        """Insert a new document; `doc` must carry `id` and `owner`. Raises DuplicateKeyError."""

    async def get(self, owner: str, id: int | str) -> Doc | None: ...

    async def find(
        self,
        owner: str,
        where: Where | None = None,
        *,
        order_by: OrderBy = (("id", -1),),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Doc]: ...

    async def count(self, owner: str, where: Where | None = None) -> int: ...

    async def update(self, owner: str, id: int | str, changes: Mapping[str, Any], *, where: Where | None = None) -> Doc | None:
        """Atomically set top-level fields of one document and return it as it is after the change.

        `where` is an extra condition (compare-and-set, e.g. `{"version": 3}`); None is returned when
        the document does not exist or the condition does not hold, and nothing is written then.
        """

    async def replace(self, doc: Doc) -> None:
        """Insert or wholly replace the document with this `id` (idempotent writes)."""

    async def delete(self, owner: str, id: int | str) -> bool: ...

    async def delete_many(self, owner: str, where: Where | None = None) -> int: ...


class Store(Protocol):
    async def ensure(self, spec: CollectionSpec) -> Collection:
        """Create the collection and its indexes if missing (idempotent), and return it."""

    def collection(self, name: str) -> Collection:
        """A collection already ensured by this process."""

    async def next_id(self, counter: str) -> int:
        """Atomically increment and return the named counter (first value 1)."""

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the database answers."""

    async def close(self) -> None: ...
