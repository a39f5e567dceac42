"""The route table: which HTTP route goes to which NATS subject with which request message.

This is the only place routes are declared. Every route answers with and without a trailing slash,
and ids are matched as numbers (`{id:\\d+}`), so a literal route such as `/api/programs/bindings` or
`/api/programs/available-symbols` can never fall into `/api/programs/{id}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import subjects
from shared.messages.programs import ProgramCreate, ProgramList, ProgramRef, ProgramUpdate, ProgramVersionRef

ID = r"{id:\d+}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    subject: str
    request: type
    status: int = 200


ROUTES: tuple[Route, ...] = (
    # registry: programs and their versions
    Route("GET", "/api/programs", subjects.PROGRAMS_LIST, ProgramList),
    Route("POST", "/api/programs", subjects.PROGRAMS_CREATE, ProgramCreate, status=201),
    Route("GET", f"/api/programs/{ID}", subjects.PROGRAMS_GET, ProgramRef),
    Route("PUT", f"/api/programs/{ID}", subjects.PROGRAMS_UPDATE, ProgramUpdate),
    Route("DELETE", f"/api/programs/{ID}", subjects.PROGRAMS_DELETE, ProgramRef, status=204),
    Route("GET", f"/api/programs/{ID}/versions", subjects.PROGRAM_VERSIONS_LIST, ProgramRef),
    Route("GET", f"/api/programs/{ID}/versions/{{version:\\d+}}", subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef),
)
