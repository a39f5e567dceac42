"""Security headers on every kind of response, and CORS: off by default, exact origins when listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.gateway.security import API_CSP, PAGE_CSP
from shared.settings import Settings, SettingsError, load_settings
from tests.api.auth_fixtures import PROGRAM, call, gateway, make_token, security_bus

__all__ = ["security_bus"]

GATEWAY = Path(__file__).parents[2] / "services" / "gateway"
ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
APP = "https://app.example.com"


def _has_basics(headers: object, what: str) -> None:
    for name, value in ALWAYS.items():
        assert headers.get(name) == value, (what, name)  # type: ignore[attr-defined]
    csp = headers.get("Content-Security-Policy", "")  # type: ignore[attr-defined]
    assert "frame-ancestors 'none'" in csp, what


async def test_every_kind_of_response_carries_the_headers(security_bus: Settings) -> None:
    token, _ = await make_token(security_bus, "hdr")
    async with gateway(security_bus) as url:
        cases = {
            "api reply": ("GET", "/api/programs/", token, 200),
            "api create": ("POST", "/api/programs/", token, 201),
            "401": ("GET", "/api/programs/", None, 401),
            "404": ("GET", "/no/such/path", None, 404),
            "405": ("DELETE", "/healthz", None, 405),
            "health": ("GET", "/healthz", None, 200),
        }
        for what, (method, path, sent_token, expected) in cases.items():
            body = PROGRAM if method == "POST" else None
            status, _, headers = await call(method, url + path, token=sent_token, json=body)
            assert status == expected, what
            _has_basics(headers, what)
            assert headers["Content-Security-Policy"] == API_CSP, what
            assert headers["Cache-Control"] == "no-store", what
        for path in ("/", "/docs"):
            status, _, headers = await call("GET", url + path)
            assert status == 200 and headers["Content-Type"].startswith("text/html"), path
            _has_basics(headers, path)
            assert "script-src 'self'" in headers["Content-Security-Policy"], path
            assert "unsafe-eval" not in headers["Content-Security-Policy"], path


@pytest.mark.parametrize("page", [GATEWAY / "static" / "docs.html", GATEWAY / "web" / "index.html"])
def test_the_pages_need_no_inline_script(page: Path) -> None:
    """The CSP allows scripts from files only: a page with an inline script would break under it."""
    if not page.exists():
        pytest.skip(f"{page.name} is not there")
    html = page.read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, page
    for attributes, content in scripts:
        assert "src=" in attributes and not content.strip(), (page, attributes)
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), "inline event handlers are inline script"


def test_the_page_policy_allows_only_this_origin() -> None:
    directives = dict(item.strip().split(" ", 1) for item in PAGE_CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


async def test_cors_is_off_by_default(security_bus: Settings) -> None:
    async with gateway(security_bus) as url:
        status, _, headers = await call("GET", url + "/healthz", headers={"Origin": APP})
        assert status == 200 and "Access-Control-Allow-Origin" not in headers
        status, _, headers = await call(
            "OPTIONS", url + "/api/programs/", headers={"Origin": APP, "Access-Control-Request-Method": "POST"}
        )
        assert "Access-Control-Allow-Origin" not in headers


async def test_listed_origins_get_cors_and_others_do_not(security_bus: Settings) -> None:
    token, _ = await make_token(security_bus, "cors")
    async with gateway(security_bus, cors_origins=f"{APP}, http://localhost:5173") as url:
        # a preflight comes without credentials, even in token mode, and is answered here
        status, _, headers = await call(
            "OPTIONS", url + "/api/programs/",
            headers={"Origin": APP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == APP
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert "Authorization" in headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in headers
        status, _, headers = await call("GET", url + "/api/programs/", token=token, headers={"Origin": APP})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == APP and "Origin" in headers["Vary"]
        assert "X-Next-Cursor" in headers["Access-Control-Expose-Headers"]
        status, body, headers = await call("GET", url + "/api/programs/", headers={"Origin": APP})
        assert status == 401 and headers["Access-Control-Allow-Origin"] == APP  # the page can read why
        for other in ("https://evil.example.com", "https://app.example.com.evil.com", "null"):
            status, _, headers = await call("GET", url + "/api/programs/", token=token, headers={"Origin": other})
            assert status == 200 and "Access-Control-Allow-Origin" not in headers, other
            status, body, headers = await call(
                "OPTIONS", url + "/api/programs/", headers={"Origin": other, "Access-Control-Request-Method": "GET"}
            )
            assert status == 403 and body["error"]["code"] == "forbidden", other
            assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("value", ["*", "https://*.example.com", "app.example.com", "https://app.example.com/path", "ftp://x.y"])
def test_a_wildcard_or_a_non_origin_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings({"CORS_ORIGINS": value})
