"""Process workers for untrusted or heavy work, so it never runs on a service's event loop.

    pool = WorkerPool("executor", size=2, memory_limit_bytes=1 << 30, initializer=work.init, initargs=(settings,))
    pool.start()
    result = await pool.run(work.test_run, request, timeout=5.0, on_progress=print)
    await pool.close()

`fn` runs in a worker process; inside it, `report_progress(value)` reaches that call's `on_progress`.
A call that exceeds `timeout` (counted from when a worker takes it) kills its worker and raises
`WorkTimeout`; a worker that dies (`RLIMIT_AS`, a signal, `MemoryError`) raises `WorkerCrashed`;
cancelling the awaiting task kills the worker. A fresh worker replaces every one that was killed.
Waiting for a free worker is bounded too: after `queue_timeout` (per call, or the pool's default,
`WORKER_QUEUE_TIMEOUT_S` in the services) the call fails with `WorkerBusy` without having run, so a
burst beyond capacity is answered as a clear 503 instead of queueing until the gateway's 504.
Exceptions raised by `fn` are re-raised in the caller. See `pool.py` for why this is not pebble.
"""

from .pool import WorkerBusy, WorkerCrashed, WorkerPool, WorkTimeout, report_progress

__all__ = ["WorkTimeout", "WorkerBusy", "WorkerCrashed", "WorkerPool", "report_progress"]
