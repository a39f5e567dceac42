"""The executor's NATS endpoints: decode → domain → reply."""

from __future__ import annotations

from services.executor.guide import dev_guide
from services.executor.market_desk import MarketDesk
from services.executor.runs import TestRunner, validate
from shared import subjects
from shared.context import RequestContext
from shared.market import ensure_bundled_history
from shared.market.factory import open_market_data
from shared.messages.market import CandleImport, CandlesQuery, MarketQuery, SymbolsQuery
from shared.messages.programs import Program, ProgramRef
from shared.messages.runs import Guide, GuideRequest, TestRunRequest, ValidateRequest, ValidateResult
from shared.runtime import Service
from shared.settings import Settings


class RegistryPrograms:
    """Programs as the registry serves them, fetched over NATS on the caller's behalf."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def code_of(self, program_id: int, ctx: RequestContext) -> tuple[str, int]:
        program = await self._service.client().request(subjects.PROGRAMS_GET, ProgramRef(id=program_id), Program, ctx)
        return program.code, program.version


async def build(settings: Settings) -> Service:
    service = Service("executor", settings, description="Validate, test-run, preview-run, live runs, market data, triggers")
    market, candle_store = await open_market_data(settings, service.resources)
    await ensure_bundled_history(candle_store)
    desk = MarketDesk(market, service.publish)
    runner = TestRunner(market, RegistryPrograms(service))

    async def validate_code(req: ValidateRequest, ctx: RequestContext) -> ValidateResult:
        return validate(req, ctx)

    async def guide(req: GuideRequest, ctx: RequestContext) -> Guide:
        return Guide(guide=dev_guide())

    service.add(subjects.MARKET_SYMBOLS, SymbolsQuery, desk.symbols)
    service.add(subjects.MARKET_QUERY, MarketQuery, desk.query)
    service.add(subjects.MARKET_CANDLES, CandlesQuery, desk.candles)
    service.add(subjects.MARKET_IMPORT, CandleImport, desk.import_csv)
    service.add(subjects.LANG_VALIDATE, ValidateRequest, validate_code)
    service.add(subjects.LANG_TEST_RUN, TestRunRequest, runner.test_run)
    service.add(subjects.LANG_DEV_GUIDE, GuideRequest, guide)
    return service
