"""`hyperoru up` refuses to start, with a clear message and exit code 2, when what it needs is taken —
before it starts anything (no nats-server, no service is left behind)."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ports import free_port
from tests.fault.platform import processes_mentioning

HYPERORU = str(Path(sys.executable).parent / "hyperoru")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def up(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in ("GATEWAY_PORT", "GATEWAY_HOST", "DATA_DIR")}
    return subprocess.run(
        [HYPERORU, "up", "--data-dir", str(data_dir), "--no-samples", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_busy_port_is_exit_code_2_with_the_port_named_and_nothing_started(tmp_path: Path, busy_port: int) -> None:
    result = up(tmp_path / "data", "--port", str(busy_port))
    assert result.returncode == 2
    assert f"port {busy_port}" in result.stderr and "already in use" in result.stderr
    assert "is up at" not in result.stdout
    assert not (tmp_path / "data" / "jetstream").exists()  # NATS never started
    assert processes_mentioning(str(tmp_path / "data")) == []


def test_gateway_port_comes_from_the_environment_too(tmp_path: Path, busy_port: int) -> None:
    result = up(tmp_path / "data", env={"GATEWAY_PORT": str(busy_port)})
    assert result.returncode == 2 and f"port {busy_port}" in result.stderr


def test_an_invalid_port_is_a_usage_error(tmp_path: Path) -> None:
    result = up(tmp_path / "data", env={"GATEWAY_PORT": "eighty"})
    assert result.returncode == 2 and "eighty" in result.stderr


def test_a_data_dir_in_use_is_exit_code_2(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with (data_dir / ".lock").open("w") as held:  # what a running `hyperoru up` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = up(data_dir, "--port", str(free_port()))
    assert result.returncode == 2
    assert "already using" in result.stderr and str(data_dir) in result.stderr
    assert not (data_dir / "jetstream").exists()


def test_make_up_passes_port_through() -> None:
    result = subprocess.run(["make", "-n", "up", "PORT=9123"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "hyperoru up --port 9123" in result.stdout
    plain = subprocess.run(["make", "-n", "up"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "hyperoru up" in plain.stdout and "--port" not in plain.stdout
