"""Kill the backtester (SIGKILL) in the middle of a job: the supervisor restarts it, JetStream hands the
job out again, and the job completes once — one record, one completed event, the same result as a run
that was never interrupted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from shared import subjects
from shared.messages.backtests import BacktestEvent
from tests.fault.platform import UpPlatform, alive, start_up, wait_until

# Trades on an SMA crossover, and burns steps on every bar so that the job runs for seconds.
PROGRAM = """
fn run(ctx) {
    let x = 0;
    for i in 0..400 { x += i; }
    let fast = ctx.sma(10);
    let slow = ctx.sma(30);
    if is_null(fast) || is_null(slow) { return; }
    let above = fast > slow;
    let prev = ctx.state.get("above", null);
    if prev != null && above != prev {
        if above { ctx.buy(ctx.symbol, 0.05, "up"); } else { ctx.close(ctx.symbol, "down"); }
    }
    ctx.state.above = above;
}
"""
JOB = {"symbol": "BTC", "timeframe": "1m", "start_date": "2024-02-01", "end_date": "2024-02-08"}
DONE_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpPlatform]:
    env = {"BACKTEST_ACK_WAIT_S": "3", "BACKTEST_PROGRESS_INTERVAL_S": "0.2", "BACKTEST_WORKERS": "1"}
    running = start_up(tmp_path_factory.mktemp("btkill") / "data", env=env)
    try:
        running.wait_ready(90)
        yield running
    finally:
        running.stop()


def record(platform: UpPlatform, backtest_id: str) -> dict[str, Any]:
    status, body = platform.call("GET", f"/api/programs/backtest/{backtest_id}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def wait_done(platform: UpPlatform, backtest_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        status, body = platform.call("GET", f"/api/programs/backtest/{backtest_id}")
        if status == 503:  # the restarted backtester is not serving yet
            return None
        assert status == 200, body
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    return wait_until(finished, DONE_TIMEOUT_S, f"backtest {backtest_id} finished", interval=0.2)  # type: ignore[no-any-return]


def all_trades(platform: UpPlatform, backtest_id: str) -> list[dict[str, Any]]:
    status, trades = platform.call("GET", f"/api/programs/backtest/{backtest_id}/trades?limit=500")
    assert status == 200, trades
    return trades  # type: ignore[no-any-return]


async def lifecycle_events(nats_url: str, backtest_id: str) -> list[str]:
    """Every backtest event stored in the EVENTS stream for this job, in order (`started`, …)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("evt.backtester.backtest.>", durable=None, stream=subjects.EVENTS_STREAM)
        kinds: list[str] = []
        while True:
            try:
                batch = await sub.fetch(200, timeout=1)
            except nats.errors.TimeoutError:
                return kinds
            for msg in batch:
                event = msgspec.json.decode(msg.data, type=BacktestEvent)
                if event.backtest_id == backtest_id:
                    kinds.append(msg.subject.rsplit(".", 1)[1])
    finally:
        await nc.close()


def test_a_killed_backtester_finishes_the_job_once(platform: UpPlatform) -> None:
    status, program = platform.call("POST", "/api/programs", {"name": "kill me", "code": PROGRAM})
    assert status == 201, program
    status, accepted = platform.call("POST", f"/api/programs/{program['id']}/backtest", JOB)
    assert status == 202, accepted
    backtest_id = accepted["backtest_id"]

    def halfway() -> bool:
        body = record(platform, backtest_id)
        assert body["status"] in ("queued", "running"), body  # the job must still be running when we kill it
        return body["status"] == "running" and body["bars_done"] > 0

    wait_until(halfway, 60, "the job reported progress")
    before = record(platform, backtest_id)
    old = platform.kill_child("backtester")
    started = time.monotonic()
    new = platform.wait_restarted("backtester", old)
    assert not alive(old)

    done = wait_done(platform, backtest_id)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2 and done["bars_done"] == done["bars_total"] == 7 * 24 * 60
    assert before["bars_done"] < done["bars_total"]
    assert time.monotonic() - started < DONE_TIMEOUT_S and alive(new)

    status, history = platform.call("GET", f"/api/programs/backtest/history?program_id={program['id']}")
    assert status == 200 and [row["id"] for row in history] == [backtest_id]
    kinds = asyncio.run(lifecycle_events(platform.nats_url, backtest_id))
    assert kinds.count("started") == 2 and kinds.count("completed") == 1 and kinds[-1] == "completed", kinds
    assert "failed" not in kinds

    # The same job run without a kill gives the same result: the first attempt left nothing behind.
    status, clean = platform.call("POST", f"/api/programs/{program['id']}/backtest", JOB)
    assert status == 202, clean
    reference = wait_done(platform, clean["backtest_id"])
    assert reference["status"] == "completed" and reference["attempts"] == 1
    assert all_trades(platform, backtest_id) == all_trades(platform, clean["backtest_id"])
    for field in ("total_trades", "final_equity", "equity_points", "triggers_count", "max_drawdown"):
        assert done[field] == reference[field], field
    assert Path(platform.data_dir).exists()
