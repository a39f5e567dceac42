"""Live trading end to end: bindings run by themselves, each trigger once, every account reconciles.

Its own nats-server and services (not the session platform) because the market clock is sped up:
with `MARKET_LIVE_SPEED=60` a 1-minute candle closes every second of wall time. A pool on a simulator
symbol drives one binding, a 1-minute schedule another; everything goes through HTTP → NATS →
executor (clock → JetStream work-queue → worker pool → ledger) → SQLite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import nats
import pytest
import pytest_asyncio

from shared.natsserver import NatsServer
from shared.settings import load_settings
from tests.harness import Api, RunningPlatform, start_platform

pytestmark = pytest.mark.slow

SPEED = 60
CODE = """
fn run(ctx) {
    let n = ctx.state.get("runs", 0);
    ctx.state.runs = n + 1;
    ctx.log("run " + str(n + 1) + " on a " + ctx.trigger.type + " trigger");
    if ctx.position() == null {
        ctx.buy(ctx.symbol, 0.01, "open");
    } else {
        ctx.close(ctx.symbol, "take it off");
    }
}
"""
POOL = {
    "name": "BTC crosses its 3-bar average",
    "logic": "OR",
    "signals": [
        {"symbol": "BTC", "timeframe": "1m", "metric": "price", "operator": "crosses_above", "value": "sma(3)"},
        {"symbol": "BTC", "timeframe": "1m", "metric": "price", "operator": "crosses_below", "value": "sma(3)"},
    ],
}


@pytest_asyncio.fixture(scope="module")
async def fast(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[RunningPlatform, NatsServer]]:
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    with NatsServer(tmp_path_factory.mktemp("live-js")) as server:
        settings = load_settings({
            "NATS_URL": server.url, "DATA_DIR": str(tmp_path_factory.mktemp("live-data")), "LOG_LEVEL": "warning",
            "LOG_FORMAT": "json", "MARKET_LIVE_SPEED": str(SPEED), "LIVE_WORKERS": "1",
        })
        running = await start_platform(settings, [build_registry, build_executor])
        try:
            yield running, server
        finally:
            await running.stop()


@pytest_asyncio.fixture
async def api(fast: tuple[RunningPlatform, NatsServer]) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, fast[0].base_url)


async def created(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = await api.post(path, body)
    assert status == 201, reply
    return reply


async def executions(api: Api, **filters: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in {"limit": 500, **filters}.items())
    status, items = await api.get(f"/api/programs/executions/?{query}")
    assert status == 200, items
    return items


async def wait_for(check: Any, timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.25)


async def reconcile(api: Api, account_id: int) -> None:
    status, account = await api.get(f"/api/programs/accounts/{account_id}")
    assert status == 200
    status, fills = await api.get(f"/api/programs/accounts/{account_id}/fills?limit=500")
    assert status == 200 and fills
    realized = sum(f["realized_pnl"] for f in fills)
    fees = sum(f["fee"] for f in fills)
    assert account["balance"] - account["initial_capital"] == pytest.approx(realized - fees, abs=1e-6)
    assert account["fees_paid"] == pytest.approx(fees, abs=1e-6)


async def test_pool_and_schedule_bindings_run_once_per_trigger_and_accounts_reconcile(
    api: Api, fast: tuple[RunningPlatform, NatsServer]
) -> None:
    nc = await nats.connect(fast[1].url)
    fired: list[dict[str, Any]] = []

    async def on_fired(msg: Any) -> None:
        fired.append(msgspec.json.decode(msg.data))

    await nc.subscribe("evt.executor.signal.fired", cb=on_fired)
    try:
        program = await created(api, "/api/programs", {"name": "toggle", "code": CODE})
        pool = await created(api, "/api/programs/signal-pools/", POOL)
        on_signal = await created(api, "/api/programs/accounts/", {"name": "signal account"})
        on_clock = await created(api, "/api/programs/accounts/", {"name": "schedule account"})
        by_pool = await created(api, "/api/programs/bindings/", {
            "program_id": program["id"], "account_id": on_signal["id"], "symbol": "BTC", "timeframe": "1m",
            "signal_pool_ids": [pool["id"]],
        })
        by_schedule = await created(api, "/api/programs/bindings/", {
            "program_id": program["id"], "account_id": on_clock["id"], "symbol": "ETH", "timeframe": "1m",
            "schedule": {"interval": "1m"},
        })

        async def enough() -> bool:
            mine = [e for e in fired if e["owner"] == api.owner]
            return len(mine) >= 3 and len(await executions(api, binding_id=by_schedule["id"])) >= 4

        await wait_for(enough)
        fired_ids = {e["correlation_id"] for e in fired if e["owner"] == api.owner}  # = the trigger id

        async def all_fired_ran() -> bool:
            ran = {e["trigger"]["id"] for e in await executions(api, binding_id=by_pool["id"])}
            return fired_ids <= ran

        await wait_for(all_fired_ran)

        def minutes(runs: list[dict[str, Any]]) -> list[int]:
            return sorted(int(e["trigger"]["id"].split("-")[1]) for e in runs)

        async def schedule_caught_up() -> list[int] | None:
            """Every market minute from the first run on has its run (a run retried after a timeout on
            a loaded machine may land late: wait for it rather than disable the binding under it)."""
            times = minutes(await executions(api, binding_id=by_schedule["id"]))
            return times if times == list(range(times[0], times[-1] + 60_000, 60_000)) else None

        before_disable = await wait_for(schedule_caught_up)
        # Disable both: no new runs from here on (checked when a run is taken).
        for binding in (by_pool, by_schedule):
            status, _ = await api.put(f"/api/programs/bindings/{binding['id']}", {"enabled": False})
            assert status == 200
        await asyncio.sleep(1.5)
        settled = await executions(api)

        pool_runs = [e for e in settled if e["binding_id"] == by_pool["id"]]
        schedule_runs = [e for e in settled if e["binding_id"] == by_schedule["id"]]
        # each trigger: exactly one execution per binding
        for runs in (pool_runs, schedule_runs):
            triggers = [e["trigger"]["id"] for e in runs]
            assert len(triggers) == len(set(triggers))
        assert all(e["trigger"]["type"] == "signal" and e["trigger"]["pool"] == pool["id"] for e in pool_runs)
        assert {e["trigger"]["id"] for e in pool_runs} >= fired_ids
        # the schedule fired every market minute, none lost in between (runs still queued when the
        # binding was disabled do not run: only minutes after the caught-up ones may be missing)
        times = minutes(schedule_runs)
        assert len(before_disable) >= 4 and times[: len(before_disable)] == before_disable
        assert all(e["status"] == "ok" for e in settled)

        # the binding's ctx.state followed every run
        status, binding = await api.get(f"/api/programs/bindings/{by_schedule['id']}")
        assert status == 200 and binding["state"]["runs"] == len(schedule_runs)

        for account in (on_signal, on_clock):
            await reconcile(api, account["id"])

        # one execution in full
        status, detail = await api.get(f"/api/programs/executions/{schedule_runs[0]['id']}")
        assert status == 200
        assert detail["orders"] and detail["fills"] and detail["logs"][0].endswith("on a schedule trigger")
        assert detail["program_version"] == 1 and detail["values"]["price"] > 0

        # preview-run: the decision and the fill it would make, nothing placed
        status, before = await api.get(f"/api/programs/accounts/{on_clock['id']}/fills?limit=500")
        status, preview = await api.post(f"/api/programs/bindings/{by_schedule['id']}/preview-run")
        assert status == 200, preview
        assert preview["action"] in ("buy", "close") and preview["symbol"] == "ETH" and preview["fills"]
        status, after = await api.get(f"/api/programs/accounts/{on_clock['id']}/fills?limit=500")
        assert after == before
        assert len(await executions(api)) == len(settled)
    finally:
        await nc.close()


async def test_execution_endpoints_validate_and_scope(api: Api) -> None:
    status, body = await api.get("/api/programs/executions/?status=maybe")
    assert status == 422 and body["error"]["details"]["field"] == "status"
    status, body = await api.get("/api/programs/executions/?since=yesterday")
    assert status == 422 and body["error"]["details"]["field"] == "since"
    status, body = await api.get("/api/programs/executions/?cursor=bm9wZQ")
    assert status == 422
    status, body = await api.get("/api/programs/executions/123456")
    assert status == 404
    status, body = await api.post("/api/programs/bindings/123456/preview-run")
    assert status == 404
    status, items = await api.get("/api/programs/executions/")
    assert status == 200 and items == []
