"""JetStream work queues: the stream (and durable consumer) behind backtest jobs and live runs.

Both queues are the same kind of thing: a file-backed stream with work-queue retention (an acked or
terminated message is gone, so a message is one piece of work still to do), a duplicate window that
makes a publish retried with the same `Nats-Msg-Id` a no-op, and one durable pull consumer shared by
every replica. Every replica calls `ensure_*` at start-up and after a reconnect: creating what exists
is a no-op, and a stream or consumer that exists with another configuration (made by an older or newer
replica) is kept as it is rather than fought over.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig


async def ensure_work_queue(
    js: JetStreamContext, name: str, subject: str, *, duplicate_window_s: float, max_age_s: float | None = None
) -> None:
    """Create the work-queue stream `name` over `subject` if it is missing."""
    config = StreamConfig(
        name=name,
        subjects=[subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=duplicate_window_s,
        max_age=max_age_s,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.stream_info(name)  # exists with another config: keep it (raises if it is really missing)


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create the durable consumer `config.durable_name` on `stream` if it is missing."""
    try:
        await js.add_consumer(stream, config)
    except nats.js.errors.BadRequestError:
        await js.consumer_info(stream, config.durable_name)  # another replica made it differently: use it
