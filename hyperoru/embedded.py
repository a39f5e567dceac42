"""`hyperoru up`: the whole platform on one machine, with nothing to configure.

It starts a real `nats-server` with JetStream under the data dir, every service as its own process
(the production shape, just on one machine), waits until `/readyz` says all answered, seeds sample
programs on a first start, and then supervises: a service that dies is started again (crash-only),
and Ctrl-C / SIGTERM stops the services first, then NATS, leaving no process behind. Children are
also tied to this process's life (PR_SET_PDEATHSIG), so even a SIGKILL here orphans nothing.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared import subjects
from shared.natsserver import NatsServer, die_with_parent

PROCESSES = (*subjects.SERVICES, "gateway")
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class PlatformError(RuntimeError):
    pass


@dataclass
class _Child:
    name: str
    env: dict[str, str]
    log_sink: int | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        # Own process group: Ctrl-C reaches only the supervisor, which then stops services before NATS.
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            stdout=self.log_sink,
            preexec_fn=die_with_parent,
            process_group=0,
        )

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()


@dataclass
class Platform:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    nats_port: int = 0
    say: Callable[[str], None] = print
    log_sink: int | None = None  # where services' log lines go (None: this process's stdout)
    children: list[_Child] = field(default_factory=list)
    nats: NatsServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        self.nats = NatsServer(self.data_dir / "jetstream", port=self.nats_port, log_file=self.data_dir / "nats-server.log").start()
        env = {
            **os.environ,
            "NATS_URL": self.nats.url,
            "DATA_DIR": str(self.data_dir),
            "GATEWAY_HOST": self.host,
            "GATEWAY_PORT": str(self.port),
        }
        self.children = [_Child(name, env, self.log_sink) for name in PROCESSES]
        for child in self.children:
            child.start()
        self._wait_ready(ready_timeout)

    def _lock_data_dir(self) -> None:
        """Two platforms on one data dir would corrupt each other's view of it; refuse the second."""
        self._lock = (self.data_dir / ".lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlatformError(f"another `hyperoru up` is already using {self.data_dir}") from None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in self.children:
                if child.exited() is not None:
                    raise PlatformError(f"service {child.name} exited during start-up (code {child.exited()})")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise PlatformError(f"the platform was not ready within {timeout:g} s")

    def supervise_once(self) -> None:
        """Restart any service that died, with growing back-off so a crash loop does not spin."""
        now = time.monotonic()
        for child in self.children:
            code = child.exited()
            if code is None:
                continue
            if child.next_start == 0.0:
                delay = RESTART_BACKOFF_S[min(child.restarts, len(RESTART_BACKOFF_S) - 1)]
                child.next_start = now + delay
                self.say(f"service {child.name} exited with code {code}; restarting in {delay:g} s")
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Services first (they drain in-flight requests on SIGTERM), NATS last."""
        running = [child.process for child in self.children if child.process is not None and child.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None


def run_until_signalled(platform: Platform, on_ready: Callable[[Platform], None] | None = None) -> None:
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        platform.start()
        if on_ready is not None:
            on_ready(platform)
        platform.say(f"Hyperoru Programs is up at {platform.url}  (NATS {platform.nats.url if platform.nats else '?'}; Ctrl-C stops)")
        while not stopping:
            platform.supervise_once()
            time.sleep(0.25)
        platform.say("stopping…")
    finally:
        platform.stop()
