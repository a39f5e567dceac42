"""Programs: the rules of creating, changing and versioning them.

Every code change makes a new version and keeps the old one, so executions and backtests can record
(and later show) exactly the code they ran. A write is ordered so that a crash at any point leaves no
visible half-state: the version document is written first (idempotently), then the program is moved
to it with a compare-and-set on its current version.

Deadlines (what a client that got a 504 can rely on). The gateway stamps every request with the
moment it gives up and answers 504 (`RequestContext.deadline_ms`). Each write here (create, update,
delete) does all its slow steps first (checking, compiling the code, reading the current program),
then calls `ctx.check_deadline()` right before its first write, which refuses unless at least
`WRITE_MARGIN_MS` (500 ms) remain. So:
- a 504 whose message says "nothing was written" came from here: nothing was written;
- a 504 from the gateway itself ("did not answer within ..."): no write was *started* later than
  500 ms before the deadline. A write started earlier than that and still unanswered at the deadline
  needs a store that stalls mid-write for over 500 ms (a MongoDB fail-over) or host clocks more than
  500 ms apart; that write is then complete, never half-done (ordering above), and visible to a read.
  In doubt, read: `GET /api/programs/{id}` (update, delete) or the list (create).
Updates are safe to retry (the same code makes no new version); a create is not idempotent, so list
before re-creating after an ambiguous 504.
"""

from __future__ import annotations

import inspect

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from services.registry.store import ProgramStore
from shared import subjects
from shared.errors import Conflict, InvalidRequest, NotFound, ProgramFailed
from shared.limits import CODE_MAX_BYTES
from shared.messages.base import MAX_SAFE_INT, NAME_MAX_CHARS, Event, check_name
from shared.messages.programs import (
    Deleted,
    Program,
    ProgramCreate,
    ProgramEvent,
    ProgramList,
    ProgramRef,
    ProgramUpdate,
    ProgramVersion,
    ProgramVersionList,
    ProgramVersionRef,
)
from shared.context import RequestContext
from shared.paging import ListPage, decode_cursor, page
from shared.timefmt import now_iso

NAME_MAX = NAME_MAX_CHARS
DESCRIPTION_MAX = 2000

Publish = Callable[[str, Event], Awaitable[None]]


class CodeDiagnostic(Protocol):
    line: int
    column: int
    message: str


CodeChecker = Callable[[str], Sequence[CodeDiagnostic] | Awaitable[Sequence[CodeDiagnostic]]]
"""Returns the compile errors of a program's code (empty when it compiles)."""

BindingsOf = Callable[[int, RequestContext], Awaitable[tuple[int, list[int]]]]
"""(how many bindings use the program, some of their ids): asked before a delete (the executor owns
bindings; `services/registry/service.py` wires the NATS call). If it cannot answer, the delete fails
(503) rather than orphan bindings."""


def _field_error(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {reason}", details={"field": field, "reason": reason})


def clean_name(name: str) -> str:
    return check_name(name, "name", NAME_MAX)


def _cursor_key(cursor: str | None) -> int | None:
    """Our list cursors hold the last id (or version) returned; anything else is not one of ours."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if isinstance(key, bool) or not isinstance(key, int) or not 1 <= key <= MAX_SAFE_INT:
        raise _field_error("cursor", "not a cursor this API gave out")
    return key


def _either_cursor_or_offset(cursor: str | None, offset: int) -> None:
    if cursor is not None and offset:
        raise _field_error("offset", "give either `cursor` or `offset`, not both")


def check_description(description: str) -> str:
    if len(description) > DESCRIPTION_MAX:
        raise _field_error("description", f"must be at most {DESCRIPTION_MAX} characters")
    return description


class Programs:
    def __init__(
        self, store: ProgramStore, publish: Publish, check_code: CodeChecker | None = None, bindings_of: BindingsOf | None = None
    ) -> None:
        self._store = store
        self._publish = publish
        self._check_code = check_code
        self._bindings_of = bindings_of

    async def _checked_code(self, code: str) -> str:
        if not code.strip():
            raise _field_error("code", "must not be empty")
        if len(code.encode()) > CODE_MAX_BYTES:
            raise _field_error("code", f"must be at most {CODE_MAX_BYTES // 1024} KiB")
        if self._check_code is not None:
            errors = self._check_code(code)
            if inspect.isawaitable(errors):  # the registry compiles in a worker process
                errors = await errors
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
        code = await self._checked_code(req.code)
        ctx.check_deadline()  # the last moment before the first write (see the module docstring)
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

    async def list(self, req: ProgramList, ctx: RequestContext) -> ListPage:
        """Newest first, paged by count and by bytes (programs carry their code: up to 64 KiB each)."""
        _either_cursor_or_offset(req.cursor, req.offset)
        docs = await self._store.page(ctx.owner, req.limit + 1, offset=req.offset, before_id=_cursor_key(req.cursor))
        return page([_program(doc) for doc in docs], req.limit, key=lambda program: program.id)

    async def update(self, req: ProgramUpdate, ctx: RequestContext) -> Program:
        changes: dict[str, Any] = {}
        if req.name is not msgspec.UNSET:
            changes["name"] = clean_name(req.name)
        if req.description is not msgspec.UNSET:
            changes["description"] = check_description(req.description)
        if req.enabled is not msgspec.UNSET:
            changes["enabled"] = req.enabled
        code = None if req.code is msgspec.UNSET else await self._checked_code(req.code)
        current = await self._require(ctx.owner, req.id)
        ctx.check_deadline()  # the last moment before the first write (see the module docstring)
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
        if self._bindings_of is not None:
            count, binding_ids = await self._bindings_of(req.id, ctx)
            if count:
                shown = ", ".join(str(i) for i in binding_ids) + (f" and {count - len(binding_ids)} more" if count > len(binding_ids) else "")
                raise Conflict(
                    f"program {req.id} is used by bindings {shown}; delete those bindings first",
                    details={"binding_ids": binding_ids, "count": count},
                )
        ctx.check_deadline()  # the last moment before the write (see the module docstring)
        if not await self._store.delete(ctx.owner, req.id):
            raise NotFound(f"program {req.id} not found")
        await self._announce(subjects.EVT_PROGRAM_DELETED, _program(current), ctx)
        return Deleted(id=req.id)

    async def versions(self, req: ProgramVersionList, ctx: RequestContext) -> ListPage:
        """Newest first, paged like the program list (each version carries its code)."""
        _either_cursor_or_offset(req.cursor, req.offset)
        current = await self._require(ctx.owner, req.id)
        after = _cursor_key(req.cursor)
        up_to = current["version"] if after is None else min(current["version"], after - 1)
        docs = await self._store.versions(ctx.owner, req.id, up_to, limit=req.limit + 1, offset=req.offset)
        return page([_version(doc) for doc in docs], req.limit, key=lambda version: version.version)

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
