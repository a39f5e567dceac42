"""End to end through the sped-up clock: a bracketed position is closed by the broker between runs.

Own nats-server, registry and executor (as `tests/e2e/test_live_e2e.py`), market clock at
`MARKET_LIVE_SPEED=60` from a `MARKET_CLOCK_ANCHOR`: a 1-minute candle closes every second. A binding
on a 1-minute schedule opens ONE long position with a tight take-profit / stop-loss and then only
holds; the exit has to come from the clock's candle check, not from a run.
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
from shared.timefmt import now_ms
from tests.harness import Api, RunningPlatform, start_platform

pytestmark = pytest.mark.slow

OPEN_ONCE = """
fn run(ctx) {
    if ctx.state.get("opened", false) {
        ctx.hold("bracket placed");
        return;
    }
    ctx.state.opened = true;
    ctx.buy(ctx.symbol, 0.01, #{reason: "bracket", take_profit: ctx.price * 1.0005, stop_loss: ctx.price * 0.9995});
}
"""


@pytest_asyncio.fixture(scope="module")
async def fast(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[RunningPlatform, NatsServer]]:
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    with NatsServer(tmp_path_factory.mktemp("exits-js")) as server:
        settings = load_settings({
            "NATS_URL": server.url, "DATA_DIR": str(tmp_path_factory.mktemp("exits-data")), "LOG_LEVEL": "warning",
            "LOG_FORMAT": "json", "MARKET_LIVE_SPEED": "60", "MARKET_CLOCK_ANCHOR": str(now_ms()), "LIVE_WORKERS": "1",
        })
        running = await start_platform(settings, [build_registry, build_executor])
        try:
            yield running, server
        finally:
            await running.stop()


async def created(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = await api.post(path, body)
    assert status == 201, reply
    return reply


async def test_bracket_closes_between_runs_through_the_clock(fast: tuple[RunningPlatform, NatsServer]) -> None:
    nc = await nats.connect(fast[1].url)
    filled: list[dict[str, Any]] = []

    async def on_filled(msg: Any) -> None:
        filled.append(msgspec.json.decode(msg.data))

    await nc.subscribe("evt.executor.order.filled", cb=on_filled)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, fast[0].base_url)
            program = await created(api, "/api/programs", {"name": "open once", "code": OPEN_ONCE})
            account = await created(api, "/api/programs/accounts/", {"name": "bracketed"})
            binding = await created(api, "/api/programs/bindings/", {
                "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1m",
                "schedule": {"interval": "1m"},
            })
            path = f"/api/programs/accounts/{account['id']}/fills?limit=500"
            deadline = time.monotonic() + 120
            while True:
                status, fills = await api.get(path)
                assert status == 200
                exits = [f for f in fills if f["reason"] in ("take_profit", "stop_loss", "liquidation")]
                if exits:
                    break
                assert time.monotonic() < deadline, f"no exit yet: {fills}"
                await asyncio.sleep(0.5)
            status, _ = await api.put(f"/api/programs/bindings/{binding['id']}", {"enabled": False})
            assert status == 200
            await asyncio.sleep(1.5)

            status, fills = await api.get(path)
            [opened] = [f for f in fills if f["reason"] == "signal"]
            [closed] = [f for f in fills if f["reason"] != "signal"]
            assert opened["side"] == "buy" and closed["side"] == "sell" and closed["quantity"] == opened["quantity"]
            assert closed["execution_id"] is None and closed["binding_id"] is None
            assert closed["time"] > opened["time"]
            # no run closed it: every execution after the first held
            status, runs = await api.get(f"/api/programs/executions/?binding_id={binding['id']}&limit=500")
            assert status == 200 and len(runs) >= 2
            assert sorted(r["action"] for r in runs) == ["buy"] + ["hold"] * (len(runs) - 1)
            status, after = await api.get(f"/api/programs/accounts/{account['id']}")
            assert after["positions"] == []
            assert after["balance"] - after["initial_capital"] == pytest.approx(
                sum(f["realized_pnl"] for f in fills) - sum(f["fee"] for f in fills), abs=1e-9)
            mine = [e for e in filled if e["account_id"] == account["id"] and e["execution_id"] is None]
            assert len(mine) == 1 and mine[0]["reason"] == closed["reason"] and mine[0]["price"] == closed["price"]
    finally:
        await nc.close()
