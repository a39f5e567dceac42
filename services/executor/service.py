"""The executor's NATS endpoints: decode → domain → reply."""

from __future__ import annotations

from services.executor.guide import dev_guide
from services.executor.live.endpoints import register_resources
from services.executor.live.runs_api import register_runs
from services.executor.market_desk import MarketDesk
from services.executor import work
from services.executor.runs import TestRunner, Validator
from shared import subjects
from shared.context import RequestContext
from shared.market import ensure_bundled_history
from shared.market.factory import open_market_data
from shared.messages.market import CandleImport, CandlesQuery, MarketQuery, SymbolsQuery
from shared.messages.programs import Program, ProgramRef
from shared.messages.runs import Guide, GuideRequest, TestRunRequest, ValidateRequest, ValidateResult
from shared.runtime import Service
from shared.settings import Settings
from shared.store import open_store
from shared.workers import WorkerPool


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
    # -- validate and test-run compile and run programs in worker processes, never on this loop
    pool = WorkerPool(
        "executor",
        size=settings.worker_processes,
        memory_limit_bytes=settings.worker_memory_mb * 1024 * 1024,
        initializer=work.init,
        initargs=(settings,),
        queue_timeout=settings.worker_queue_timeout_s,  # queue-wait: a burst is a 503, not a 504
    )
    pool.start()
    service.resources.push_async_callback(pool.close)
    runner = TestRunner(RegistryPrograms(service), pool, settings.run_timeout_s)
    validator = Validator(pool, settings.run_timeout_s)

    async def validate_code(req: ValidateRequest, ctx: RequestContext) -> ValidateResult:
        return await validator.validate(req, ctx)

    async def guide(req: GuideRequest, ctx: RequestContext) -> Guide:
        return Guide(guide=dev_guide())

    service.add(subjects.MARKET_SYMBOLS, SymbolsQuery, desk.symbols)
    service.add(subjects.MARKET_QUERY, MarketQuery, desk.query)
    service.add(subjects.MARKET_CANDLES, CandlesQuery, desk.candles)
    service.add(subjects.MARKET_IMPORT, CandleImport, desk.import_csv)
    service.add(subjects.LANG_VALIDATE, ValidateRequest, validate_code)
    service.add(subjects.LANG_TEST_RUN, TestRunRequest, runner.test_run)
    service.add(subjects.LANG_DEV_GUIDE, GuideRequest, guide)
    # -- live trading: the store (accounts, pools, bindings, ledger) -- shared by live-resources and live-runs
    store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    service.resources.push_async_callback(store.close)
    service.add_health_check("store", store.ping)
    # -- live resources (owner: live-resources): accounts, signal pools, bindings
    live = await register_resources(service, store=store, market=market)
    # -- live runs (owner: live-runs): preview-run, executions, the run work-queue and the trigger clock
    await register_runs(service, store=store, market=market, index=live.store)
    return service
