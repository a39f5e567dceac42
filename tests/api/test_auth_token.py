"""`AUTH_MODE=token`: bearer tokens decide the owner; everything else is a 401 (or a 503, never a 500).

Real nats-server, real registry (it answers `registry.tokens.verify` from SQLite), real gateway on HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import pytest

from services.gateway.auth import Authenticator, TokenCache
from services.gateway.routes import ROUTES
from services.gateway.security import is_api
from shared.messages.tokens import hash_token, looks_like_token, new_token
from shared.natsserver import NatsServer
from shared.settings import Settings, load_settings
from tests.api.auth_fixtures import PROGRAM, call, gateway, make_token, security_bus, with_tokens

__all__ = ["security_bus"]


def _unauthorized(status: int, body: Any, headers: Any) -> str:
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    return str(body["error"]["details"]["reason"])


async def test_no_token_is_a_401_with_a_bearer_challenge(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        status, body, headers = await call("GET", url + "/api/programs/")
        assert _unauthorized(status, body, headers) == "missing"
        assert "error=" not in headers["WWW-Authenticate"]  # RFC 6750: no error code when no token was sent
        assert "hyperoru token create" in body["error"]["message"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer hyp_short", "Bearer " + "x" * 47, "Token " + "hyp_" + "a" * 43],
)
async def test_a_malformed_authorization_header_is_a_401(security_bus: Settings, header: str) -> None:
    async with gateway(security_bus) as url:
        status, body, headers = await call("GET", url + "/api/programs/", headers={"Authorization": header})
        assert _unauthorized(status, body, headers) == "malformed"
        assert 'error="invalid_token"' in headers["WWW-Authenticate"]


async def test_an_unknown_token_is_a_401(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        status, body, headers = await call("GET", url + "/api/programs/", token=new_token())
        assert _unauthorized(status, body, headers) == "invalid"


async def test_the_owner_comes_from_the_token_and_x_owner_is_ignored(security_bus: Settings) -> None:
    alice, _ = await make_token(security_bus, "alice-tok")
    bob, _ = await make_token(security_bus, "bob-tok")
    async with gateway(security_bus) as url:
        # alice claims to be bob: the header changes nothing
        status, created, _ = await call("POST", url + "/api/programs/", token=alice, json=PROGRAM, headers={"X-Owner": "bob-tok"})
        assert status == 201, created
        status, listed, _ = await call("GET", url + "/api/programs/", token=alice)
        assert status == 200 and created["id"] in [p["id"] for p in listed]
        status, listed, _ = await call("GET", url + "/api/programs/", token=bob)
        assert status == 200 and created["id"] not in [p["id"] for p in listed]
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", token=bob)
        assert status == 404, body


async def test_a_revoked_token_stops_working_and_use_is_recorded(security_bus: Settings) -> None:
    token, info = await make_token(security_bus, "carol", "laptop")
    async with gateway(security_bus) as url:
        status, body, _ = await call("GET", url + "/api/programs/", token=token)
        assert status == 200, body
    listed = await with_tokens(security_bus, lambda tokens: tokens.list("carol"))
    assert [(t.id, t.name) for t in listed] == [(info.id, "laptop")]
    assert listed[0].last_used_at is not None
    assert await with_tokens(security_bus, lambda tokens: tokens.revoke(info.id)) is not None
    async with gateway(security_bus) as url:  # a new gateway: nothing cached (the TTL bounds it otherwise)
        status, body, headers = await call("GET", url + "/api/programs/", token=token)
        assert _unauthorized(status, body, headers) == "invalid"


async def test_public_paths_need_no_token(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        for path in ("/healthz", "/openapi.json", "/docs", "/"):
            status, body, _ = await call("GET", url + path)
            assert status == 200, (path, body)
        status, body, _ = await call("GET", url + "/metrics")  # operator data: not on the main port here
        assert status == 404, body


async def test_openapi_declares_the_bearer_scheme_in_token_mode(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        status, spec, _ = await call("GET", url + "/openapi.json")
    assert status == 200
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_a_registry_that_cannot_answer_is_a_503_not_a_401(security_bus: Settings, tmp_path: Any) -> None:
    with NatsServer(tmp_path / "js") as empty:  # a bus where no registry serves
        async with gateway(security_bus, nats_url=empty.url, request_timeout_s=1.0) as url:
            status, body, _ = await call("GET", url + "/api/programs/", token=new_token())
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"


def test_every_route_of_the_table_needs_authentication() -> None:
    """A route outside /api would be public: none may be."""
    assert all(is_api(route.path) for route in ROUTES)


def test_tokens_are_256_random_bits_and_only_their_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(looks_like_token(t) for t in tokens)
    token = next(iter(tokens))
    assert len(token) == 4 + 43  # hyp_ + 32 bytes in URL-safe base64
    assert hash_token(token) == hash_token(token) and len(hash_token(token)) == 64 and token not in hash_token(token)


def test_the_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache = TokenCache(10.0, max_entries=2, clock=lambda: now[0])
    cache.put("a", "alice")
    cache.put("b", None)  # "no such token" is cached too
    assert cache.get("b") == (True, None) and cache.get("a") == (True, "alice")  # "a" used last
    cache.put("c", "carol")  # over the bound: the least recently used ("b") goes
    assert cache.get("b") == (False, None) and cache.get("a") == (True, "alice")
    now[0] = 10.0
    assert cache.get("a") == (False, None)


class _Reply:
    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.data, self.headers = data, headers


class _CountingClient:
    """Stands in for NATS: answers verify after the test lets it, counting the calls."""

    def __init__(self, gate: asyncio.Event, fail: bool = False) -> None:
        self.calls = 0
        self.gate = gate
        self.fail = fail

    async def request(self, subject: str, payload: bytes, **kw: Any) -> _Reply:
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise nats.errors.NoRespondersError
        return _Reply(b'{"owner":"dave","token_id":1,"name":"x"}')


async def test_concurrent_requests_with_one_new_token_ask_the_registry_once() -> None:
    gate = asyncio.Event()
    client = _CountingClient(gate)
    auth = Authenticator(load_settings({"AUTH_MODE": "token"}), lambda: client)  # type: ignore[arg-type,return-value]
    token_hash = hash_token(new_token())
    waiting = [asyncio.create_task(auth._verify(token_hash)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == ["dave"] * 20
    assert client.calls == 1
    assert await auth._verify(token_hash) == "dave" and client.calls == 1  # cached now


async def test_a_failed_verify_is_not_cached() -> None:
    gate = asyncio.Event()
    gate.set()
    client = _CountingClient(gate, fail=True)
    auth = Authenticator(load_settings({"AUTH_MODE": "token"}), lambda: client)  # type: ignore[arg-type,return-value]
    token_hash = hash_token(new_token())
    for _ in range(2):
        with pytest.raises(Exception, match="cannot be checked"):
            await auth._verify(token_hash)
    assert client.calls == 2


async def test_a_refused_upload_is_not_read_and_its_connection_closes(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        status, body, headers = await call("POST", url + "/api/programs/", json={**PROGRAM, "code": "x" * 500_000})
    assert status == 401, body
    assert headers.get("Connection", "").lower() == "close"
