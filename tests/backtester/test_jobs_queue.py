"""The job runner against the real work queue and store: redeliveries of finished jobs are only acked,
a job past its deliveries is failed (never stuck in `running`), and the crash-only sweeper re-queues a
job whose message was lost, or fails it once its attempts are used up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from services.backtester.queue import JobQueue
from services.backtester.runner import JobRunner
from services.backtester.store import BacktestStore
from services.backtester.submit import job_record, new_backtest_id
from shared.context import RequestContext
from shared.messages.backtests import BacktestJob, BacktestSubmit
from shared.settings import Settings
from shared.store import open_store
from tests.harness import RunningPlatform

SIMPLE = "fn run(ctx) { ctx.state.n = ctx.state.get(\"n\", 0) + 1; }"


@pytest_asyncio.fixture
async def store(settings: Settings) -> AsyncIterator[BacktestStore]:
    raw = open_store(mongodb_url=None, sqlite_path=settings.sqlite_path)
    yield await BacktestStore.open(raw)
    await raw.close()


def runner_of(platform: RunningPlatform) -> JobRunner:
    service = next(s for s in platform.services if s.name == "backtester")
    runner = service.runner  # type: ignore[attr-defined]
    assert isinstance(runner, JobRunner)
    return runner


def queue_of(platform: RunningPlatform) -> JobQueue:
    service = next(s for s in platform.services if s.name == "backtester")
    queue = service.queue  # type: ignore[attr-defined]
    assert isinstance(queue, JobQueue)
    return queue


async def make_record(store: BacktestStore, owner: str, **changes: Any) -> dict[str, Any]:
    ctx = RequestContext(request_id=uuid.uuid4().hex, owner=owner)
    settings = BacktestSubmit(symbol="BTC")
    doc = job_record(
        new_backtest_id(), ctx, seq=await store.next_seq(), program_id=None, version=None, binding_id=None,
        selection=None, code=SIMPLE, symbol="BTC", timeframe="1h", start_ms=1_709_251_200_000,
        end_ms=1_709_251_200_000 + 48 * 3_600_000, settings=settings,
    )
    doc.update(changes)
    await store.create(doc)
    return doc


async def settled(store: BacktestStore, owner: str, backtest_id: str, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            doc = await store.get(owner, backtest_id)
            assert doc is not None
            if doc["status"] in ("completed", "failed", "cancelled"):
                return doc
            await asyncio.sleep(0.05)


async def message_gone(queue: JobQueue, backtest_id: str, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while await queue.sequence(backtest_id) is not None:
            await asyncio.sleep(0.05)


async def test_a_redelivered_job_whose_result_exists_is_only_acked(platform: RunningPlatform, store: BacktestStore) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    doc = await make_record(store, owner, status="completed", attempts=1, finished_at="2024-01-01T00:00:00Z")
    queue = queue_of(platform)
    await queue.publish(BacktestJob(backtest_id=doc["id"], owner=owner, request_id="r"), f"{doc['id']}:again")
    await message_gone(queue, doc["id"])
    after = await store.get(owner, doc["id"])
    assert after == doc  # untouched: no second run, no second result


async def test_a_job_past_its_deliveries_is_failed_not_left_running(platform: RunningPlatform, store: BacktestStore,
                                                                     settings: Settings) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    limit = settings.backtest_max_deliveries
    doc = await make_record(store, owner, status="running", attempts=limit, heartbeat_at="2024-01-01T00:00:00Z")
    queue = queue_of(platform)
    await queue.publish(BacktestJob(backtest_id=doc["id"], owner=owner, request_id="r"), f"{doc['id']}:last")
    failed = await settled(store, owner, doc["id"])
    assert failed["status"] == "failed" and failed["error"]["kind"] == "deliveries"
    assert str(limit) in failed["error"]["message"]
    await message_gone(queue, doc["id"])
    assert doc["id"] not in [entry["id"] for entry in await store.active()]


async def test_the_sweeper_requeues_a_running_job_whose_message_was_lost(platform: RunningPlatform, store: BacktestStore) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    doc = await make_record(store, owner, status="running", attempts=1, replica="dead", heartbeat_at="2024-01-01T00:00:00Z")
    assert await queue_of(platform).sequence(doc["id"]) is None
    await runner_of(platform).sweep()
    done = await settled(store, owner, doc["id"])
    assert done["status"] == "completed" and done["attempts"] == 2 and done["bars_total"] == 48, done


async def test_the_sweeper_fails_a_lost_job_whose_attempts_are_used_up(platform: RunningPlatform, store: BacktestStore,
                                                                        settings: Settings) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    doc = await make_record(store, owner, status="running", attempts=settings.backtest_max_deliveries)
    await runner_of(platform).sweep()
    failed = await store.get(owner, doc["id"])
    assert failed is not None and failed["status"] == "failed" and failed["error"]["kind"] == "lost"
    assert doc["id"] not in [entry["id"] for entry in await store.active()]


async def test_the_sweeper_publishes_an_old_queued_job_that_never_reached_the_queue(platform: RunningPlatform,
                                                                                    store: BacktestStore) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    doc = await make_record(store, owner, created_at="2024-01-01T00:00:00Z")  # its submit died before publishing
    await runner_of(platform).sweep()
    done = await settled(store, owner, doc["id"])
    assert done["status"] == "completed" and done["attempts"] == 1


async def test_a_young_queued_job_without_a_message_is_left_to_its_submit(platform: RunningPlatform, store: BacktestStore) -> None:
    owner = f"t-{uuid.uuid4().hex[:8]}"
    doc = await make_record(store, owner)
    await runner_of(platform).sweep()
    assert (await store.get(owner, doc["id"]))["status"] == "queued"  # type: ignore[index]
    assert await queue_of(platform).sequence(doc["id"]) is None
    await store.move(owner, doc["id"], "queued", "cancelled")
