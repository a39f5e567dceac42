"""`hyperoru up` as a user runs it: a real process tree that starts, answers, stops and leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.ports import free_port



def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line (nats-server's store dir) or environment (services' DATA_DIR) names `text`."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in seen:
                found.append(int(entry.name))
    return found


def get_json(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    hyperoru = Path(sys.executable).parent / "hyperoru"
    return subprocess.Popen(
        [str(hyperoru), "up", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LOG_FORMAT": "json"},
    )


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            raise AssertionError(f"hyperoru up exited with {process.returncode}")
    raise AssertionError(f"no line with {text!r} within {timeout} s")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


def test_up_serves_ready_then_stops_leaving_no_process_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "platform"
    port = free_port()
    process = start(data_dir, port)
    try:
        wait_for_line(process, "is up at")
        status, body = get_json(f"http://127.0.0.1:{port}/readyz")
        assert status == 200 and body["status"] == "ready"
        status, programs = get_json(f"http://127.0.0.1:{port}/api/programs/")
        assert status == 200 and "Grid Bot" in [p["name"] for p in programs]  # sample data on first start
        first_ids = sorted(p["id"] for p in programs)
    finally:
        stop(process)
    assert process.returncode == 0
    assert processes_mentioning(str(data_dir)) == []  # no orphan nats-server or service

    second = start(data_dir, port)
    try:
        wait_for_line(second, "is up at")
        status, programs = get_json(f"http://127.0.0.1:{port}/api/programs/")
        assert sorted(p["id"] for p in programs) == first_ids  # the first run's data, and no second seeding
    finally:
        stop(second)
    assert processes_mentioning(str(data_dir)) == []
