"""`python -m hyperoru.watchdog SUPERVISOR_PID TOKEN GRACE_S`: stops a platform whose supervisor died.

`hyperoru up` starts one of these in its own session, on purpose without a parent-death signal. It
waits for the supervisor to exit. A supervisor that stops normally has already stopped its children
and then stops the watchdog. One that died unstopped (SIGKILL, OOM) leaves children behind: the
kernel already sent them SIGTERM (PR_SET_PDEATHSIG), but a service draining against a NATS that is
gone too could take its time, and the workers of a service have no such signal. So the watchdog finds
every process whose environment carries the platform's token (services, their workers, anything
they started), sends SIGTERM, and SIGKILLs what is left after `GRACE_S` seconds.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

from hyperoru.embedded import PLATFORM_TOKEN_ENV


def wait_for_exit(pid: int) -> None:
    """Block until process `pid` is gone (a pidfd when the kernel has them, else polling)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(0.2)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def platform_processes(token: str) -> list[int]:
    """Live processes whose environment names this platform (zombies have none and are left alone)."""
    needle = f"{PLATFORM_TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_all(token: str, grace_s: float) -> None:
    for pid in platform_processes(token):
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and platform_processes(token):
        time.sleep(0.1)
    for pid in platform_processes(token):
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> None:
    supervisor, token, grace_s = int(argv[0]), argv[1], float(argv[2])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # the supervisor stopped normally
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wait_for_exit(supervisor)
    stop_all(token, grace_s)


if __name__ == "__main__":
    main(sys.argv[1:])
