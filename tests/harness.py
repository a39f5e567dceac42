"""The test platform: a real nats-server, real services, the real gateway on a real HTTP port.

Services run in the test process (each with its own NATS connection, as separate processes would
have), which keeps the suite fast while every request still crosses HTTP → NATS → service → SQLite.
Tests isolate themselves by owner (the `X-Owner` header) instead of by restarting anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from services.gateway.app import init_app
from services.gateway.server import GatewayRunner
from shared import subjects
from shared.runtime import Service
from shared.settings import Settings


@dataclass
class RunningPlatform:
    settings: Settings
    base_url: str
    services: list[Service]
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()
        for service in self.services:
            await service.stop()


TEST_AUTH = {"AUTH_MODE": "proxy", "TRUSTED_PROXY_CIDRS": "127.0.0.0/8", "RATE_LIMIT_PER_S": "0"}
"""How test platforms authenticate: `X-Owner` from this machine (the tests' own proxy), no rate limit."""


def loopback_proxy_settings(settings: Settings) -> Settings:
    """`settings` with the gateway trusting `X-Owner` from loopback and not rate-limiting (TEST_AUTH)."""
    return msgspec.structs.replace(settings, auth_mode="proxy", trusted_proxy_cidrs="127.0.0.0/8", rate_limit_per_s=0.0)


async def start_platform(
    settings: Settings, builders: list[Callable[[Settings], Awaitable[Service]]], *, trust_loopback: bool = True
) -> RunningPlatform:
    """The gateway runs with `loopback_proxy_settings` (tests act as any owner by `X-Owner`) unless
    `trust_loopback=False`: then `settings` are used as given (tests of the other auth modes)."""
    services = []
    for build in builders:
        service = await build(settings)
        await service.connect()
        await service.serve()
        services.append(service)
    runner = GatewayRunner(init_app(loopback_proxy_settings(settings) if trust_loopback else settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return RunningPlatform(settings, f"http://127.0.0.1:{port}", services, runner)


@dataclass
class Api:
    """An HTTP client acting as one owner; JSON in, (status, JSON) out."""

    session: aiohttp.ClientSession
    base_url: str
    owner: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:12]}")

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = {subjects.OWNER_HEADER: self.owner, **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        if raw is not None:
            kwargs["data"] = raw
            all_headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            text = await response.read()
            self.last_headers = response.headers
            return response.status, (None if not text else await response.json(content_type=None))

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kw)
