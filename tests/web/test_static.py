"""The web page's files as the gateway serves them: types, caching, compression, nothing outside the
folder, and the page weight (a count of bytes, not a time)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import aiohttp
import pytest

from services.gateway.web import WEB_ROOT, load_files, total_bytes
from tests.web.conftest import WebPlatform

PAGE_WEIGHT_LIMIT = 1_500_000
"""All assets, uncompressed (issue 13)."""


def test_page_weight_is_under_the_limit() -> None:
    files = load_files()
    weight = total_bytes(files)
    print(f"\npage weight: {weight:,} bytes uncompressed in {len(files)} files "
          f"({sum(len(f.gzipped or f.body) for f in files.values()):,} gzipped)")
    assert "index.html" in files and "app.js" in files and "vendor/lightweight-charts-5.2.1.mjs" in files
    assert weight < PAGE_WEIGHT_LIMIT


def test_every_module_the_page_imports_is_served() -> None:
    """A typo in an import path would only show in a browser: check each relative import resolves."""
    files = load_files()
    for name in [n for n in files if n.endswith(".js")]:
        text = (WEB_ROOT / name).read_text()
        for target in re.findall(r"""(?:from|import)\s*\(?\s*["'](\./[^"']+)["']""", text):
            resolved = (Path(name).parent / target).as_posix().removeprefix("./")
            assert resolved in files, f"{name} imports {target}, which is not served"


def test_nothing_is_fetched_from_another_origin() -> None:
    """Works offline: no http(s) URL is loaded by the page (links in the footer are links, not loads)."""
    for name, item in load_files().items():
        if name.startswith("vendor/") or not name.endswith((".html", ".js", ".css")):
            continue
        text = item.body.decode()
        assert not re.search(r"""(?:src|href)=["']https?://(?!www\.tradingview\.com/)""", text), name
        assert not re.search(r"""(?:import|fetch|url)\s*\(?\s*["']https?://""", text), name


async def test_gateway_serves_the_page_with_types_caching_and_compression(web_platform: WebPlatform) -> None:
    base = web_platform.base_url
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(base + "/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert response.headers["Cache-Control"] == "no-cache"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            etag = response.headers["ETag"]
            body = await response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            assert b'<script type="module" src="/ui/app.js">' in body
        async with session.get(base + "/", headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        async with session.get(base + "/ui/app.js", headers={"Accept-Encoding": "gzip"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await response.read()) == (WEB_ROOT / "app.js").read_bytes()
        async with session.get(base + "/ui/vendor/lightweight-charts-5.2.1.mjs", headers={"Accept-Encoding": "identity"}) as response:
            assert response.status == 200
            assert "immutable" in response.headers["Cache-Control"]
            assert "Content-Encoding" not in response.headers
            assert (await response.read()).startswith(b"/*!\n * @license\n * TradingView Lightweight Charts")
        async with session.get(base + "/ui/styles.css") as response:
            assert response.headers["Content-Type"] == "text/css; charset=utf-8"
        for path in ("/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/nope.js", "/ui/", "/ui/vendor"):
            async with session.get(base + path) as response:
                assert response.status == 404, path
                assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/", "/ui/app.js"])
async def test_the_page_is_public_while_the_api_asks_for_a_token(web_platform: WebPlatform, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(web_platform.base_url + path) as response:
            assert response.status == 200
        async with session.get(web_platform.base_url + "/api/programs/") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
