"""Programs: the rules of creating, changing and versioning them.

Every code change makes a new version and keeps the old one, so executions and backtests can record
(and later show) exactly the code they ran. A write is ordered so that a crash at any point leaves no
visible half-state: the version document is written first (idempotently), then the program is moved
to it with a compare-and-set on its current version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from services.registry.store import ProgramStore
from shared import subjects
from shared.errors import Conflict, InvalidRequest, NotFound, ProgramFailed
from shared.messages.base import Event
from shared.messages.programs import (
    Deleted,
    Program,
    ProgramCreate,
    ProgramEvent,
    ProgramList,
    ProgramRef,
    ProgramUpdate,
    ProgramVersion,
    ProgramVersionRef,
)
from shared.context import RequestContext
from shared.timefmt import now_iso

NAME_MAX = 100
DESCRIPTION_MAX = 2000
CODE_MAX_BYTES = 64 * 1024

Publish = Callable[[str, Event], Awaitable[None]]


class CodeDiagnostic(Protocol):
    line: int
    column: int
    message: str


CodeChecker = Callable[[str], Sequence[CodeDiagnostic]]
"""Returns the compile errors of a program's code (empty when it compiles)."""


def _field_error(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {reason}", details={"field": field, "reason": reason})


def clean_name(name: str) -> str:
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= NAME_MAX:
        raise _field_error("name", f"must be 1 to {NAME_MAX} characters (after trimming spaces)")
    return trimmed


def check_description(description: str) -> str:
    if len(description) > DESCRIPTION_MAX:
        raise _field_error("description", f"must be at most {DESCRIPTION_MAX} characters")
    return description


class Programs:
    def __init__(self, store: ProgramStore, publish: Publish, check_code: CodeChecker | None = None) -> None:
        self._store = store
        self._publish = publish
        self._check_code = check_code

    def _checked_code(self, code: str) -> str:
        if not code.strip():
            raise _field_error("code", "must not be empty")
        if len(code.encode()) > CODE_MAX_BYTES:
            raise _field_error("code", f"must be at most {CODE_MAX_BYTES // 1024} KiB")
        if self._check_code is not None:
            errors = self._check_code(code)
            if errors:
                raise ProgramFailed(
                    "code does not compile",
                    details={
                        "field": "code",
                        "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in errors],
                    },
                )
        return code

    async def create(self, req: ProgramCreate, ctx: RequestContext) -> Program:
        name = clean_name(req.name)
        description = check_description(req.description)
        code = self._checked_code(req.code)
        program_id = await self._store.next_id()
        now = now_iso()
        await self._store.put_version(ctx.owner, program_id, 1, code, now)
        doc = {
            "id": program_id,
            "owner": ctx.owner,
            "name": name,
            "description": description,
            "code": code,
            "enabled": req.enabled,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        await self._store.insert(doc)
        program = _program(doc)
        await self._announce(subjects.EVT_PROGRAM_CREATED, program, ctx)
        return program

    async def get(self, req: ProgramRef, ctx: RequestContext) -> Program:
        return _program(await self._require(ctx.owner, req.id))

    async def list(self, req: ProgramList, ctx: RequestContext) -> list[Program]:
        return [_program(doc) for doc in await self._store.page(ctx.owner, req.limit, req.offset)]

    async def update(self, req: ProgramUpdate, ctx: RequestContext) -> Program:
        changes: dict[str, Any] = {}
        if req.name is not msgspec.UNSET:
            changes["name"] = clean_name(req.name)
        if req.description is not msgspec.UNSET:
            changes["description"] = check_description(req.description)
        if req.enabled is not msgspec.UNSET:
            changes["enabled"] = req.enabled
        code = None if req.code is msgspec.UNSET else self._checked_code(req.code)
        current = await self._require(ctx.owner, req.id)
        now = now_iso()
        version = current["version"]
        if code is not None and code != current["code"]:
            version += 1
            await self._store.put_version(ctx.owner, req.id, version, code, now)
            changes.update(code=code, version=version)
        changes["updated_at"] = now
        doc = await self._store.update(ctx.owner, req.id, changes, expected_version=current["version"])
        if doc is None:
            await self._require(ctx.owner, req.id)  # deleted meanwhile → 404
            raise Conflict("the program was changed by another request; read it again and retry")
        program = _program(doc)
        await self._announce(subjects.EVT_PROGRAM_UPDATED, program, ctx)
        return program

    async def delete(self, req: ProgramRef, ctx: RequestContext) -> Deleted:
        current = await self._require(ctx.owner, req.id)
        if not await self._store.delete(ctx.owner, req.id):
            raise NotFound(f"program {req.id} not found")
        await self._announce(subjects.EVT_PROGRAM_DELETED, _program(current), ctx)
        return Deleted(id=req.id)

    async def versions(self, req: ProgramRef, ctx: RequestContext) -> list[ProgramVersion]:
        current = await self._require(ctx.owner, req.id)
        docs = await self._store.versions(ctx.owner, req.id, current["version"])
        return [_version(doc) for doc in docs]

    async def version(self, req: ProgramVersionRef, ctx: RequestContext) -> ProgramVersion:
        current = await self._require(ctx.owner, req.id)
        doc = None
        if req.version <= current["version"]:
            doc = await self._store.version(ctx.owner, req.id, req.version)
        if doc is None:
            raise NotFound(f"program {req.id} has no version {req.version} (latest is {current['version']})")
        return _version(doc)

    async def _require(self, owner: str, program_id: int) -> dict[str, Any]:
        doc = await self._store.get(owner, program_id)
        if doc is None:
            raise NotFound(f"program {program_id} not found")
        return doc

    async def _announce(self, subject: str, program: Program, ctx: RequestContext) -> None:
        event = ProgramEvent(**ctx.event_fields(), program_id=program.id, version=program.version, name=program.name)
        await self._publish(subject, event)


def _program(doc: dict[str, Any]) -> Program:
    return Program(
        id=doc["id"],
        name=doc["name"],
        description=doc["description"],
        code=doc["code"],
        enabled=doc["enabled"],
        version=doc["version"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _version(doc: dict[str, Any]) -> ProgramVersion:
    return ProgramVersion(program_id=doc["program_id"], version=doc["version"], code=doc["code"], created_at=doc["created_at"])
