"""Health endpoints, and how the gateway maps NATS transport failures (no responder, timeout) to HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import nats
import pytest_asyncio
from aiohttp import web

from services.gateway.app import Forwarder, init_app
from services.gateway.routes import Route
from shared.messages.programs import ProgramList
from shared.settings import Settings
from tests.harness import Api


async def test_healthz_answers(api: Api) -> None:
    status, body = await api.get("/healthz")
    assert status == 200 and body == {"status": "ok"}


async def test_readyz_lists_every_service_as_ready(api: Api) -> None:
    status, body = await api.get("/readyz")
    assert status == 200, body
    assert body["status"] == "ready" and body["nats"] == "connected"
    assert set(body["services"]) == {"registry", "executor", "backtester", "ai"}
    assert body["services"]["registry"] == "ok" and body["services"]["executor"] == "ok"
    # a service that serves no endpoint yet is up and healthy, but says so instead of plain "ok"
    assert all(state in ("ok", "idle") for state in body["services"].values()), body


async def test_readyz_shows_each_services_endpoints_and_store_health(api: Api) -> None:
    status, body = await api.get("/readyz")
    assert status == 200, body
    registry = body["details"]["registry"]
    assert "registry.programs.create" in registry["serves"] and "registry.health.check" not in registry["serves"]
    assert registry["checks"] == {"store": "ok"}
    for name, state in body["services"].items():
        serves = body["details"][name]["serves"]
        assert (state == "idle") == isinstance(serves, str), (name, state, serves)  # idle says it serves nothing


@pytest_asyncio.fixture
async def lonely_gateway(settings: Settings) -> AsyncIterator[tuple[str, nats.NATS]]:
    """A gateway with two extra routes: one nobody serves, one served by a subscriber that never replies."""
    import msgspec

    quick = msgspec.structs.replace(settings, request_timeout_s=0.3)
    nc = await nats.connect(settings.nats_url)
    async def never_reply(msg: nats.aio.msg.Msg) -> None:
        pass

    silent = await nc.subscribe("tests.silent.subject", cb=never_reply)
    app = init_app(quick, nc)
    app.router.add_get("/nobody", Forwarder(Route("GET", "/nobody", "tests.nobody.serves", ProgramList)).handle)
    app.router.add_get("/silent", Forwarder(Route("GET", "/silent", "tests.silent.subject", ProgramList)).handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", nc
    await runner.cleanup()
    await silent.unsubscribe()
    await nc.close()


async def test_no_responder_is_503_and_silence_is_504(lonely_gateway: tuple[str, nats.NATS], http_session: aiohttp.ClientSession) -> None:
    base, _ = lonely_gateway
    async with http_session.get(base + "/nobody") as response:
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "unavailable"
    async with http_session.get(base + "/silent") as response:
        assert response.status == 504
        assert (await response.json())["error"]["code"] == "timeout"


async def test_readyz_is_503_when_a_service_is_missing(settings: Settings, http_session: aiohttp.ClientSession) -> None:
    """Against a NATS server on which no service runs, every service is reported missing."""
    from pathlib import Path
    import tempfile

    from shared.natsserver import NatsServer

    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp)) as empty:
        import msgspec

        nc = await nats.connect(empty.url)
        runner = web.AppRunner(init_app(msgspec.structs.replace(settings, nats_url=empty.url), nc))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            async with http_session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/readyz") as response:
                body = await response.json()
                assert response.status == 503
                assert body["services"]["registry"] == "missing"
            async with http_session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/readyz?scope=gateway") as response:
                assert response.status == 200 and (await response.json())["scope"] == "gateway"
            async with http_session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/readyz?scope=all") as response:
                assert response.status == 422 and (await response.json())["error"]["details"]["field"] == "scope"
        finally:
            await runner.cleanup()
            await nc.close()
