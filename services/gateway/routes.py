"""The route table: which HTTP route goes to which NATS subject with which request message.

This is the only place routes are declared. Every route answers with and without a trailing slash,
and ids are matched as numbers (`{id:\\d+}`), so a literal route such as `/api/programs/bindings` or
`/api/programs/available-symbols` can never fall into `/api/programs/{id}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import subjects
from shared.messages.market import CandleImport, CandlesQuery, MarketQuery, SymbolsQuery
from shared.messages.programs import ProgramCreate, ProgramList, ProgramRef, ProgramUpdate, ProgramVersionRef
from shared.messages.runs import GuideRequest, TestRunRequest, ValidateRequest

ID = r"{id:\d+}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    subject: str
    request: type
    status: int = 200
    text_body: str | None = None  # the message field that takes the raw body (CSV uploads) instead of JSON


ROUTES: tuple[Route, ...] = (
    # executor: market data
    Route("GET", "/api/programs/available-symbols", subjects.MARKET_SYMBOLS, SymbolsQuery),
    Route("POST", "/api/programs/query-market-data", subjects.MARKET_QUERY, MarketQuery),
    Route("GET", "/api/programs/market-data/candles", subjects.MARKET_CANDLES, CandlesQuery),
    Route("POST", "/api/programs/market-data/import", subjects.MARKET_IMPORT, CandleImport, status=201, text_body="csv"),
    # executor: the program language
    Route("POST", "/api/programs/validate", subjects.LANG_VALIDATE, ValidateRequest),
    Route("POST", "/api/programs/test-run", subjects.LANG_TEST_RUN, TestRunRequest),
    Route("GET", "/api/programs/dev-guide", subjects.LANG_DEV_GUIDE, GuideRequest),
    # registry: programs and their versions
    Route("GET", "/api/programs", subjects.PROGRAMS_LIST, ProgramList),
    Route("POST", "/api/programs", subjects.PROGRAMS_CREATE, ProgramCreate, status=201),
    Route("GET", f"/api/programs/{ID}", subjects.PROGRAMS_GET, ProgramRef),
    Route("PUT", f"/api/programs/{ID}", subjects.PROGRAMS_UPDATE, ProgramUpdate),
    Route("DELETE", f"/api/programs/{ID}", subjects.PROGRAMS_DELETE, ProgramRef, status=204),
    Route("GET", f"/api/programs/{ID}/versions", subjects.PROGRAM_VERSIONS_LIST, ProgramRef),
    Route("GET", f"/api/programs/{ID}/versions/{{version:\\d+}}", subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef),
)
