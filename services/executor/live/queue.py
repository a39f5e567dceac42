"""The run work-queue: a JetStream work-queue stream that any executor replica takes runs from.

- Enqueue: one message per (binding, trigger) with `Nats-Msg-Id` = `<binding id>:<trigger id>`, so
  the same trigger seen twice (two replicas' clocks, a clock that restarted and looked at the same
  close again) is dropped by the server inside the duplicate window; past the window the ledger's run
  key refuses it (see `runs.py`).
- Consume: one durable pull consumer shared by every replica (work-queue retention: a message goes to
  one of them), explicit ack after the run is committed and applied. A replica killed mid-run never
  acks: after `ack_wait` the message is redelivered to a replica that is alive. A run that fails for
  a platform reason (store or registry unreachable) is nak'ed with a delay and retried.
- NATS restarts: the stream is file-backed; the loop re-binds and goes on (crash-only).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from shared import subjects
from shared.jobs.workqueue import ensure_work_queue
from shared.messages.live import RunOrder

log = structlog.get_logger()

DUPLICATE_WINDOW_S = 15 * 60.0
ACK_WAIT_S = 30.0
RETRY_DELAY_S = 1.0
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RunOrder)


def message_id(order: RunOrder) -> str:
    return f"{order.binding_id}:{order.trigger.id}"


async def ensure_stream(js: JetStreamContext) -> None:
    await ensure_work_queue(js, subjects.LIVE_RUNS_STREAM, subjects.LIVE_RUNS_ALL, duplicate_window_s=DUPLICATE_WINDOW_S)


class RunQueue:
    """Publishes run messages; the consumer side is `consume`."""

    def __init__(self, nats: Callable[[], Client], *, ack_wait_s: float = ACK_WAIT_S) -> None:
        self._nats = nats
        self._ack_wait = ack_wait_s

    @property
    def _js(self) -> JetStreamContext:
        return self._nats().jetstream()  # the current client: it is replaced if it ever closes

    async def setup(self) -> None:
        await ensure_stream(self._js)

    async def enqueue(self, order: RunOrder, account_id: int) -> bool:
        """Publish one run; False when the server already had this (binding, trigger)."""
        ack = await self._js.publish(
            subjects.live_run(account_id), _encoder.encode(order), headers={"Nats-Msg-Id": message_id(order)}
        )
        return not ack.duplicate

    async def consume(
        self,
        handle: Callable[[RunOrder], Awaitable[object]],
        *,
        concurrency: int = 8,
        stopping: asyncio.Event,
    ) -> None:
        """Take runs until `stopping` is set; at most `concurrency` in flight in this replica."""
        slots = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()
        sub = None
        while not stopping.is_set():
            try:
                if sub is None:
                    await ensure_stream(self._js)
                    sub = await self._js.pull_subscribe(
                        subjects.LIVE_RUNS_ALL,
                        durable=subjects.LIVE_RUNS_CONSUMER,
                        stream=subjects.LIVE_RUNS_STREAM,
                        config=ConsumerConfig(
                            ack_policy=AckPolicy.EXPLICIT, ack_wait=self._ack_wait, max_ack_pending=10_000, max_deliver=-1
                        ),
                    )
                free = concurrency - len(tasks)
                if free <= 0:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs = await sub.fetch(batch=free, timeout=1.0)
                except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either when nothing came
                    continue
                for msg in msgs:
                    await slots.acquire()
                    task = asyncio.create_task(self._one(msg, handle, slots))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or restarting: back off, re-bind, go on
                log.warning("run_queue_error", error=str(exc) or type(exc).__name__)
                with contextlib.suppress(Exception):
                    if sub is not None:
                        await sub.unsubscribe()
                sub = None
                await asyncio.sleep(RETRY_DELAY_S)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _one(self, msg: Msg, handle: Callable[[RunOrder], Awaitable[object]], slots: asyncio.Semaphore) -> None:
        try:
            try:
                order = _decoder.decode(msg.data)
            except msgspec.ValidationError as exc:  # a message we cannot read will never become readable
                log.error("run_message_invalid", error=str(exc))
                await msg.term()
                return
            try:
                await handle(order)
            except Exception as exc:
                log.warning("run_retry", binding_id=order.binding_id, trigger=order.trigger.id, error=str(exc) or type(exc).__name__)
                with contextlib.suppress(Exception):
                    await msg.nak(delay=RETRY_DELAY_S)
                return
            with contextlib.suppress(Exception):  # a lost ack means a redelivery, which the ledger absorbs
                await msg.ack()
        finally:
            slots.release()
