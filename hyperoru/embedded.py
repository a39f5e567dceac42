"""`hyperoru up`: the whole platform on one machine, with nothing to configure.

It checks that the data dir and the gateway port are free (refusing before anything starts), starts a
real `nats-server` with JetStream under the data dir, every service as its own process (the
production shape, just on one machine), waits until `/readyz` says all answered, seeds sample
programs on a first start, and then supervises every child, `nats-server` included: one that dies is
started again (crash-only) after a back-off that grows while it keeps crashing and resets once it has
stayed up for `healthy_after_s`. NATS comes back on the same port with the same store, so services
reconnect to the URL they know and JetStream finds its streams.

Ctrl-C / SIGTERM stops the services first, then NATS, leaving no process behind. If this process
dies without stopping them (even by SIGKILL), the children get SIGTERM from the kernel
(PR_SET_PDEATHSIG) and a small watchdog process (`hyperoru.watchdog`) SIGKILLs whatever of the
platform is still there after a short grace, workers of services included.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from shared import subjects
from shared.natsserver import NatsServer, NatsServerError, tied_to_this_process

PROCESSES = (*subjects.SERVICES, "gateway")
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
HEALTHY_AFTER_S = 60.0
"""A child that stayed up this long is healthy again: its next crash restarts after the shortest delay."""
PLATFORM_TOKEN_ENV = "HYPERORU_PLATFORM"
"""Set in every child's environment (inherited by their workers): how the watchdog finds them all."""


NO_AUTH_NOTICE = (
    "*** AUTH_MODE=none: no authentication; every request acts as owner `local`. Anyone who can reach "
    "{host} can use it. For more than one machine set AUTH_MODE=token and make tokens with `hyperoru token create`. ***"
)


def local_auth_mode() -> str:
    """`hyperoru up` is single-user by default (`none`); an explicit AUTH_MODE wins."""
    return os.environ.get("AUTH_MODE") or "none"


class PlatformError(RuntimeError):
    pass


class StartRefused(PlatformError):
    """Something this start needs is taken (port, data dir): nothing was started."""


@dataclass(eq=False, kw_only=True)
class _Supervised:
    """One restartable child and its restart book-keeping."""

    restarts: int = 0  # consecutive restarts since it was last healthy: picks the back-off
    next_start: float = 0.0  # when a scheduled restart is due (0: none scheduled)
    started_at: float = 0.0
    if TYPE_CHECKING:
        name: str  # each kind declares it (a dataclass field here would come before theirs)

    @property
    def pid(self) -> int | None:
        raise NotImplementedError

    def launch(self) -> None:
        raise NotImplementedError

    def exit_code(self) -> int | None:
        raise NotImplementedError

    def start(self, now: float) -> None:
        self.started_at = now
        self.launch()

    def reap_group(self) -> None:
        """A dead child's process group may still hold its workers: they go with it."""
        pid = self.pid
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@dataclass(eq=False, kw_only=True)
class _Child(_Supervised):
    """A Python process (`python -m services.<name>` by default) in its own process group."""

    name: str
    env: dict[str, str]
    log_sink: int | IO[bytes] | None = None
    command: list[str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def launch(self) -> None:
        # Own process group: Ctrl-C reaches only the supervisor, which then stops services before NATS.
        self.process = subprocess.Popen(
            self.command or [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            stdout=self.log_sink,
            preexec_fn=tied_to_this_process(),
            process_group=0,
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


@dataclass(eq=False, kw_only=True)
class _Nats(_Supervised):
    server: NatsServer
    name: str = "nats-server"

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def launch(self) -> None:
        self.server.start()

    def exit_code(self) -> int | None:
        return self.server.exit_code()


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Bind the port the way a server would (SO_REUSEADDR, as aiohttp and nats-server do) and let go."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = "is already in use (another `hyperoru up`?)"
            else:
                reason = f"cannot be used: {exc.strerror}"
            raise StartRefused(
                f"{what} port {port} on {host} {reason}; pick another with --port, GATEWAY_PORT=… or `make up PORT=…`"
                if what == "gateway"
                else f"{what} port {port} on {host} {reason}; pick another with --nats-port"
            ) from None


@dataclass
class Platform:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    nats_port: int = 0
    say: Callable[[str], None] = print
    log_sink: int | None = None  # where services' log lines go (None: this process's stdout)
    healthy_after_s: float = HEALTHY_AFTER_S
    watchdog_grace_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    children: list[_Child] = field(default_factory=list)
    nats: NatsServer | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    _nats_unit: _Nats | None = None
    _watchdog: subprocess.Popen[bytes] | None = None
    _lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def units(self) -> list[_Supervised]:
        """Everything supervised, NATS first (a restarted service needs it)."""
        return [*([self._nats_unit] if self._nats_unit else []), *self.children]

    def start(self, ready_timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        ensure_port_free(self.host, self.port, "gateway")
        if self.nats_port:
            ensure_port_free("127.0.0.1", self.nats_port, "NATS")
        self._start_watchdog()
        self.nats = NatsServer(
            self.data_dir / "jetstream",
            port=self.nats_port,
            log_file=self.data_dir / "nats-server.log",
            env={**os.environ, PLATFORM_TOKEN_ENV: self.token},
        )
        self._nats_unit = _Nats(server=self.nats)
        self._nats_unit.start(self.clock())
        from shared.market.factory import shared_clock_anchor  # live-followups: one market clock for every child

        env = {
            **os.environ,
            **shared_clock_anchor(self.data_dir),  # MARKET_CLOCK_ANCHOR, kept in the data dir across restarts
            "NATS_URL": self.nats.url,
            "DATA_DIR": str(self.data_dir),
            "GATEWAY_HOST": self.host,
            "GATEWAY_PORT": str(self.port),
            "AUTH_MODE": local_auth_mode(),  # one local user unless AUTH_MODE says otherwise (api-security)
            PLATFORM_TOKEN_ENV: self.token,
        }
        self.children = [_Child(name=name, env=env, log_sink=self.log_sink) for name in PROCESSES]
        for child in self.children:
            child.start(self.clock())
        self._wait_ready(ready_timeout)

    def _lock_data_dir(self) -> None:
        """Two platforms on one data dir would corrupt each other's view of it; refuse the second."""
        self._lock = (self.data_dir / ".lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StartRefused(f"another `hyperoru up` is already using {self.data_dir}; stop it or pick another --data-dir") from None

    def _start_watchdog(self) -> None:
        """Outlives us on purpose (own session, no parent-death signal): it cleans up if we die unstopped."""
        env = {key: value for key, value in os.environ.items() if key != PLATFORM_TOKEN_ENV}
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "hyperoru.watchdog", str(os.getpid()), self.token, str(self.watchdog_grace_s)],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for unit in self.units:
                code = unit.exit_code()
                if code is not None:
                    raise PlatformError(f"{unit.name} exited during start-up (code {code})")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise PlatformError(f"the platform was not ready within {timeout:g} s")

    def supervise_once(self, now: float | None = None) -> None:
        """Restart whatever died, NATS included, with a back-off that grows while it keeps crashing
        and resets once it has been up for `healthy_after_s`."""
        now = self.clock() if now is None else now
        for unit in self.units:
            code = unit.exit_code()
            if code is None:
                if unit.restarts and now - unit.started_at >= self.healthy_after_s:
                    unit.restarts = 0
                continue
            if unit.next_start == 0.0:
                unit.reap_group()
                delay = RESTART_BACKOFF_S[min(unit.restarts, len(RESTART_BACKOFF_S) - 1)]
                unit.next_start = now + delay
                self.say(f"{unit.name} exited with code {code}; restarting in {delay:g} s")
            elif now >= unit.next_start:
                unit.restarts += 1
                unit.next_start = 0.0
                try:
                    unit.start(now)
                except (NatsServerError, OSError) as exc:  # tried again after the next back-off
                    self.say(f"{unit.name} did not start: {exc}")
                else:
                    self.say(f"{unit.name} restarted (pid {unit.pid})")

    def stop(self, timeout: float = 15.0) -> None:
        """Services first (they drain in-flight requests on SIGTERM), NATS last, then the watchdog."""
        running = [child for child in self.children if child.exit_code() is None and child.process is not None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for child in running:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {timeout:g} s; killing it")
        for child in self.children:
            child.reap_group()
            if child.process is not None:
                child.process.wait()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
        self._nats_unit = None
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait()
            self._watchdog = None


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
        if local_auth_mode() == "none":
            platform.say(NO_AUTH_NOTICE.format(host=platform.host))
        while not stopping:
            platform.supervise_once()
            time.sleep(0.25)
        platform.say("stopping…")
    finally:
        platform.stop()
