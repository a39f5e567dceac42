"""A small process pool made for an asyncio service: hard timeouts, memory caps, crash-only workers.

Why not pebble (the library that does per-task timeouts): checked against pebble 5.2 and it falls
short on crash-only behaviour. When a worker dies while no task is running (killed from outside, or
an `initializer` that fails), pebble marks the whole pool broken and every later task fails until the
service restarts; its manager thread stops a timed-out worker with SIGTERM and waits up to seconds in
`join` while every other task's timeout goes unchecked; and progress would still need a side channel.
What we need is small: one pipe per worker, so a task's progress messages and its result arrive on
the pipe that belongs to it, and killing a worker can never touch another task.

How it works: every worker is a process from the `forkserver` context (a clean interpreter, never a
fork of a service with threads and sockets) that sets `RLIMIT_AS`, one BLAS thread and the
parent-death signal, runs the service's `initializer` once (building per-worker resources such as
market data or a compile cache), then serves calls from its pipe. Blocking pipe reads and process
start-ups run on a small thread pool, so the event loop only awaits. A worker that timed out, was
cancelled, crashed or ran out of memory is SIGKILLed and replaced; replacements that fail to start
back off instead of spinning, and callers are told (`WorkerCrashed`) rather than left waiting.

Warm workers: the module of every pool's `initializer` (a service's `work.py`) is preloaded by the
forkserver, once, when the first worker starts. Every worker is then forked with that module (numpy,
the language, the engine) already imported, so starting or replacing a worker costs a fork and the
initializer's own work, not seconds of imports, and a pool without an initializer (a compile-check
pool of the same service) gets those modules for free. Only `services.*` and `shared.*` modules are
preloaded (an import error there is ignored by the forkserver and paid by the worker as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import structlog

from shared import telemetry

log = structlog.get_logger()

T = TypeVar("T")

EXIT_OUT_OF_MEMORY = 70
"""Exit code of a worker whose task ran out of memory (its heap may be unusable afterwards)."""

THREAD_LIMITS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
"""One thread per worker for numeric libraries: the pool is the parallelism, and each BLAS thread
would reserve address space that `RLIMIT_AS` counts."""

WAIT_SLICE_S = 0.5
"""How often a caller waiting for a free worker looks whether the pool can start workers at all."""

MAX_RESPAWN_DELAY_S = 30.0

BUSY_RETRY_AFTER_S = 1
"""What a `WorkerBusy` answer suggests waiting before a retry (`details.retry_after_s`)."""

_PRELOAD: list[str] = ["shared.workers._forkserver"]
"""Modules the forkserver imports before it forks any worker (see "Warm workers" above)."""


def _preload(module: str) -> None:
    """Have the forkserver import `module` (effective if it has not started yet: the first pools of a
    service are built before any worker starts)."""
    if module in _PRELOAD or not module.startswith(("services.", "shared.")):
        return
    _PRELOAD.append(module)
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(_PRELOAD))


_LIFECYCLE = threading.Lock()
"""Serialises starting, polling and joining worker processes across all pools. With `forkserver` a
child's exit code is read once from a pipe, and `Process.start()` polls every child of the process:
two threads reading it at once make one of them see the pipe closed and invent exit code 255."""


class WorkTimeout(Exception):
    """The call ran longer than its timeout; its worker was killed."""


class WorkerCrashed(Exception):
    """The worker running the call died (out of memory, a signal), or no worker can be started."""


class WorkerBusy(Exception):
    """Every worker stayed busy for the call's whole `queue_timeout`: the call never ran (no worker
    was touched), so retrying shortly is safe. Services answer it as 503 `unavailable`."""

    def __init__(self, message: str, *, workers: int, waited_s: float, queued: int) -> None:
        super().__init__(message)
        self.workers = workers
        self.waited_s = waited_s
        self.queued = queued

    def details(self) -> dict[str, Any]:
        """The `details` of the 503 a service answers (`Unavailable(str(exc), details=exc.details())`)."""
        return {
            "reason": "workers_busy", "workers": self.workers, "queued": self.queued,
            "waited_s": self.waited_s, "retry_after_s": BUSY_RETRY_AFTER_S,
        }


# ---- inside a worker --------------------------------------------------------------------------------

_channel: Connection | None = None


def report_progress(value: Any) -> None:
    """Send `value` to the `on_progress` of the call running in this worker (outside a worker: ignored).

    Call it at a modest rate (e.g. every few hundred bars); each call is one pipe message."""
    if _channel is not None:
        _channel.send(("progress", value))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent (the forkserver) exits, which it does when
    the service that owns it dies: no worker outlives its service, even after a SIGKILL."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _sendable_error(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip means: send a plain copy
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _worker_main(
    conn: Connection,
    memory_limit_bytes: int,
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> None:
    global _channel
    os.environ.update(THREAD_LIMITS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the pool stops us
    _die_with_parent()
    if memory_limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    try:
        if initializer is not None:
            initializer(*initargs)
    except BaseException:  # noqa: BLE001 - reported to the pool, which backs off and retries
        conn.send(("init_failed", traceback.format_exc(limit=20)))
        return
    conn.send(("ready", os.getpid()))
    _channel = conn
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return  # the pool closed our pipe: stop
        except MemoryError:
            os._exit(EXIT_OUT_OF_MEMORY)
        except Exception as exc:  # noqa: BLE001 - e.g. the function's module cannot be imported here
            conn.send(("error", _sendable_error(exc)))
            continue
        conn.send(("started", None))
        try:
            result = fn(*args)
            conn.send(("ok", result))
        except MemoryError:
            os._exit(EXIT_OUT_OF_MEMORY)
        except BaseException as exc:  # noqa: BLE001 - every failure of fn goes back to the caller
            conn.send(("error", _sendable_error(exc)))


# ---- in the service ---------------------------------------------------------------------------------


class _PoolDefault:
    """Marks `run(queue_timeout=)` not given: the pool's own `queue_timeout` applies."""


_POOL_DEFAULT = _PoolDefault()


class _Worker:
    __slots__ = ("conn", "process", "reading")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.reading: asyncio.Future[Any] | None = None


class _Died(Exception):
    pass


def _receive(conn: Connection) -> tuple[str, Any]:
    try:
        return conn.recv()  # type: ignore[no-any-return]
    except (EOFError, OSError) as exc:
        raise _Died(str(exc) or type(exc).__name__) from None
    except Exception as exc:  # noqa: BLE001 - a reply that cannot be unpickled here
        return ("error", RuntimeError(f"the worker's reply could not be read: {type(exc).__name__}: {exc}"))


def _locked(action: Callable[[], T]) -> T:
    with _LIFECYCLE:
        return action()


def _exit_text(process: BaseProcess) -> str:
    code = _locked(lambda: process.exitcode)
    if code == EXIT_OUT_OF_MEMORY:
        return "the work ran out of memory"
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"the worker was killed by {signal.Signals(-code).name}"
    return f"the worker exited (code {code})"


class WorkerPool:
    """`size` worker processes, each capped at `memory_limit_bytes` of address space."""

    def __init__(
        self,
        name: str,
        *,
        size: int,
        memory_limit_bytes: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        queue_timeout: float | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.name = name
        self.size = size
        self.memory_limit_bytes = memory_limit_bytes
        self.kills = 0
        """Workers killed by the pool (timeouts and cancellations)."""
        self.crashes = 0
        """Workers that died by themselves during a call (out of memory, a signal)."""
        self.queue_timeout = queue_timeout
        """Default of `run(queue_timeout=)`: longest a call waits for a free worker (None: no limit;
        services pass `WORKER_QUEUE_TIMEOUT_S`)."""
        self.busy = 0
        """Calls refused with `WorkerBusy` so far (metrics)."""
        self._queued = 0
        telemetry.track_pool(self)  # kills and crashes reach /metrics (shared/telemetry.py)
        self._initializer = initializer
        self._initargs = initargs
        self._mp = multiprocessing.get_context("forkserver")
        if initializer is not None:
            _preload(getattr(initializer, "__module__", None) or "")
        self._threads = ThreadPoolExecutor(max_workers=2 * size + 2, thread_name_prefix=f"workers-{name}")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._failures = 0
        self._broken: str | None = None
        """Why the last worker could not start (cleared when one starts)."""

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers in the background (call from the service's event loop)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Queue()
        for _ in range(self.size):
            self._spawn_soon(0.0)

    async def close(self) -> None:
        """Stop every worker (calls in flight end with `WorkerCrashed`)."""
        self._closed = True
        telemetry.untrack_pool(self)  # a closed pool is no longer reported (shared/telemetry.py)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._reap(worker) for worker in list(self._workers)), return_exceptions=True)
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def ready(self) -> None:
        """Wait until every worker has started (tests and benchmarks; services need not wait)."""
        while self._idle is not None and self._idle.qsize() < self.size and not self._closed:
            if self._broken is not None:
                raise WorkerCrashed(self._broken)
            await asyncio.sleep(0.02)

    def _spawn_soon(self, delay: float) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._spawn(delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        parent, child = self._mp.Pipe(duplex=True)
        process = self._mp.Process(
            target=_worker_main,
            args=(child, self.memory_limit_bytes, self._initializer, self._initargs),
            name=f"{self.name}-worker",
            daemon=True,
        )
        worker = _Worker(process, parent)
        self._workers.add(worker)
        try:
            await loop.run_in_executor(self._threads, _locked, process.start)
            child.close()
            kind, value = await self._read(worker)
        except (_Died, OSError, RuntimeError) as exc:
            kind, value = "init_failed", f"{_exit_text(process) if process.pid else exc}"
        except asyncio.CancelledError:
            await self._reap(worker)
            raise
        if kind == "ready" and not self._closed:
            self._failures = 0
            self._broken = None
            assert self._idle is not None
            self._idle.put_nowait(worker)
            return
        await self._reap(worker)
        if self._closed:
            return
        self._failures += 1
        last_line = (str(value).strip().splitlines() or ["unknown error"])[-1]
        self._broken = f"no {self.name} worker could start: {last_line}"
        delay = min(0.1 * 2**self._failures, MAX_RESPAWN_DELAY_S)
        log.error("worker_start_failed", pool=self.name, retry_in_s=delay, error=str(value)[-2000:])
        self._spawn_soon(delay)

    async def _read(self, worker: _Worker) -> tuple[str, Any]:
        """The next message from a worker (the blocking read runs on a thread; a kill ends it)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, _receive, worker.conn)
        worker.reading = future
        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                worker.reading = None

    async def _reap(self, worker: _Worker) -> None:
        """SIGKILL a worker, wait for it and for any read of its pipe, then close the pipe."""
        self._workers.discard(worker)
        loop = asyncio.get_running_loop()
        process = worker.process
        if process.pid is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                process.kill()
            await loop.run_in_executor(None, _locked, process.join)
        if worker.reading is not None:
            with contextlib.suppress(BaseException):
                await worker.reading
        worker.conn.close()

    async def _discard(self, worker: _Worker) -> None:
        """Replace a worker that must not be used again."""
        if not self._closed:
            self._spawn_soon(0.0)
        await self._reap(worker)

    # ---- calls --------------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Calls waiting for a free worker right now (metrics)."""
        return self._queued

    async def _acquire(self, deadline: float | None) -> _Worker:
        """An idle, live worker; `WorkerBusy` when none frees up before `deadline` (loop time)."""
        if self._idle is None:
            raise RuntimeError(f"worker pool {self.name} is not started")
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise WorkerCrashed(f"the {self.name} worker pool is closed")
            wait = WAIT_SLICE_S if deadline is None else min(WAIT_SLICE_S, deadline - loop.time())
            try:
                if wait <= 0:  # out of time: take a worker only if one is free this instant
                    worker = self._idle.get_nowait()
                else:
                    worker = await asyncio.wait_for(self._idle.get(), wait)
            except (TimeoutError, asyncio.QueueEmpty):
                if self._broken is not None and self._idle.empty():
                    raise WorkerCrashed(self._broken) from None
                if deadline is not None and loop.time() >= deadline:
                    raise self._busy() from None
                continue
            if _locked(worker.process.is_alive):
                return worker
            self.crashes += 1  # died while idle (killed from outside): replace it, take another
            await self._discard(worker)

    def _busy(self) -> WorkerBusy:
        self.busy += 1
        workers = f"all {self.size} {self.name} workers are" if self.size > 1 else f"the one {self.name} worker is"
        return WorkerBusy(
            f"{workers} busy; retry shortly",
            workers=self.size, waited_s=0.0, queued=self._queued - 1,  # the others still waiting
        )

    async def _start_call(self, payload: bytes, queue_timeout: float | None) -> _Worker:
        """Hand the call to a worker that acknowledges it. A worker that dies before taking the call
        (killed while idle) never ran it, so the call goes to another worker. Waiting for a worker is
        bounded by `queue_timeout` (all attempts together)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = None if queue_timeout is None else started + queue_timeout
        for _attempt in range(self.size + 2):
            self._queued += 1
            try:
                worker = await self._acquire(deadline)
            except WorkerBusy as exc:
                exc.waited_s = round(loop.time() - started, 3)
                raise
            finally:
                self._queued -= 1
            try:
                await loop.run_in_executor(self._threads, worker.conn.send_bytes, payload)
                kind, value = await self._read(worker)
            except (_Died, OSError):
                self.crashes += 1
                await self._discard(worker)
                continue
            except BaseException:
                self.kills += 1
                await asyncio.shield(self._discard(worker))
                raise
            if kind == "started":
                return worker
            self._idle.put_nowait(worker)  # type: ignore[union-attr]  # the call could not be unpickled
            raise value
        raise WorkerCrashed(f"{self.name} workers keep dying before they take work")

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float,
        on_progress: Callable[[Any], None] | None = None,
        queue_timeout: float | None | _PoolDefault = _POOL_DEFAULT,
    ) -> T:
        """Run `fn(*args)` in a worker; `timeout` counts from when a worker takes the call. Waiting for
        a free worker first is bounded by `queue_timeout` (default: the pool's; None: no limit), after
        which the call fails with `WorkerBusy` without having run."""
        if isinstance(queue_timeout, _PoolDefault):
            queue_timeout = self.queue_timeout
        payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)  # errors here: the caller's
        worker = await self._start_call(payload, queue_timeout)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    kind, value = await self._read(worker)
                    if kind == "progress":
                        if on_progress is not None:
                            on_progress(value)
                        continue
                    break
        except TimeoutError:
            self.kills += 1
            await self._discard(worker)
            raise WorkTimeout(f"the work took longer than {timeout:g} s and was stopped") from None
        except _Died:
            self.crashes += 1
            await self._discard(worker)
            reason = _exit_text(worker.process)
            log.warning("worker_crashed", pool=self.name, reason=reason)
            raise WorkerCrashed(reason) from None
        except BaseException:  # cancelled (or on_progress failed): the worker may still be busy
            self.kills += 1
            await asyncio.shield(self._discard(worker))
            raise
        assert self._idle is not None
        self._idle.put_nowait(worker)
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    @property
    def workers(self) -> int:
        """Worker processes alive or starting."""
        return len(self._workers)
