"""A NATS connection is never lost for ever, and a reply too large for the bus is an answer, not a failure.

nats-py *closes* a client after any `-ERR` from the server (a message over `max_payload` is one), and
a closed client never comes back by itself. These tests close the gateway's and a service's client
for real and check that the platform heals with no restart of anything, saying not-ready meanwhile.
Each runs on its own nats-server so that closing connections cannot disturb the shared platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import nats
import pytest_asyncio
from nats.micro.request import ERROR_CODE_HEADER

from services.registry.service import build as build_registry
from shared.errors import ErrorEnvelope
from shared.limits import HEADER_ALLOWANCE_BYTES, MAX_MESSAGE_BYTES
from shared.messages.base import Reply, Request
from shared.natsserver import NatsServer
from shared.runtime import Service
from shared.settings import Settings
from tests.harness import Api, RunningPlatform, start_platform

CODE = 'fn run(ctx) { ctx.buy("BTC", 0.01) }'


@pytest_asyncio.fixture
async def own_platform(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningPlatform]:
    with NatsServer(tmp_path / "js") as server:
        own = msgspec.structs.replace(settings, nats_url=server.url, data_dir=str(tmp_path / "data"))
        running = await start_platform(own, [build_registry])
        yield running
        await running.stop()


async def eventually(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """Poll `check()` until it returns a truthy value (bounded: the test fails rather than hangs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def kill_with_oversized_message(nc: nats.NATS) -> None:
    """What a too-large message did to the gateway: the payload passes the client's own check, the
    headers push it over `max_payload`, the server answers -ERR and nats-py closes the client."""
    await nc.publish("tests.void", b"x" * (nc.max_payload - 10), headers={"X-Pad": "p" * 200})


async def test_gateway_replaces_a_closed_connection_and_readyz_recovers(
    own_platform: RunningPlatform, http_session: aiohttp.ClientSession
) -> None:
    from services.gateway.app import BUS_KEY

    api = Api(http_session, own_platform.base_url)
    assert (await api.post("/api/programs", {"name": "before", "code": CODE}))[0] == 201
    bus = own_platform.runner.app[BUS_KEY]
    old = bus.client
    await kill_with_oversized_message(old)
    assert await eventually(lambda: _true(old.is_closed))
    assert await eventually(lambda: _ready(api))
    assert bus.client is not old and bus.replacements >= 1
    status, listed = await api.get("/api/programs")
    assert status == 200 and [p["name"] for p in listed] == ["before"]


async def test_a_service_replaces_a_closed_connection_and_serves_again(
    own_platform: RunningPlatform, http_session: aiohttp.ClientSession
) -> None:
    api = Api(http_session, own_platform.base_url)
    registry = own_platform.services[0]
    old = registry.nc
    await old.close()  # as nats-py does after a protocol error
    async def serves() -> bool:
        return (await api.post("/api/programs", {"name": "after", "code": CODE}))[0] == 201

    assert await eventually(serves)
    assert registry.nc is not old and registry.connection.replacements >= 1
    ready = await eventually(lambda: _ready(api))
    assert ready and ready[1]["services"]["registry"] == "ok", ready


async def test_readyz_is_not_ready_while_the_connection_is_down(
    own_platform: RunningPlatform, http_session: aiohttp.ClientSession
) -> None:
    from services.gateway.app import BUS_KEY

    api = Api(http_session, own_platform.base_url)
    bus = own_platform.runner.app[BUS_KEY]
    gate = asyncio.Event()
    original = bus._new_client

    async def held_back():  # type: ignore[no-untyped-def]
        await gate.wait()  # keep the gateway without a connection until the test has looked
        return await original()

    bus._new_client = held_back  # type: ignore[method-assign]
    await bus.client.close()
    status, body = await api.get("/readyz")
    assert status == 503 and body["nats"] == "disconnected"
    status, body = await api.get("/api/programs")
    assert status == 503 and body["error"]["code"] == "unavailable"
    gate.set()
    assert await eventually(lambda: _ready(api))


class Big(Request):
    size: int


class Blob(Reply):
    data: str


async def test_a_reply_too_large_for_the_bus_is_a_422_and_the_service_keeps_its_connection(settings: Settings, tmp_path: Path) -> None:
    with NatsServer(tmp_path / "js") as server:
        own = msgspec.structs.replace(settings, nats_url=server.url)

        async def blob(request: Big, ctx: object) -> Blob:
            return Blob(data="x" * request.size)

        service = Service("bigreply", own)
        service.add("tests.big.reply", Big, blob)
        await service.connect()
        await service.serve()
        nc = await nats.connect(server.url)
        try:
            limit = min(MAX_MESSAGE_BYTES, nc.max_payload - HEADER_ALLOWANCE_BYTES)
            reply = await nc.request("tests.big.reply", msgspec.json.encode(Big(size=limit + 1)), timeout=10, headers={"X-Owner": "t"})
            assert reply.headers and reply.headers[ERROR_CODE_HEADER] == "422"
            error = msgspec.json.decode(reply.data, type=ErrorEnvelope).error
            assert error.code == "limit_exceeded" and error.details["max"] == limit
            small = await nc.request("tests.big.reply", b'{"size": 3}', timeout=10, headers={"X-Owner": "t"})
            assert msgspec.json.decode(small.data) == {"data": "xxx"}
            assert not service.nc.is_closed and service.connection.replacements == 0
        finally:
            await nc.close()
            await service.stop()


async def _true(value: bool) -> bool:
    return value


async def _ready(api: Api) -> tuple[int, dict] | None:
    """Ready as far as this platform goes: NATS connected and the registry (its only service) ok."""
    status, body = await api.get("/readyz")
    return (status, body) if body["nats"] == "connected" and body["services"]["registry"] == "ok" else None
