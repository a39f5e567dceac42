"""A platform of its own for the authentication, security-header, rate-limit and metrics tests.

A nats-server and a registry (programs and `registry.tokens.verify`) on their own data dir, and any
number of gateways on it, each with its own settings (`AUTH_MODE`, limits, CORS): the session platform
runs in `proxy` mode for every other test, these tests need the other modes too. Import the fixture
into a test module (`from tests.api.auth_fixtures import security_bus`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from aiohttp import web

from services.gateway.app import init_app
from services.gateway.server import GatewayRunner
from services.registry.tokens import TokenStore
from shared.messages.tokens import TokenInfo
from shared.natsserver import NatsServer
from shared.settings import Settings, load_settings
from shared.store import open_store

PROGRAM = {"name": "Grid Bot", "code": 'fn run(ctx) { ctx.buy("BTC", 0.01) }'}


@pytest_asyncio.fixture(scope="module")
async def security_bus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """Settings (token mode) of a running nats-server + registry; gateways are made per test."""
    from services.registry.service import build as build_registry

    with NatsServer(tmp_path_factory.mktemp("security-js")) as server:
        settings = load_settings({
            "NATS_URL": server.url, "DATA_DIR": str(tmp_path_factory.mktemp("security-data")), "LOG_LEVEL": "warning",
            "LOG_FORMAT": "json", "WORKER_PROCESSES": "1", "AUTH_MODE": "token", "RATE_LIMIT_PER_S": "0",
        })
        registry = await build_registry(settings)
        await registry.connect()
        await registry.serve()
        try:
            yield settings
        finally:
            await registry.stop()


@asynccontextmanager
async def gateway(settings: Settings, **changes: Any) -> AsyncIterator[str]:
    """A gateway on a free port with `settings` changed by `changes`; yields its base URL."""
    runner = GatewayRunner(init_app(msgspec.structs.replace(settings, **changes)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def with_tokens(settings: Settings, action: Any) -> Any:
    store = open_store(mongodb_url=None, sqlite_path=Path(settings.data_dir) / "hyperoru.db")
    try:
        return await action(await TokenStore.open(store))
    finally:
        await store.close()


async def make_token(settings: Settings, owner: str, name: str = "test") -> tuple[str, TokenInfo]:
    return await with_tokens(settings, lambda tokens: tokens.create(owner, name))


async def call(
    method: str, url: str, *, token: str | None = None, headers: dict[str, str] | None = None, json: Any = None
) -> tuple[int, Any, Any]:
    """(status, JSON body or None, headers) of one request on a fresh connection."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session, session.request(method, url, headers=sent, json=json) as response:
        raw = await response.read()
        body = None
        if raw and response.content_type == "application/json":
            body = msgspec.json.decode(raw)
        return response.status, body, response.headers
