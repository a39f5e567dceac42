"""Shared fixtures of the fault suite: a real `hyperoru up` process tree, and ways to hurt it.

Every fault test in `tests/fault/` (supervision here; backtester kill, executor kill and others add
their own modules) starts the platform the way a user does — `hyperoru up` as a subprocess, on free
ports and a temporary data dir — and then kills, floods or starves a part of it. Use:

- `start_up(data_dir)` → `UpPlatform` (ready, or the start failed with its log in the message), and
  `platform.stop()`; or the `up_platform` fixture (one platform per test module, re-exported by
  `tests/fault/conftest.py`, so just name it as a test argument). A test that breaks the platform
  for good (kills the supervisor) starts its own with `start_up`.
- `platform.children()` → {name: pid} of the supervisor's direct children: `registry`, `executor`,
  `backtester`, `ai`, `gateway`, `nats-server`, `watchdog`; `platform.kill_child(name)` (SIGKILL)
  returns the old pid, `platform.wait_restarted(name, old_pid)` the new one.
- `platform.wait_ready()` waits for `/readyz` 200; `platform.call(method, path, body)` → (status,
  JSON) with a plain HTTP client (no event loop needed); `platform.platform_pids()` every process of
  this platform (services' workers included: they inherit `DATA_DIR`).

Every wait has a bound; a failing test still stops (and if need be SIGKILLs) everything it started.
Tests here are marked `fault` automatically (conftest) and run in `make test`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.ports import free_port

READY_TIMEOUT_S = 90.0
HEAL_TIMEOUT_S = 30.0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line (nats-server's store dir) or environment (services' and their
    workers' DATA_DIR) names `text`. Zombies have neither and do not count: they are dead."""
    needle = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            if needle in _read(entry / "cmdline") + _read(entry / "environ"):
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return False
    state = stat.rsplit(b")", 1)[1].split()[0]
    return state not in (b"Z", b"X")


def _child_name(cmdline: list[str]) -> str:
    if "-m" in cmdline:
        module = cmdline[cmdline.index("-m") + 1]
        return {"hyperoru.watchdog": "watchdog"}.get(module, module.removeprefix("services."))
    return Path(cmdline[0]).name if cmdline else "?"


def children_of(parent: int) -> dict[str, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat")
        if not stat:
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] not in (b"Z", b"X"):
            cmdline = [part.decode() for part in _read(entry / "cmdline").split(b"\0") if part]
            found[_child_name(cmdline)] = int(entry.name)
    return found


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


@dataclass
class UpPlatform:
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    nats_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        return status, json.loads(payload) if payload else None

    def ready(self) -> bool:
        try:
            return self.call("GET", "/readyz")[0] == 200
        except (OSError, ValueError):
            return False

    def wait_ready(self, timeout: float = HEAL_TIMEOUT_S) -> None:
        wait_until(self.ready, timeout, f"/readyz 200 at {self.url}", interval=0.2)

    def children(self) -> dict[str, int]:
        return children_of(self.process.pid)

    def kill_child(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.children()[name]
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: float = HEAL_TIMEOUT_S) -> int:
        def new_pid() -> int | None:
            pid = self.children().get(name)
            return pid if pid is not None and pid != old_pid else None

        return int(wait_until(new_pid, timeout, f"{name} restarted"))

    def platform_pids(self) -> list[int]:
        return processes_mentioning(str(self.data_dir))

    def stop(self) -> None:
        """SIGTERM and wait; whatever is left after that (a test that failed half-way) is SIGKILLed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.platform_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_up(data_dir: Path, *, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> UpPlatform:
    """`hyperoru up --no-samples` on free ports, its output in `<data_dir>.log`; returns once it said it is up."""
    port, nats_port = free_port(), free_port()
    log_path = data_dir.with_name(data_dir.name + ".log")
    hyperoru = Path(sys.executable).parent / "hyperoru"
    command = [str(hyperoru), "up", "--port", str(port), "--nats-port", str(nats_port), "--data-dir", str(data_dir), "--no-samples", *args]
    base = {key: value for key, value in os.environ.items() if key not in ("GATEWAY_PORT", "DATA_DIR", "NATS_URL")}
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env={**base, "LOG_FORMAT": "json", "LOG_LEVEL": "warning", **(env or {})}
        )
    platform = UpPlatform(process, data_dir, port, nats_port, log_path)
    try:
        wait_until(lambda: "is up at" in platform.log() or process.poll() is not None, READY_TIMEOUT_S, "hyperoru up started")
        if process.poll() is not None:
            raise AssertionError(f"hyperoru up exited with {process.returncode}:\n{platform.log()[-3000:]}")
    except BaseException:
        platform.stop()
        raise
    return platform


@pytest.fixture(scope="module")
def up_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpPlatform]:
    """One `hyperoru up` for a test module; tests leave it healthy (or heal it) for the next."""
    platform = start_up(tmp_path_factory.mktemp("up") / "data")
    try:
        yield platform
    finally:
        platform.stop()
