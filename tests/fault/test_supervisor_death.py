"""`hyperoru up` SIGKILLed (nothing of it runs a clean stop): every process of the platform —
services, their workers, nats-server — is gone within a few seconds, and the data dir can be
used by the next `hyperoru up` at once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.fault.platform import alive, start_up, wait_until

GONE_WITHIN_S = 10.0  # parent-death signal at once, the watchdog's SIGKILL after its 2 s grace


def test_killed_supervisor_leaves_no_process_behind(tmp_path: Path) -> None:
    platform = start_up(tmp_path / "data")
    try:
        platform.wait_ready()
        children = platform.children()
        assert {"registry", "executor", "backtester", "ai", "gateway", "nats-server", "watchdog"} <= set(children)
        pids = set(platform.platform_pids()) | set(children.values())
        pids.discard(platform.process.pid)

        os.kill(platform.process.pid, signal.SIGKILL)
        platform.process.wait()
        killed_at = time.monotonic()
        wait_until(lambda: not any(alive(pid) for pid in pids), GONE_WITHIN_S, f"every child of {sorted(pids)} gone")
        gone_after_s = time.monotonic() - killed_at
        assert platform.platform_pids() == []
        print(f"all {len(pids)} processes gone {gone_after_s:.2f} s after the supervisor's SIGKILL")

        again = start_up(tmp_path / "data")  # lock and ports were released with the processes
        again.wait_ready()
        again.stop()
    finally:
        platform.stop()
