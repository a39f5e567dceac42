"""The JetStream side of backtest jobs: the work-queue stream, its one durable pull consumer, and
looking up / removing one job's message (the stream and consumer are made by `shared.jobs.workqueue`,
like the live run queue's).

One subject per job (`backtester.jobs.<bt-id>`), so whether a job still has a message is one
`get_last_msg` away (crash-only start-up needs that). `Nats-Msg-Id` makes a publish retried within
the duplicate window a no-op. Work-queue retention: an acked (or terminated) message is gone.
"""

from __future__ import annotations

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import subjects
from shared.jobs.workqueue import ensure_consumer, ensure_work_queue
from shared.messages.backtests import BacktestJob
from shared.settings import Settings

_encode = msgspec.json.Encoder().encode
DUPLICATE_WINDOW_S = 120.0
JOB_MAX_AGE_S = 7 * 24 * 3600.0
"""A job nobody ran for a week is dropped by the stream (the sweeper fails its record as lost)."""


class JobQueue:
    def __init__(self, js: JetStreamContext, settings: Settings) -> None:
        self.js = js
        self._settings = settings
        self.stream = subjects.BACKTEST_JOBS_STREAM
        self.consumer = subjects.BACKTEST_JOBS_CONSUMER

    async def ensure(self) -> None:
        """Create the stream and the consumer if missing (every replica calls this: idempotent)."""
        await ensure_work_queue(
            self.js, self.stream, subjects.BACKTEST_JOBS_ALL, duplicate_window_s=DUPLICATE_WINDOW_S, max_age_s=JOB_MAX_AGE_S
        )
        consumer = ConsumerConfig(
            durable_name=self.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._settings.backtest_ack_wait_s,
            max_deliver=self._settings.backtest_max_deliveries,
            max_ack_pending=10_000,
        )
        await ensure_consumer(self.js, self.stream, consumer)

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        return await self.js.pull_subscribe_bind(durable=self.consumer, stream=self.stream)

    async def publish(self, job: BacktestJob, msg_id: str) -> None:
        """Returns once JetStream stored the message (its ack); raises otherwise."""
        await self.js.publish(subjects.backtest_job(job.backtest_id), _encode(job), headers={"Nats-Msg-Id": msg_id})

    async def sequence(self, backtest_id: str) -> int | None:
        """The stream sequence of the job's message, or None when it has none (acked, lost)."""
        try:
            msg = await self.js.get_last_msg(self.stream, subjects.backtest_job(backtest_id))
        except nats.js.errors.NotFoundError:
            return None
        return msg.seq

    async def message(self, seq: int) -> BacktestJob | None:
        try:
            raw = await self.js.get_msg(self.stream, seq)
        except nats.js.errors.NotFoundError:
            return None
        try:
            return msgspec.json.decode(raw.data or b"", type=BacktestJob)
        except msgspec.DecodeError:
            return None

    async def remove(self, seq: int) -> None:
        try:
            await self.js.delete_msg(self.stream, seq)
        except nats.js.errors.NotFoundError:
            pass
