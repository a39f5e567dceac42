"""Live runs under faults, on a real `hyperoru up`: kill the executor mid-run, restart NATS, fire the same
trigger twice — no lost run, no double run, no double fill.

The test plays the trigger clock itself: it publishes run messages to the work-queue exactly as the
clock does (`executor.runs.<account>`, `Nats-Msg-Id` = binding + trigger), so it decides when runs
happen while the executor's own clock (market speed 1) stays quiet.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import nats
import pytest

from shared import subjects
from shared.messages.live import RunOrder, Trigger
from shared.timefmt import now_ms, to_iso
from tests.fault.platform import UpPlatform, alive, start_up, wait_until

N = 20
OWNER = "local"  # the gateway's owner when a request names none
# Burns steps so that a run is in its worker for a good fraction of a second: the kill lands mid-run.
SLOW = """
fn run(ctx) {
    let x = 0;
    for i in 0..900000 { x += i % 7; }
    ctx.state.runs = ctx.state.get("runs", 0) + 1;
    if ctx.position() == null { ctx.buy(ctx.symbol, 0.01, "open"); } else { ctx.close(ctx.symbol, "close"); }
}
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Any:
    env = {"LIVE_ACK_WAIT_S": "3", "LIVE_WORKERS": "1", "LIVE_RUN_CONCURRENCY": "1"}
    running = start_up(tmp_path_factory.mktemp("livefault") / "data", env=env)
    try:
        running.wait_ready(90)
        yield running
    finally:
        running.stop()


def created(platform: UpPlatform, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = platform.call("POST", path, body)
    assert status == 201, reply
    return reply  # type: ignore[no-any-return]


def order(binding_id: int, minute: int) -> RunOrder:
    t = 1_900_000_000_000 + minute * 60_000
    return RunOrder(owner=OWNER, binding_id=binding_id, trigger=Trigger(id=f"schedule-{t}", type="schedule", time=to_iso(t), time_ms=t),
                    queued_at_ms=now_ms())


async def publish(nats_url: str, account_id: int, orders: list[RunOrder], *, with_id: bool = True) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for run in orders:
            headers = {"Nats-Msg-Id": f"{run.binding_id}:{run.trigger.id}"} if with_id else None
            await js.publish(subjects.live_run(account_id), msgspec.json.encode(run), headers=headers)
    finally:
        await nc.close()


def executions(platform: UpPlatform, binding_id: int) -> list[dict[str, Any]] | None:
    status, items = platform.call("GET", f"/api/programs/executions/?binding_id={binding_id}&limit=500")
    if status in (502, 503, 504):  # the restarted executor is not serving yet
        return None
    assert status == 200, items
    return items  # type: ignore[no-any-return]


def wait_executions(platform: UpPlatform, binding_id: int, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        items = executions(platform, binding_id)
        assert items is None or len(items) <= count, f"more executions than triggers: {len(items or [])} > {count}"
        return items if items is not None and len(items) == count else None

    return wait_until(enough, 120, f"{count} executions", interval=0.2)  # type: ignore[no-any-return]


def check_ledger(platform: UpPlatform, account_id: int, binding_id: int, runs: list[dict[str, Any]]) -> None:
    """One execution per trigger, one fill per execution, and the account reconciles."""
    triggers = [e["trigger"]["id"] for e in runs]
    assert len(triggers) == len(set(triggers))
    status, fills = platform.call("GET", f"/api/programs/accounts/{account_id}/fills?limit=500")
    assert status == 200
    assert sorted(f["execution_id"] for f in fills) == sorted(e["id"] for e in runs)  # no double fill, none lost
    status, account = platform.call("GET", f"/api/programs/accounts/{account_id}")
    assert status == 200
    realized, fees = sum(f["realized_pnl"] for f in fills), sum(f["fee"] for f in fills)
    assert account["balance"] - account["initial_capital"] == pytest.approx(realized - fees, abs=1e-6)
    status, binding = platform.call("GET", f"/api/programs/bindings/{binding_id}")
    assert status == 200 and binding["state"]["runs"] == len(runs)


def test_kill_executor_mid_run_restart_nats_and_duplicate_triggers(platform: UpPlatform) -> None:
    status, program = platform.call("POST", "/api/programs", {"name": "slow toggle", "code": SLOW})
    assert status == 201, program
    account = created(platform, "/api/programs/accounts/", {"name": "fault account"})
    binding = created(platform, "/api/programs/bindings/", {
        "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1m",
        "schedule": {"cron": "0 0 1 1 *"},  # a trigger it needs, that will not come during the test
    })
    account_id, binding_id = account["id"], binding["id"]

    # 1. N triggers, the first one sent twice; the executor is killed while it works through them.
    first = [order(binding_id, m) for m in range(N)]
    asyncio.run(publish(platform.nats_url, account_id, [*first, first[0]]))
    wait_until(lambda: (executions(platform, binding_id) or []) != [], 60, "a first execution")
    done_before_kill = len(executions(platform, binding_id) or [])
    old = platform.kill_child("executor")
    assert done_before_kill < N, "the kill came after the last run: make SLOW slower"
    new = platform.wait_restarted("executor", old)
    assert not alive(old) and alive(new)
    runs = wait_executions(platform, binding_id, N)
    check_ledger(platform, account_id, binding_id, runs)
    assert min(e["duration_ms"] for e in runs) > 20  # each run spent real time in its worker

    # 2. NATS restarts; triggers sent after it (and old ones again, even without a Nats-Msg-Id, so the
    #    server cannot drop them: the ledger refuses them) run once each.
    old_nats = platform.kill_child("nats-server")
    platform.wait_restarted("nats-server", old_nats)
    platform.wait_ready(60)
    later = [order(binding_id, m) for m in range(N, N + 3)]

    def published() -> bool:
        try:
            asyncio.run(publish(platform.nats_url, account_id, later))
            asyncio.run(publish(platform.nats_url, account_id, first[:2], with_id=False))
        except Exception:  # JetStream not back yet
            return False
        return True

    wait_until(published, 60, "JetStream accepts messages again", interval=0.5)
    runs = wait_executions(platform, binding_id, N + 3)
    time.sleep(2.0)  # the re-sent old triggers are processed too: still N + 3
    runs = wait_executions(platform, binding_id, N + 3)
    check_ledger(platform, account_id, binding_id, runs)
    assert {e["status"] for e in runs} == {"ok"}
