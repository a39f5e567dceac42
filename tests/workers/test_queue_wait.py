"""Waiting for a free worker is a limit of its own: a burst beyond capacity is refused with
`WorkerBusy` after `queue_timeout`, without touching a worker, and the services answer it as 503.

Workers are held by `tasks.hold` until the test opens a gate file, so "every worker is busy" is a
fact the test sets up, not a guess about durations; no assertion depends on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio

from services.backtester.service import PoolChecker
from services.backtester.submit import Submissions
from services.executor.runs import TestRunner as ExecutorTestRunner
from services.executor.runs import Validator
from services.registry.service import PooledCompileCheck
from shared.context import RequestContext
from shared.errors import Unavailable
from shared.market.factory import open_market_data
from shared.messages.backtests import BacktestSubmit
from shared.messages.runs import TestRunRequest as RunRequest
from shared.messages.runs import ValidateRequest
from shared.settings import Settings
from shared.workers import WorkerBusy, WorkerPool
from tests.workers import tasks

MIB = 1024 * 1024

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture(loop_scope="function")
async def pool() -> AsyncIterator[WorkerPool]:
    workers = WorkerPool("burst", size=2, memory_limit_bytes=512 * MIB)
    workers.start()
    await workers.ready()
    yield workers
    await workers.close()


async def hold_every_worker(pool: WorkerPool, gate: Path) -> list[asyncio.Task[int]]:
    """Start one `hold` per worker and return once all of them run (a zero-wait probe is refused)."""
    holders = [asyncio.create_task(pool.run(tasks.hold, str(gate), timeout=100)) for _ in range(pool.size)]
    for _ in range(2000):
        try:
            await pool.run(tasks.add, 1, 1, timeout=30, queue_timeout=0)
        except WorkerBusy:
            return holders
        await asyncio.sleep(0.01)
    raise AssertionError("the holders never took every worker")


async def until(condition: object, what: str) -> None:
    for _ in range(2000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.asyncio(loop_scope="function")
async def test_a_burst_beyond_capacity_gets_busy_after_the_queue_timeout_and_the_rest_complete(
    pool: WorkerPool, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    holders = await hold_every_worker(pool, gate)
    workers_before = pool.workers
    busy_before = pool.busy
    patient = [asyncio.create_task(pool.run(tasks.add, i, 100, timeout=30, queue_timeout=None)) for i in range(3)]
    await until(lambda: pool.queued == 3, "three patient callers queued")

    burst = await asyncio.gather(
        *(pool.run(tasks.add, i, 0, timeout=30, queue_timeout=0.3) for i in range(8)), return_exceptions=True
    )
    assert all(isinstance(outcome, WorkerBusy) for outcome in burst), burst
    first = burst[0]
    assert isinstance(first, WorkerBusy)
    assert str(first) == "all 2 burst workers are busy; retry shortly"
    assert first.workers == 2 and first.waited_s >= 0.3 and first.queued >= 3
    assert first.details() == {
        "reason": "workers_busy", "workers": 2, "queued": first.queued, "waited_s": first.waited_s, "retry_after_s": 1,
    }
    assert pool.busy - busy_before == 8
    assert pool.queued == 3  # the refused ones left the queue; the patient ones still wait
    assert all(not task.done() for task in patient)

    gate.touch()
    pids = set(await asyncio.gather(*holders))
    assert sorted(await asyncio.gather(*patient)) == [100, 101, 102]
    assert pool.queued == 0
    assert pool.kills == 0 and pool.crashes == 0  # a refused call never touches a worker
    assert pool.workers == workers_before == 2
    for pid in pids:
        os.kill(pid, 0)  # the workers that were busy are the same, alive processes
    assert {await pool.run(tasks.pid, timeout=30, queue_timeout=0) for _ in range(4)} <= pids


@pytest.mark.asyncio(loop_scope="function")
async def test_the_pool_default_applies_and_a_call_may_override_it(tmp_path: Path) -> None:
    pool = WorkerPool("single", size=1, memory_limit_bytes=512 * MIB, queue_timeout=0.2)
    pool.start()
    try:
        await pool.ready()
        assert await pool.run(tasks.add, 2, 2, timeout=30, queue_timeout=0) == 4  # a free worker: taken at once
        gate = tmp_path / "gate"
        (holder,) = await hold_every_worker(pool, gate)
        with pytest.raises(WorkerBusy, match=r"^the one single worker is busy; retry shortly$") as caught:
            await pool.run(tasks.add, 1, 2, timeout=30)  # the pool's default: 0.2 s
        assert caught.value.waited_s >= 0.2 and caught.value.queued == 0
        waiting = asyncio.create_task(pool.run(tasks.add, 1, 2, timeout=30, queue_timeout=None))
        await until(lambda: pool.queued == 1, "the unlimited caller queued")
        gate.touch()
        assert await holder > 0
        assert await waiting == 3
        assert pool.kills == 0 and pool.crashes == 0
    finally:
        await pool.close()


def ctx() -> RequestContext:
    return RequestContext(owner="t-queue", request_id="r-1")


class NoPrograms:
    async def code_of(self, program_id: int, ctx: RequestContext) -> tuple[str, int]:
        raise AssertionError("not used")


@pytest.mark.asyncio(loop_scope="function")
async def test_services_answer_a_full_pool_with_a_503_that_says_retry(tmp_path: Path, settings: Settings) -> None:
    """Executor test-run and validate, the registry's compile check and the backtester's submit check:
    `Unavailable` (503) with the busy details, never a limit error or a crash message (nothing ran,
    and the backtest submit created no job: its store and queue are absent and never reached)."""
    pool = WorkerPool("executor", size=1, memory_limit_bytes=512 * MIB, queue_timeout=0.1)
    pool.start()
    resources = AsyncExitStack()
    try:
        market, _ = await open_market_data(settings, resources)
        submissions = Submissions(None, None, market, PoolChecker(pool), None)  # type: ignore[arg-type]
        await pool.ready()
        gate = tmp_path / "gate"
        (holder,) = await hold_every_worker(pool, gate)
        calls = {
            "test-run": ExecutorTestRunner(NoPrograms(), pool, timeout_s=30).test_run(
                RunRequest(symbol="BTC", code="fn run(ctx) { }"), ctx()),
            "validate": Validator(pool, timeout_s=30).validate(ValidateRequest(code="fn run(ctx) { }"), ctx()),
            "registry": PooledCompileCheck(pool, timeout_s=30)("fn run(ctx) { }"),
            "backtest": submissions.submit(BacktestSubmit(code="fn run(ctx) { }", symbol="BTC"), ctx()),
        }
        for name, call in calls.items():
            with pytest.raises(Unavailable) as caught:
                await call
            error = caught.value
            assert error.status == 503 and error.code == "unavailable", name
            assert "the one executor worker is busy; retry shortly" in error.message, name
            assert error.details["reason"] == "workers_busy" and error.details["retry_after_s"] == 1, name
        gate.touch()
        await holder
        assert pool.kills == 0 and pool.crashes == 0
    finally:
        await pool.close()
        await resources.aclose()
