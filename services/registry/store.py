"""The registry's collections: programs and their kept versions. The only module here that touches them."""

from __future__ import annotations

from typing import Any

from shared.store import CollectionSpec, Store

PROGRAMS = CollectionSpec("programs", indexes=(("created_at",),))
PROGRAM_VERSIONS = CollectionSpec("program_versions", indexes=(("program_id", "version"),))


class ProgramStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: Store) -> ProgramStore:
        await store.ensure(PROGRAMS)
        await store.ensure(PROGRAM_VERSIONS)
        return cls(store)

    async def next_id(self) -> int:
        return await self._store.next_id("programs")

    async def insert(self, doc: dict[str, Any]) -> None:
        await self._store.collection(PROGRAMS.name).insert(doc)

    async def get(self, owner: str, program_id: int) -> dict[str, Any] | None:
        return await self._store.collection(PROGRAMS.name).get(owner, program_id)

    async def page(self, owner: str, limit: int, *, offset: int = 0, before_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first: `limit` programs after skipping `offset`, or those older than `before_id` (a cursor)."""
        where = None if before_id is None else {"id": {"$lt": before_id}}
        return await self._store.collection(PROGRAMS.name).find(owner, where, order_by=(("id", -1),), limit=limit, offset=offset)

    async def update(self, owner: str, program_id: int, changes: dict[str, Any], expected_version: int) -> dict[str, Any] | None:
        """Compare-and-set on the version, so two concurrent edits can never both win."""
        programs = self._store.collection(PROGRAMS.name)
        return await programs.update(owner, program_id, changes, where={"version": expected_version})

    async def delete(self, owner: str, program_id: int) -> bool:
        deleted = await self._store.collection(PROGRAMS.name).delete(owner, program_id)
        if deleted:
            await self._store.collection(PROGRAM_VERSIONS.name).delete_many(owner, {"program_id": program_id})
        return deleted

    async def put_version(self, owner: str, program_id: int, version: int, code: str, created_at: str) -> None:
        """Idempotent: a version written by an update that then lost its race is simply overwritten."""
        await self._store.collection(PROGRAM_VERSIONS.name).replace(
            {
                "id": f"{program_id}:{version}",
                "owner": owner,
                "program_id": program_id,
                "version": version,
                "code": code,
                "created_at": created_at,
            }
        )

    async def versions(
        self, owner: str, program_id: int, up_to: int, *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Versions `up_to` and older, newest first (a cursor is the last version seen, minus one)."""
        return await self._store.collection(PROGRAM_VERSIONS.name).find(
            owner, {"program_id": program_id, "version": {"$lte": up_to}}, order_by=(("version", -1),), limit=limit, offset=offset
        )

    async def version(self, owner: str, program_id: int, version: int) -> dict[str, Any] | None:
        return await self._store.collection(PROGRAM_VERSIONS.name).get(owner, f"{program_id}:{version}")
