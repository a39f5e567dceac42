"""The registry's NATS endpoints: decode → domain → reply. Nothing else lives here."""

from __future__ import annotations

from services.registry.programs import CodeChecker, Programs
from services.registry.store import ProgramStore
from shared import subjects
from shared.messages.programs import ProgramCreate, ProgramList, ProgramRef, ProgramUpdate, ProgramVersionRef
from shared.lang import Diagnostic, compile_program
from shared.runtime import Service
from shared.settings import Settings
from shared.store import Store, open_store


def compile_errors(code: str) -> list[Diagnostic]:
    """Program code must compile to be saved: the same compiler as every run uses."""
    return compile_program(code).errors


async def build(settings: Settings, *, check_code: CodeChecker = compile_errors, store: Store | None = None) -> Service:
    """The registry service; tests may hand in their own `store` (e.g. the MongoDB double)."""
    service = Service("registry", settings, description="Programs, versions, accounts, signal pools, bindings")
    if store is None:
        store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    service.resources.push_async_callback(store.close)
    service.add_health_check("store", store.ping)
    programs = Programs(await ProgramStore.open(store), service.publish, check_code=check_code)
    service.add(subjects.PROGRAMS_CREATE, ProgramCreate, programs.create)
    service.add(subjects.PROGRAMS_LIST, ProgramList, programs.list)
    service.add(subjects.PROGRAMS_GET, ProgramRef, programs.get)
    service.add(subjects.PROGRAMS_UPDATE, ProgramUpdate, programs.update)
    service.add(subjects.PROGRAMS_DELETE, ProgramRef, programs.delete)
    service.add(subjects.PROGRAM_VERSIONS_LIST, ProgramRef, programs.versions)
    service.add(subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef, programs.version)
    return service
