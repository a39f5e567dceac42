"""Running backtest jobs from the work queue: claim, run in a worker process, write the result once.

Every replica runs one `JobRunner`. It pulls one message at a time from the shared durable consumer
(only when it has a free worker), so jobs spread over replicas and a busy replica takes no more.

- Claim: the record moves queued → running (or running → running for a redelivery, compare-and-set
  on the attempt it read), with `attempts` = the message's delivery count. A record already finished
  (a redelivered job whose result exists, or one cancelled while queued) is just acked.
- Run: the backtest runs in the worker pool (`work.run_job`); the service loop only routes. While it
  runs, a ticker sends `in_progress()` (so JetStream does not hand the job to another replica),
  stores progress and a heartbeat (only while this attempt still owns the record: a cancel or a newer
  claim makes the write miss, and the job stops) and publishes `progressed` events.
- Finish: result chunks are written first (idempotent; by the worker, `work.run_job`, so tens of MB
  never cross the pipe nor block this loop), then the record moves running → completed
  with the metrics (compare-and-set on this attempt), then the message is acked. A replica that dies
  anywhere in between leaves the message unacked: it is redelivered and the job finishes once.
- Fail: a program error → failed with its line, column and bar time (acked: it would fail again);
  timeout or worker crash → failed; anything else (store or bus trouble) → nak and retry, and the
  last allowed delivery fails it. A job whose deliveries ran out while no replica was alive to see
  its last one is failed by the MAX_DELIVERIES advisory, or by the sweeper.
- Cancel: any replica receives the request, moves the record to cancelled, and broadcasts; the
  replica running the job cancels its task, which kills the worker process.
- Crash-only: at start-up and every `ack_wait` the sweeper looks at every unfinished job: a job whose
  message is gone is queued again (or failed once its deliveries are used up), a record left `queued`
  by a submit that died before publishing is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.errors
import structlog
from nats.aio.msg import Msg

from services.backtester import work
from services.backtester.queue import JobQueue
from services.backtester.store import EQUITY, MARKERS, TRADES, TRIGGERS, BacktestStore
from shared import subjects
from shared.context import RequestContext
from shared.jobs import is_terminal
from shared.messages.backtests import BacktestEvent, BacktestFailure, BacktestJob
from shared.settings import Settings
from shared.timefmt import now_iso, parse_time
from shared.workers import WorkerCrashed, WorkerPool, WorkTimeout

log = structlog.get_logger()

_decode_job = msgspec.json.Decoder(BacktestJob).decode
FETCH_WAIT_S = 2.0
QUEUED_GRACE_S = 60.0
"""A `queued` record younger than this may still be on its way into the stream (submit in flight)."""

Publish = Callable[[str, BacktestEvent], Awaitable[None]]


@dataclass
class _Running:
    job: BacktestJob
    attempt: int
    task: asyncio.Task[Any] | None = None
    done: int = 0
    total: int = 0
    cancelled: bool = False
    shutting_down: bool = False
    stored_done: int = -1
    extra: dict[str, Any] = field(default_factory=dict)


def _ctx(job: BacktestJob) -> RequestContext:
    return RequestContext(request_id=job.request_id, owner=job.owner)


def _age_s(iso: str | None) -> float:
    if not iso:
        return float("inf")
    return time.time() - parse_time(iso) / 1000


class JobRunner:
    def __init__(self, settings: Settings, store: BacktestStore, queue: JobQueue, pool: WorkerPool, publish: Publish,
                 nc: Any) -> None:
        self._settings = settings
        self._store = store
        self._queue = queue
        self._pool = pool
        self._publish = publish
        self._nc = nc
        self.replica = uuid.uuid4().hex[:8]
        self._slots = asyncio.Semaphore(pool.size)
        self._running: dict[str, _Running] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._subs: list[Any] = []

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._queue.ensure()
        sub = await self._queue.subscribe()
        self._subs.append(await self._nc.subscribe(subjects.BACKTEST_CANCEL_BROADCAST, cb=self._on_cancel_broadcast))
        self._subs.append(
            await self._nc.subscribe(
                subjects.max_deliveries_advisory(self._queue.stream, self._queue.consumer),
                queue="backtester",
                cb=self._on_max_deliveries,
            )
        )
        self._spawn(self._fetch_loop(sub))
        self._spawn(self._sweep_loop())
        log.info("backtest_runner_started", replica=self.replica, workers=self._pool.size)

    async def stop(self) -> None:
        """Stop pulling; jobs in flight are handed back (nak) so another replica takes them at once."""
        self._stopping = True
        for running in list(self._running.values()):
            running.shutting_down = True
            if running.task is not None:
                running.task.cancel()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- pulling ------------------------------------------------------------------------------------

    async def _fetch_loop(self, sub: Any) -> None:
        while not self._stopping:
            await self._slots.acquire()
            try:
                msgs = await sub.fetch(1, timeout=FETCH_WAIT_S)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                self._slots.release()
                continue
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception as exc:  # the bus is reconnecting, the consumer is being recreated...
                self._slots.release()
                log.warning("backtest_fetch_failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                self._spawn(self._handle_then_release(msg))

    async def _handle_then_release(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("backtest_job_crashed")
            with contextlib.suppress(Exception):
                await msg.nak(delay=self._settings.backtest_ack_wait_s / 3)
        finally:
            self._slots.release()

    # ---- one job --------------------------------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        try:
            job = _decode_job(msg.data)
        except msgspec.DecodeError:
            log.error("backtest_job_unreadable", subject=msg.subject)
            await msg.term()
            return
        structlog.contextvars.bind_contextvars(backtest_id=job.backtest_id, owner=job.owner, request_id=job.request_id)
        doc = await self._store.get(job.owner, job.backtest_id)
        if doc is None or is_terminal(doc["status"]):
            await msg.ack()  # finished already (a redelivery after the result was written), or gone
            return
        # Attempts count claims of the record, across messages (a job queued again by the sweeper
        # comes back as a new message whose delivery count starts at 1 again).
        attempt = int(doc["attempts"]) + 1
        if attempt > self._settings.backtest_max_deliveries:
            await self._fail(job, doc["status"], attempt, _deliveries_failure(attempt - 1), where={"attempts": doc["attempts"]})
            await msg.ack()
            return
        claim = {"attempts": attempt, "started_at": now_iso(), "heartbeat_at": now_iso(), "replica": self.replica}
        where = {"attempts": doc["attempts"]} if doc["status"] == "running" else None
        claimed = await self._store.move(job.owner, job.backtest_id, doc["status"], "running", claim, where=where)
        if claimed is None:  # cancelled or claimed by someone else between our read and our write
            current = await self._store.get(job.owner, job.backtest_id)
            if current is None or is_terminal(current["status"]):
                await msg.ack()
            else:
                await msg.nak(delay=self._settings.backtest_ack_wait_s)
            return
        await self._event(subjects.EVT_BACKTEST_STARTED, claimed, attempt)
        log.info("backtest_started", attempt=attempt, replica=self.replica)
        running = _Running(job=job, attempt=attempt)
        self._running[job.backtest_id] = running
        ticker = asyncio.ensure_future(self._tick(msg, running))
        run_started = time.perf_counter()
        try:
            outcome = await self._run(claimed, running)
        except asyncio.CancelledError:
            if running.shutting_down:
                with contextlib.suppress(Exception):
                    await msg.nak()
                raise
            if not running.cancelled:
                raise
            await self._drop_partial_results(job)  # the worker may have been killed while writing them
            await msg.ack()  # the record is cancelled already (by the cancel request)
            log.info("backtest_cancelled")
            return
        except WorkTimeout:
            await self._drop_partial_results(job)
            await self._fail(job, "running", attempt, BacktestFailure(
                kind="timeout", message=f"the backtest ran longer than {self._settings.backtest_timeout_s:g} s and was stopped"))
            await msg.ack()
            return
        except WorkerCrashed as exc:
            await self._drop_partial_results(job)
            await self._fail(job, "running", attempt, BacktestFailure(kind="crashed", message=f"the backtest stopped: {exc}"))
            await msg.ack()
            return
        except Exception as exc:
            if attempt >= self._settings.backtest_max_deliveries:
                log.exception("backtest_failed_internal")
                await self._fail(job, "running", attempt, BacktestFailure(kind="internal", message=f"internal error: {type(exc).__name__}"))
                await msg.ack()
            else:
                log.warning("backtest_attempt_failed", error=f"{type(exc).__name__}: {exc}")
                await msg.nak(delay=min(5.0, self._settings.backtest_ack_wait_s / 3))
            return
        finally:
            ticker.cancel()
            with contextlib.suppress(BaseException):
                await ticker
            self._running.pop(job.backtest_id, None)
        outcome.setdefault("timings", {})["run_s"] = time.perf_counter() - run_started
        await self._finish(job, attempt, outcome)
        await msg.ack()

    async def _run(self, doc: dict[str, Any], running: _Running) -> dict[str, Any]:
        def on_progress(value: Any) -> None:
            running.done, running.total = int(value[0]), int(value[1])

        spec = work.job_spec(doc)
        running.task = asyncio.ensure_future(
            self._pool.run(work.run_job, spec, timeout=self._settings.backtest_timeout_s, on_progress=on_progress)
        )
        if running.cancelled:  # the cancel arrived while the task was being made
            running.task.cancel()
        return await running.task

    async def _tick(self, msg: Msg, running: _Running) -> None:
        """Keep the message alive, store progress + heartbeat, publish progressed events."""
        period = min(self._settings.backtest_progress_interval_s, self._settings.backtest_ack_wait_s / 3)
        job = running.job
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(Exception):
                await msg.in_progress()
            changes: dict[str, Any] = {"heartbeat_at": now_iso()}
            moved = running.total and running.done != running.stored_done
            if moved:
                changes.update(bars_done=running.done, bars_total=running.total, progress=round(running.done / running.total, 4))
            try:
                doc = await self._store.touch(job.owner, job.backtest_id, changes, attempt=running.attempt)
            except Exception as exc:  # the store is down for a moment: the job goes on
                log.warning("backtest_progress_not_stored", error=str(exc))
                continue
            if doc is None:  # cancelled, or claimed by a newer attempt: stop this one
                running.cancelled = True
                if running.task is not None:
                    running.task.cancel()
                return
            if moved:
                running.stored_done = running.done
                await self._event(subjects.EVT_BACKTEST_PROGRESSED, doc, running.attempt)

    async def _finish(self, job: BacktestJob, attempt: int, outcome: dict[str, Any]) -> None:
        failure = outcome.get("error")
        if failure is not None:
            await self._fail(job, "running", attempt, msgspec.convert(failure, BacktestFailure),
                             extra={"bars_done": outcome.get("bars_done", 0), "bars_total": outcome.get("bars_total", 0),
                                    "source": outcome.get("source")})
            return
        write_started = time.perf_counter()
        if not outcome.get("written"):  # a worker that left writing to the service (kept for mixed versions)
            await self._store.write_results(job.owner, job.backtest_id, {
                EQUITY.name: outcome["equity_full"],
                TRADES.name: outcome["trades"],
                TRIGGERS.name: outcome["triggers"],
                MARKERS.name: outcome["markers"],
            })
        counts = {
            "trades_count": outcome["trades_count"] if "trades_count" in outcome else len(outcome["trades"]),
            "triggers_count": outcome["triggers_count"] if "triggers_count" in outcome else len(outcome["triggers"]),
            "markers_count": outcome["markers_count"] if "markers_count" in outcome else len(outcome["markers"]),
            "equity_points": outcome["equity_points"] if "equity_points" in outcome else len(outcome["equity_full"]),
        }
        changes = {
            **outcome["metrics"],
            "metrics": outcome["metrics_all"],
            "equity": outcome["equity"],
            "source": outcome["source"],
            "bars_done": outcome["bars_total"],
            "bars_total": outcome["bars_total"],
            "progress": 1.0,
            **counts,
            "finished_at": now_iso(),
        }
        doc = await self._store.move(job.owner, job.backtest_id, "running", "completed", changes, where={"attempts": attempt})
        if doc is None:  # cancelled at the last moment (or a newer attempt owns it): leave no result behind
            current = await self._store.get(job.owner, job.backtest_id)
            if current is not None and current["status"] == "cancelled":
                await self._store.delete_results(job.owner, job.backtest_id)
            return
        timings = {**outcome.get("timings", {}), "finish_s": time.perf_counter() - write_started}
        log.info("backtest_completed", attempt=attempt, bars=outcome["bars_total"], trades=counts["trades_count"],
                 **{name: round(value, 3) for name, value in timings.items()})
        await self._event(subjects.EVT_BACKTEST_COMPLETED, doc, attempt)

    async def _drop_partial_results(self, job: BacktestJob) -> None:
        """Chunks a killed worker may have left half-written (a redelivery would replace them anyway)."""
        try:
            await self._store.delete_results(job.owner, job.backtest_id)
        except Exception as exc:  # the store is down for a moment: they are unreachable (no completed record)
            log.warning("backtest_partial_results_not_deleted", error=str(exc))

    async def _fail(self, job: BacktestJob, current: str, attempt: int, failure: BacktestFailure, *,
                    where: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> bool:
        changes = {"error": msgspec.to_builtins(failure), "finished_at": now_iso(), **(extra or {})}
        doc = await self._store.move(job.owner, job.backtest_id, current, "failed", changes,
                                     where=where if where is not None else {"attempts": attempt})
        if doc is None:
            return False
        log.info("backtest_failed", kind=failure.kind, reason=failure.message)
        await self._event(subjects.EVT_BACKTEST_FAILED, doc, attempt)
        return True

    async def _event(self, subject: str, doc: dict[str, Any], attempt: int) -> None:
        ctx = RequestContext(request_id=doc.get("request_id") or uuid.uuid4().hex, owner=doc["owner"])
        await self._publish(subject, backtest_event(ctx, doc, attempt))

    # ---- cancel ------------------------------------------------------------------------------------

    async def _on_cancel_broadcast(self, msg: Msg) -> None:
        backtest_id = msg.data.decode(errors="replace")
        running = self._running.get(backtest_id)
        if running is not None:
            running.cancelled = True
            if running.task is not None:
                running.task.cancel()

    async def broadcast_cancel(self, backtest_id: str) -> None:
        await self._nc.publish(subjects.BACKTEST_CANCEL_BROADCAST, backtest_id.encode())

    # ---- jobs that ran out of deliveries, lost messages ------------------------------------------------

    async def _on_max_deliveries(self, msg: Msg) -> None:
        """The server gave up redelivering a job (its replica died on the last delivery)."""
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", self._settings.backtest_max_deliveries))
        except (ValueError, KeyError, TypeError):
            return
        try:
            job = await self._queue.message(seq)
            if job is None:
                return
            doc = await self._store.get(job.owner, job.backtest_id)
            if doc is not None and not is_terminal(doc["status"]):
                await self._fail(job, doc["status"], deliveries, _deliveries_failure(deliveries), where={"attempts": doc["attempts"]})
            await self._queue.remove(seq)
        except Exception as exc:  # the sweeper will see it again
            log.warning("backtest_advisory_not_handled", error=str(exc))

    async def _sweep_loop(self) -> None:
        while not self._stopping:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("backtest_sweep_failed", error=str(exc))
            await asyncio.sleep(self._settings.backtest_ack_wait_s)

    async def sweep(self) -> None:
        """Crash-only recovery of every unfinished job (safe on every replica at once: all moves are CAS)."""
        max_deliveries = self._settings.backtest_max_deliveries
        stale_s = 3 * self._settings.backtest_ack_wait_s
        for entry in await self._store.active():
            owner, backtest_id = entry["job_owner"], entry["id"]
            doc = await self._store.get(owner, backtest_id)
            if doc is None or is_terminal(doc["status"]):
                await self._store.forget_active(backtest_id)
                continue
            job = BacktestJob(backtest_id=backtest_id, owner=owner, request_id=doc.get("request_id") or "")
            seq = await self._queue.sequence(backtest_id)
            if seq is not None:
                # Queued or running with its message: JetStream hands it out. Only a job whose last
                # delivery died with no replica alive to hear the advisory is stuck: fail it.
                if (doc["status"] == "running" and doc["attempts"] >= max_deliveries
                        and _age_s(doc.get("heartbeat_at")) > stale_s and backtest_id not in self._running):
                    if await self._fail(job, "running", doc["attempts"], _deliveries_failure(doc["attempts"])):
                        await self._queue.remove(seq)
                continue
            if doc["status"] == "queued" and _age_s(doc.get("created_at")) < QUEUED_GRACE_S:
                continue  # its submit may still be publishing
            if backtest_id in self._running:
                continue
            current = await self._store.get(owner, backtest_id)  # it may have finished while we looked
            if current is None or is_terminal(current["status"]):
                continue
            if current["attempts"] >= max_deliveries:
                await self._fail(job, current["status"], current["attempts"], BacktestFailure(
                    kind="lost", message=f"the job's queue message was lost after {current['attempts']} attempts"),
                    where={"attempts": current["attempts"]})
                continue
            if current["status"] == "running":
                requeued = await self._store.move(owner, backtest_id, "running", "queued", {"replica": None},
                                                  where={"attempts": current["attempts"]})
                if requeued is None:
                    continue
            log.warning("backtest_requeued", backtest_id=backtest_id, attempts=current["attempts"])
            await self._queue.publish(job, f"{backtest_id}:r{current['attempts']}:{uuid.uuid4().hex[:6]}")


def _deliveries_failure(deliveries: int) -> BacktestFailure:
    return BacktestFailure(
        kind="deliveries",
        message=f"the job was started {deliveries} times and never finished (the backtester running it stopped each time)",
    )


def backtest_event(ctx: RequestContext, doc: dict[str, Any], attempt: int) -> BacktestEvent:
    error = doc.get("error")
    return BacktestEvent(
        **ctx.event_fields(),
        backtest_id=doc["id"],
        program_id=doc.get("program_id"),
        status=doc["status"],
        progress=float(doc.get("progress") or 0.0),
        bars_done=int(doc.get("bars_done") or 0),
        bars_total=int(doc.get("bars_total") or 0),
        attempt=attempt,
        error=msgspec.convert(error, BacktestFailure) if error else None,
    )
