"""Crash-only behaviour: when NATS goes away the gateway and services keep running, report not-ready,
and recover by themselves when it comes back, with no restart of anything of ours."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import msgspec

from services.registry.service import build as build_registry
from shared.natsserver import NatsServer
from shared.ports import free_port
from shared.settings import Settings
from tests.harness import Api, start_platform



async def wait_for_status(api: Api, path: str, status: int, timeout: float = 20.0) -> tuple[int, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await api.get(path)
        if got[0] == status or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


async def test_platform_recovers_after_nats_restarts(settings: Settings, tmp_path: Path, http_session: aiohttp.ClientSession) -> None:
    port = free_port()
    server = NatsServer(tmp_path / "js", port=port).start()
    own = msgspec.structs.replace(settings, nats_url=server.url, data_dir=str(tmp_path / "data"))
    running = await start_platform(own, [build_registry])
    api = Api(http_session, running.base_url)
    try:
        status, created = await api.post("/api/programs/", {"name": "survivor", "code": 'fn run(ctx) { ctx.hold("x") }'})
        assert status == 201

        server.stop()
        status, body = await wait_for_status(api, "/readyz", 503)
        assert status == 503 and body["nats"] == "disconnected"  # type: ignore[index]
        status, body = await api.get(f"/api/programs/{created['id']}")
        assert status in (503, 504)  # a clear retryable error, not a 500 or a hang
        assert (await api.get("/healthz"))[0] == 200

        server = NatsServer(tmp_path / "js", port=port).start()
        status, body = await wait_for_status(api, f"/api/programs/{created['id']}", 200)
        assert status == 200 and body["name"] == "survivor"  # type: ignore[index]
    finally:
        await running.stop()
        server.stop()


async def test_readyz_reports_a_service_whose_store_is_down_and_its_recovery(
    settings: Settings, tmp_path: Path, http_session: aiohttp.ClientSession
) -> None:
    """The registry on MongoDB (the in-memory double): while the database is unreachable, requests get a
    retryable 503 and /readyz says which dependency is down; when it is back, both recover untouched."""
    from functools import partial

    from shared.store.mongo import MongoStore
    from tests.doubles.mongo import AsyncMongoClientDouble

    client = AsyncMongoClientDouble()
    build = partial(build_registry, store=MongoStore(client, "hyperoru"))
    server = NatsServer(tmp_path / "js").start()
    own = msgspec.structs.replace(settings, nats_url=server.url)
    running = await start_platform(own, [build])
    api = Api(http_session, running.base_url)
    try:
        status, created = await api.post("/api/programs/", {"name": "on mongo", "code": 'fn run(ctx) { ctx.hold("x") }'})
        assert status == 201
        client.set_unavailable(True)
        status, body = await api.get(f"/api/programs/{created['id']}")
        assert status == 503 and body["error"]["code"] == "unavailable"
        status, body = await api.get("/readyz")
        assert status == 503 and body["services"]["registry"] == "degraded: store unavailable"
        client.set_unavailable(False)
        assert (await api.get(f"/api/programs/{created['id']}"))[0] == 200
        status, body = await api.get("/readyz")
        assert body["services"]["registry"] == "ok"
    finally:
        await running.stop()
        server.stop()
