"""Functions the worker-pool tests run inside workers (module level, so workers can import them)."""

from __future__ import annotations

import os
import time

from shared.workers import report_progress

_initialized: list[str] = []


def init(tag: str) -> None:
    _initialized.append(tag)


def init_fails() -> None:
    raise RuntimeError("this initializer always fails")


def whoami() -> tuple[int, list[str], str | None]:
    return os.getpid(), list(_initialized), os.environ.get("OPENBLAS_NUM_THREADS")


def add(a: int, b: int) -> int:
    return a + b


def spin(seconds: float) -> int:
    """Busy for `seconds` (CPU, not sleep: a timeout must stop work that never yields)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return os.getpid()


def hog(megabytes: int) -> int:
    """Allocate and touch `megabytes` of memory."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


class Refused(ValueError):
    def __init__(self, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.details = details


def fail(message: str) -> None:
    raise Refused(message, {"field": "x"})


class Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # needs two arguments: does not survive pickling
        super().__init__(f"{a}/{b}")


def fail_odd() -> None:
    raise Odd(1, 2)


def progress(count: int) -> str:
    for i in range(count):
        report_progress({"done": i + 1, "of": count})
    return "finished"


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def pid() -> int:
    return os.getpid()


def spin_reporting(seconds: float) -> int:
    """Report this worker's pid, then spin (lets a test find the busy worker)."""
    report_progress(os.getpid())
    return spin(seconds)


def hold(gate: str, limit_s: float = 120.0) -> int:
    """Keep this worker busy until the file `gate` exists (a test opens it), then return the pid.
    Lets a test hold every worker for exactly as long as it needs, without guessing durations."""
    end = time.monotonic() + limit_s
    while not os.path.exists(gate) and time.monotonic() < end:
        time.sleep(0.01)
    return os.getpid()
