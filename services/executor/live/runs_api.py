"""Wiring of live runs into the executor: endpoints (preview-run, executions), the run consumer, the clock.

`register_runs(service, …)` is called from `services/executor/service.py`. The consumer and the clock
are background tasks started once NATS is connected (`service.on_connect`) and stopped with the
service's resources; both ask the service for its current NATS client each time, so a replaced
client (NATS restarted) is picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import structlog
from nats.aio.client import Client

from services.executor.live.clock import LiveIndex, TriggerClock
from services.executor.live.executions import Executions
from services.executor.live.exits import ExitWatch
from services.executor.live.index import ClockCursor
from services.executor.live.ledger import Ledger
from services.executor.live.preview import Preview
from services.executor.live.queue import RunQueue
from services.executor.live.runs import Offload, RunHandler
from services.executor.live.store import ACCOUNTS, BINDINGS, LiveStore
from services.executor.live.work import MarketConfig
from shared import subjects
from shared.context import RequestContext
from shared.market import MarketData
from shared.messages.live import ExecutionList, ExecutionRef, PreviewRequest, RunOrder
from shared.messages.programs import Program, ProgramRef, ProgramVersion, ProgramVersionRef
from shared.runtime import Service
from shared.settings import Settings
from shared.store import Store

log = structlog.get_logger()

WORKER_MEMORY_BYTES = 1 << 30


class RegistryCode:
    """Program code from the registry, on behalf of the binding's owner (explicit versions are cached:
    a kept version never changes)."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._versions: dict[tuple[str, int, int], str] = {}

    async def code(self, owner: str, program_id: int, version: int | None) -> tuple[str, int]:
        ctx = RequestContext(request_id=f"live-{program_id}", owner=owner)
        client = self._service.client()
        if version is None:
            program = await client.request(subjects.PROGRAMS_GET, ProgramRef(id=program_id), Program, ctx)
            return program.code, program.version
        key = (owner, program_id, int(version))
        if key not in self._versions:
            kept = await client.request(
                subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef(id=program_id, version=int(version)), ProgramVersion, ctx
            )
            if len(self._versions) > 4096:
                self._versions.clear()
            self._versions[key] = kept.code
        return self._versions[key], int(version)


def market_config(settings: Settings) -> MarketConfig:
    return MarketConfig(
        sqlite_path=str(settings.sqlite_path),
        mongodb_url=settings.mongodb_url,
        mongodb_db=settings.mongodb_db,
        seed=settings.market_seed,
        hyperliquid_url=settings.hyperliquid_url,
    )


@dataclass
class LiveRuns:
    """Everything live runs need in one replica; `handler`, `clock` and `queue` are public for tests and
    the benchmark."""

    service: Service
    settings: Settings
    ledger: Ledger
    index: LiveIndex
    handler: RunHandler
    clock: TriggerClock
    queue: RunQueue
    exits: ExitWatch
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _on_connect(self, nc: Client) -> None:
        await self.queue.setup()
        if self.tasks:
            return
        self.tasks.append(asyncio.create_task(self._consume(), name="live-runs-consumer"))
        if self.settings.live_clock:
            self.tasks.append(asyncio.create_task(self.clock.run(self.stopping), name="live-runs-clock"))

    async def _consume(self) -> None:
        async def handle(order: RunOrder) -> object:
            return await self.handler.handle(order)

        await self.queue.consume(handle, concurrency=self.settings.live_run_concurrency, stopping=self.stopping)

    async def stop(self) -> None:
        self.stopping.set()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=10)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class _CurrentNats:
    """The service's NATS client as it is now (it is replaced if it ever closes)."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def __call__(self) -> Client:
        return self._service.nc


async def register_runs(
    service: Service,
    *,
    store: Store,
    market: MarketData,
    offload: Offload | None = None,
    index: LiveIndex | None = None,
) -> LiveRuns:
    """Add preview-run and executions endpoints, and the run consumer and trigger clock, to `service`."""
    settings = service.settings
    if offload is None:
        from shared.workers import WorkerPool

        workers = WorkerPool("executor-live", size=settings.live_workers, memory_limit_bytes=WORKER_MEMORY_BYTES)
        workers.start()
        service.resources.push_async_callback(workers.close)
        offload = workers.run
    if index is None:
        index = await LiveStore.open(store)  # live-resources' cross-owner index of enabled pools/bindings
    ledger = await Ledger.open(store, accounts=ACCOUNTS.name, bindings=BINDINGS.name)
    programs = RegistryCode(service)
    config = market_config(settings)
    handler = RunHandler(ledger, programs, offload, service.publish, market.now, config, run_timeout_s=settings.live_run_timeout_s)
    queue = RunQueue(_CurrentNats(service), ack_wait_s=settings.live_ack_wait_s)
    exits = ExitWatch(ledger, market, service.publish, handler.account_lock)
    clock = TriggerClock(market, index, queue.enqueue, service.publish, cursor=await ClockCursor.open(store), exits=exits.check)
    live = LiveRuns(service, settings, ledger, index, handler, clock, queue, exits)
    preview = Preview(ledger, programs, offload, market.now, config, timeout_s=settings.live_run_timeout_s)
    executions = Executions(ledger)
    service.add(subjects.LIVE_PREVIEW, PreviewRequest, preview.preview)
    service.add(subjects.LIVE_EXECUTIONS_LIST, ExecutionList, executions.list)
    service.add(subjects.LIVE_EXECUTIONS_GET, ExecutionRef, executions.get)
    service.on_connect(live._on_connect)
    service.resources.push_async_callback(live.stop)
    return live
