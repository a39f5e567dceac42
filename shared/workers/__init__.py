"""Process workers for untrusted or heavy work, so it never runs on a service's event loop.

    pool = WorkerPool("executor", size=2, memory_limit_bytes=1 << 30, initializer=work.init, initargs=(settings,))
    pool.start()
    result = await pool.run(work.test_run, request, timeout=5.0, on_progress=print)
    await pool.close()

`fn` runs in a worker process; inside it, `report_progress(value)` reaches that call's `on_progress`.
A call that exceeds `timeout` (counted from when a worker takes it) kills its worker and raises
`WorkTimeout`; a worker that dies (`RLIMIT_AS`, a signal, `MemoryError`) raises `WorkerCrashed`;
cancelling the awaiting task kills the worker. A fresh worker replaces every one that was killed.
Exceptions raised by `fn` are re-raised in the caller. See `pool.py` for why this is not pebble.
"""

from .pool import WorkerCrashed, WorkerPool, WorkTimeout, report_progress

__all__ = ["WorkTimeout", "WorkerCrashed", "WorkerPool", "report_progress"]
