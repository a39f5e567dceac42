"""The backtester's NATS endpoints and its job runner: decode → domain → reply, and the work queue.

Endpoints answer on the loop (submit checks, reads, cancel); backtests and compile checks run in
worker processes (`work.py`): one pool for jobs (each worker with its own market data) and a
one-worker pool for compile checks, so a submit never waits behind a long backtest.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

from services.backtester import work
from services.backtester.queue import JobQueue
from services.backtester.results import Results
from services.backtester.runner import JobRunner
from services.backtester.store import BacktestStore
from services.backtester.submit import BindingSource, Registry, Submissions
from shared import subjects
from shared.market.factory import open_market_data
from shared.messages.backtests import (
    BacktestHistory,
    BacktestItems,
    BacktestRef,
    BacktestSubmit,
    EquityQuery,
    ProgramBacktestSubmit,
    TriggerRef,
)
from shared.runtime import Service
from shared.settings import Settings
from shared.store import Store, open_store
from shared.workers import WorkerPool

MIB = 1024 * 1024
COMPILE_TIMEOUT_S = 10.0
CHECK_WORKER_MEMORY_BYTES = 512 * MIB


class PoolChecker:
    """Compile checks in a worker process (untrusted code never compiles on the loop)."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool

    async def errors(self, code: str) -> list[dict[str, Any]]:
        return await self._pool.run(work.compile_errors, code, timeout=COMPILE_TIMEOUT_S)


class BacktesterService(Service):
    """A `Service` that also runs the job runner once it serves, and stops it first."""

    runner: JobRunner | None = None
    queue: JobQueue | None = None
    _start_runner: Any = None

    async def connect(self, nc: Client | None = None) -> None:
        await super().connect(nc)
        assert self._start_runner is not None
        await self._start_runner()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        await super().stop()


async def build(settings: Settings, *, store: Store | None = None, bindings: BindingSource | None = None) -> BacktesterService:
    service = BacktesterService("backtester", settings, description="Backtest jobs from a JetStream work queue, and their results")
    if store is None:
        store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    service.resources.push_async_callback(store.close)
    service.add_health_check("store", store.ping)
    backtests = await BacktestStore.open(store)
    market, _ = await open_market_data(settings, service.resources)

    jobs_pool = WorkerPool("backtests", size=settings.backtest_workers,
                           memory_limit_bytes=settings.backtest_worker_memory_mb * MIB,
                           initializer=work.init, initargs=(settings,))
    check_pool = WorkerPool("backtest-checks", size=1, memory_limit_bytes=CHECK_WORKER_MEMORY_BYTES,
                            queue_timeout=settings.worker_queue_timeout_s)  # queue-wait: busy → 503 in submit.py
    service.resources.push_async_callback(jobs_pool.close)
    service.resources.push_async_callback(check_pool.close)

    class _Queue:
        """The queue exists once connected; submit and cancel reach it through this."""

        async def publish(self, job: Any, msg_id: str) -> None:
            assert service.queue is not None
            await service.queue.publish(job, msg_id)

    async def broadcast_cancel(backtest_id: str) -> None:
        await service.nc.publish(subjects.BACKTEST_CANCEL_BROADCAST, backtest_id.encode())

    async def drop_message(backtest_id: str) -> None:
        assert service.queue is not None
        seq = await service.queue.sequence(backtest_id)
        if seq is not None:
            await service.queue.remove(seq)

    async def start_runner() -> None:
        jobs_pool.start()
        check_pool.start()
        service.queue = JobQueue(service.nc.jetstream(), settings)
        service.runner = JobRunner(settings, backtests, service.queue, jobs_pool, service.publish, service.nc)
        await service.runner.start()

    service._start_runner = start_runner
    if bindings is None:  # live-followups: binding replay asks the executor for the binding and its pools
        from services.backtester.bindings import ExecutorBindings

        bindings = ExecutorBindings(service, Registry(service))
    submissions = Submissions(backtests, Registry(service), market, PoolChecker(check_pool), _Queue(), bindings)
    results = Results(backtests, service.publish, broadcast_cancel, drop_message)

    service.add(subjects.BACKTESTS_SUBMIT, BacktestSubmit, submissions.submit)
    service.add(subjects.BACKTESTS_SUBMIT_PROGRAM, ProgramBacktestSubmit, submissions.submit_program)
    service.add(subjects.BACKTESTS_GET, BacktestRef, results.get)
    service.add(subjects.BACKTESTS_LIST, BacktestHistory, results.history)
    service.add(subjects.BACKTESTS_CANCEL, BacktestRef, results.cancel)
    service.add(subjects.BACKTESTS_EQUITY, EquityQuery, results.equity)
    service.add(subjects.BACKTESTS_TRADES, BacktestItems, results.trades)
    service.add(subjects.BACKTESTS_TRIGGERS, BacktestItems, results.triggers)
    service.add(subjects.BACKTESTS_MARKERS, BacktestItems, results.markers)
    service.add(subjects.BACKTEST_TRIGGERS_GET, TriggerRef, results.trigger)
    return service
