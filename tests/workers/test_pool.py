"""The worker pool: results, errors, timeouts, memory caps, progress, cancellation, concurrency.

Every test checks outcomes and process ids, never durations: a timeout test uses work that would
otherwise run far longer than the test's own timeout, so it can only pass if the kill happened.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from shared.workers import WorkerCrashed, WorkerPool, WorkTimeout
from tests.workers import tasks

MIB = 1024 * 1024

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture(loop_scope="function")
async def pool() -> AsyncIterator[WorkerPool]:
    workers = WorkerPool("test", size=2, memory_limit_bytes=512 * MIB, initializer=tasks.init, initargs=("ready",))
    workers.start()
    await workers.ready()
    yield workers
    await workers.close()


@pytest.mark.asyncio(loop_scope="function")
async def test_runs_in_a_worker_process_set_up_by_the_initializer(pool: WorkerPool) -> None:
    pid, initialized, blas_threads = await pool.run(tasks.whoami, timeout=30)
    assert pid != os.getpid()
    assert initialized == ["ready"]
    assert blas_threads == "1"
    assert await pool.run(tasks.add, 2, 3, timeout=30) == 5


@pytest.mark.asyncio(loop_scope="function")
async def test_exceptions_propagate_with_their_type_and_fields(pool: WorkerPool) -> None:
    with pytest.raises(tasks.Refused) as caught:
        await pool.run(tasks.fail, "no good", timeout=30)
    assert str(caught.value) == "no good"
    assert caught.value.details == {"field": "x"}
    with pytest.raises(RuntimeError, match="Odd: 1/2"):
        await pool.run(tasks.fail_odd, timeout=30)
    assert await pool.run(tasks.add, 1, 1, timeout=30) == 2  # the worker is still fine
    assert pool.kills == 0 and pool.crashes == 0


@pytest.mark.asyncio(loop_scope="function")
async def test_timeout_kills_the_worker_and_a_fresh_one_replaces_it(pool: WorkerPool) -> None:
    before = {await pool.run(tasks.pid, timeout=30) for _ in range(4)}
    with pytest.raises(WorkTimeout):
        await pool.run(tasks.spin, 600.0, timeout=0.5)  # ten minutes of work: only a kill ends it
    assert pool.kills == 1
    await pool.ready()
    after = set()
    results = await asyncio.gather(*(pool.run(tasks.sleep_then, 0.2, i, timeout=30) for i in range(4)))
    assert results == [0, 1, 2, 3]
    for _ in range(4):
        after.add(await pool.run(tasks.pid, timeout=30))
    assert pool.workers == 2
    assert len(after - before) >= 1  # one of the workers is new
    for worker_pid in before - after:
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)


@pytest.mark.asyncio(loop_scope="function")
async def test_a_memory_hog_fails_only_its_own_call(pool: WorkerPool) -> None:
    ok = asyncio.create_task(pool.run(tasks.sleep_then, 0.5, 7, timeout=30))
    with pytest.raises(WorkerCrashed, match="out of memory"):
        await pool.run(tasks.hog, 2048, timeout=60)  # 2 GiB in a worker capped at 512 MiB
    assert await ok == 7
    assert pool.crashes == 1
    assert await pool.run(tasks.hog, 64, timeout=60) == 64 * MIB  # the pool keeps working
    assert await pool.run(tasks.add, 2, 2, timeout=30) == 4


@pytest.mark.asyncio(loop_scope="function")
async def test_a_worker_killed_by_a_signal_is_reported_and_replaced(pool: WorkerPool) -> None:
    busy: asyncio.Queue[int] = asyncio.Queue()
    call = asyncio.create_task(pool.run(tasks.spin_reporting, 600.0, timeout=300, on_progress=busy.put_nowait))
    os.kill(await busy.get(), signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        await call
    assert await pool.run(tasks.add, 3, 4, timeout=30) == 7


@pytest.mark.asyncio(loop_scope="function")
async def test_an_idle_worker_killed_from_outside_does_not_break_the_pool(pool: WorkerPool) -> None:
    victim = await pool.run(tasks.pid, timeout=30)
    os.kill(victim, signal.SIGKILL)
    results = [await pool.run(tasks.add, i, i, timeout=30) for i in range(6)]
    assert results == [0, 2, 4, 6, 8, 10]


@pytest.mark.asyncio(loop_scope="function")
async def test_progress_reaches_the_caller_in_order(pool: WorkerPool) -> None:
    seen: list[dict[str, int]] = []
    assert await pool.run(tasks.progress, 50, timeout=30, on_progress=seen.append) == "finished"
    assert [p["done"] for p in seen] == list(range(1, 51))


@pytest.mark.asyncio(loop_scope="function")
async def test_cancelling_the_caller_kills_the_worker(pool: WorkerPool) -> None:
    busy: asyncio.Queue[int] = asyncio.Queue()
    call = asyncio.create_task(pool.run(tasks.spin_reporting, 600.0, timeout=600, on_progress=busy.put_nowait))
    worker_pid = await busy.get()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert pool.kills == 1
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    assert await pool.run(tasks.add, 5, 5, timeout=30) == 10


@pytest.mark.asyncio(loop_scope="function")
async def test_many_concurrent_calls_all_complete(pool: WorkerPool) -> None:
    results = await asyncio.gather(*(pool.run(tasks.add, i, 1, timeout=30) for i in range(200)))
    assert results == [i + 1 for i in range(200)]


@pytest.mark.asyncio(loop_scope="function")
async def test_the_event_loop_stays_free_while_workers_are_busy(pool: WorkerPool) -> None:
    order: list[str] = []

    async def heavy() -> None:
        await pool.run(tasks.spin, 1.5, timeout=30)
        order.append("heavy")

    async def light() -> None:
        for _ in range(5):
            await asyncio.sleep(0.01)
        order.append("light")

    await asyncio.gather(heavy(), light())
    assert order == ["light", "heavy"]


@pytest.mark.asyncio(loop_scope="function")
async def test_a_pool_whose_workers_cannot_start_answers_instead_of_hanging() -> None:
    broken = WorkerPool("broken", size=1, memory_limit_bytes=512 * MIB, initializer=tasks.init_fails)
    broken.start()
    try:
        with pytest.raises(WorkerCrashed, match="worker could start"):
            await broken.run(tasks.add, 1, 2, timeout=5)
    finally:
        await broken.close()
