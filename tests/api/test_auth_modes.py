"""`AUTH_MODE=none` (one local user) and `AUTH_MODE=proxy` (`X-Owner` from trusted networks only)."""

from __future__ import annotations

import pytest

from services.gateway.auth import Authenticator
from shared.settings import Settings, SettingsError, load_settings
from tests.api.auth_fixtures import PROGRAM, call, gateway, security_bus

__all__ = ["security_bus"]


async def test_none_mode_acts_as_local_whatever_the_headers_say(security_bus: Settings) -> None:
    async with gateway(security_bus, auth_mode="none") as url:
        status, created, _ = await call("POST", url + "/api/programs/", json=PROGRAM, headers={"X-Owner": "mallory"})
        assert status == 201, created
        # no token, another X-Owner: still `local`, so the program is there
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", headers={"X-Owner": "someone-else"})
        assert status == 200 and body["id"] == created["id"]
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", headers={"Authorization": "Bearer junk"})
        assert status == 200, body
    async with gateway(security_bus, auth_mode="proxy", trusted_proxy_cidrs="127.0.0.0/8") as url:
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", headers={"X-Owner": "local"})
        assert status == 200, body  # it was stored for owner `local`
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", headers={"X-Owner": "mallory"})
        assert status == 404, body


async def test_none_mode_says_so_loudly_at_start_up(security_bus: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    async with gateway(security_bus, auth_mode="none"):
        pass
    assert "AUTH_MODE=none: NO AUTHENTICATION" in capsys.readouterr().err


async def test_proxy_mode_trusts_x_owner_from_its_networks(security_bus: Settings) -> None:
    async with gateway(security_bus, auth_mode="proxy", trusted_proxy_cidrs="10.0.0.0/8, 127.0.0.1/32") as url:
        status, created, _ = await call("POST", url + "/api/programs/", json=PROGRAM, headers={"X-Owner": "erin"})
        assert status == 201, created
        status, body, _ = await call("GET", url + f"/api/programs/{created['id']}", headers={"X-Owner": "frank"})
        assert status == 404, body
        status, body, headers = await call("GET", url + "/api/programs/")
        assert status == 401 and body["error"]["details"]["reason"] == "missing" and "WWW-Authenticate" in headers
        status, body, _ = await call("GET", url + "/api/programs/", headers={"X-Owner": "has space"})
        assert status == 400 and body["error"]["details"]["field"] == "X-Owner"
        status, body, _ = await call("GET", url + "/healthz")
        assert status == 200


async def test_proxy_mode_refuses_peers_outside_its_networks(security_bus: Settings) -> None:
    async with gateway(security_bus, auth_mode="proxy", trusted_proxy_cidrs="10.0.0.0/8") as url:
        status, body, _ = await call("GET", url + "/api/programs/", headers={"X-Owner": "erin", "X-Forwarded-For": "10.1.2.3"})
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized" and body["error"]["details"]["reason"] == "untrusted_peer"


async def test_proxy_mode_without_networks_trusts_nobody(security_bus: Settings) -> None:
    async with gateway(security_bus, auth_mode="proxy") as url:
        status, body, _ = await call("GET", url + "/api/programs/", headers={"X-Owner": "erin"})
    assert status == 401, body


@pytest.mark.parametrize(
    ("remote", "trusted"),
    [("127.0.0.1", True), ("::ffff:127.0.0.1", True), ("10.9.8.7", True), ("::1", False), ("192.168.1.1", False),
     ("fe80::1%eth0", False), ("not-an-ip", False), (None, False), ("", False)],
)
def test_peer_addresses_are_matched_exactly(remote: str | None, trusted: bool) -> None:
    auth = Authenticator(load_settings({"AUTH_MODE": "proxy", "TRUSTED_PROXY_CIDRS": "127.0.0.0/8,10.0.0.0/8"}), lambda: None)  # type: ignore[arg-type,return-value]
    assert auth._trusted(remote) is trusted


@pytest.mark.parametrize(
    ("env", "named"),
    [({"AUTH_MODE": "tokens"}, "AUTH_MODE"), ({"TRUSTED_PROXY_CIDRS": "10.0.0.0/8,10.0.0.300/32"}, "TRUSTED_PROXY_CIDRS"),
     ({"RATE_LIMIT_PER_S": "-1"}, "RATE_LIMIT_PER_S"), ({"TOKEN_CACHE_TTL_S": "0"}, "TOKEN_CACHE_TTL_S")],
)
def test_bad_settings_stop_start_up_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_the_default_mode_is_token() -> None:
    assert load_settings({}).auth_mode == "token"


def test_hyperoru_up_is_single_user_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperoru.embedded import local_auth_mode

    monkeypatch.delenv("AUTH_MODE", raising=False)
    assert local_auth_mode() == "none"
    monkeypatch.setenv("AUTH_MODE", "token")
    assert local_auth_mode() == "token"
