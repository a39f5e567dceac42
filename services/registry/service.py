"""The registry's NATS endpoints: decode → domain → reply. Nothing else lives here."""

from __future__ import annotations

from services.registry.programs import CodeChecker, Programs
from services.registry.store import ProgramStore
from services.registry.tokens import add_token_endpoints
from shared import subjects
from shared.context import RequestContext
from shared.messages.programs import ProgramCreate, ProgramList, ProgramRef, ProgramUpdate, ProgramVersionList, ProgramVersionRef
from shared.errors import LimitExceeded, Unavailable
from shared.lang import Diagnostic, compile_program
from shared.messages.live import BindingCount, BindingCountQuery
from shared.runtime import Service
from shared.settings import Settings
from shared.store import Store, open_store
from shared.workers import WorkerBusy, WorkerCrashed, WorkerPool, WorkTimeout


def compile_errors(code: str) -> list[Diagnostic]:
    """Program code must compile to be saved: the same compiler as every run uses. Runs in a worker."""
    return compile_program(code).errors


class PooledCompileCheck:
    """`compile_errors` in the registry's worker processes, with a hard timeout: compiling is untrusted
    work and must not block this service's event loop. A timeout is a 422 `limit_exceeded` on `code`,
    answered before anything is written, so a program is saved only when the client gets a 2xx."""

    def __init__(self, pool: WorkerPool, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s

    async def __call__(self, code: str) -> list[Diagnostic]:
        try:
            return await self._pool.run(compile_errors, code, timeout=self._timeout_s)
        except WorkerBusy as exc:  # never ran, nothing written: the client retries
            raise Unavailable(f"the program could not be checked: {exc}", details=exc.details()) from None
        except WorkTimeout:
            reason = f"compiling took longer than {self._timeout_s:g} s; make the program smaller"
            details = {"field": "code", "limit": "compile_timeout_s", "max": self._timeout_s, "reason": reason}
        except WorkerCrashed as exc:
            if "memory" not in str(exc):
                raise Unavailable(f"the program could not be checked ({exc}); try again") from None
            reason = "compiling used too much memory; make the program smaller"
            details = {"field": "code", "limit": "worker_memory_mb", "reason": reason}
        raise LimitExceeded(f"code: {reason}", details=details)


async def build(settings: Settings, *, check_code: CodeChecker | None = None, store: Store | None = None) -> Service:
    """The registry service; tests may hand in their own `store` (e.g. the MongoDB double) and
    `check_code` (default: `compile_errors` in worker processes)."""
    service = Service("registry", settings, description="Programs, versions, accounts, signal pools, bindings")
    if check_code is None:
        pool = WorkerPool("registry", size=settings.worker_processes, memory_limit_bytes=settings.worker_memory_mb * 1024 * 1024,
                          queue_timeout=settings.worker_queue_timeout_s)
        pool.start()
        service.resources.push_async_callback(pool.close)
        check_code = PooledCompileCheck(pool, settings.compile_timeout_s)
    if store is None:
        store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    service.resources.push_async_callback(store.close)
    service.add_health_check("store", store.ping)

    async def bindings_of(program_id: int, ctx: RequestContext) -> tuple[int, list[int]]:
        """The executor owns bindings: ask it (as the caller) which ones use the program."""
        reply = await service.client().request(subjects.BINDINGS_COUNT, BindingCountQuery(program_id=program_id), BindingCount, ctx)
        return reply.count, reply.binding_ids

    programs = Programs(await ProgramStore.open(store), service.publish, check_code=check_code, bindings_of=bindings_of)
    service.add(subjects.PROGRAMS_CREATE, ProgramCreate, programs.create)
    service.add(subjects.PROGRAMS_LIST, ProgramList, programs.list)
    service.add(subjects.PROGRAMS_GET, ProgramRef, programs.get)
    service.add(subjects.PROGRAMS_UPDATE, ProgramUpdate, programs.update)
    service.add(subjects.PROGRAMS_DELETE, ProgramRef, programs.delete)
    service.add(subjects.PROGRAM_VERSIONS_LIST, ProgramVersionList, programs.versions)
    service.add(subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef, programs.version)
    await add_token_endpoints(service, store)  # registry.tokens.verify (services/registry/tokens.py)
    return service
