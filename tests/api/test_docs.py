"""`/docs`: Swagger UI 5 from vendored files, nothing fetched from elsewhere, set up for a bearer token."""

from __future__ import annotations

import hashlib
import re

import aiohttp

from services.gateway.docs import STATIC
from tests.harness import RunningPlatform

SWAGGER = STATIC / "swagger"


async def _get(platform: RunningPlatform, path: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(platform.base_url + path) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def test_docs_page_loads_only_local_assets(platform: RunningPlatform) -> None:
    status, content_type, body = await _get(platform, "/docs")
    assert status == 200 and content_type.startswith("text/html")
    html = body.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from another origin: the docs work offline"
    assets = re.findall(r"(?:src|href)=\"(/docs/assets/[^\"]+)\"", html)
    assert set(assets) == {"/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/docs.js"}
    for asset in assets:
        status, content_type, data = await _get(platform, asset)
        assert status == 200 and data, asset
        assert content_type.startswith("text/css" if asset.endswith(".css") else "application/javascript")
    assert (await _get(platform, "/docs/"))[0] == 200


async def test_unknown_assets_are_404(platform: RunningPlatform) -> None:
    for name in ("nope.js", "..%2Fdocs.py", "README.md"):
        assert (await _get(platform, f"/docs/assets/{name}"))[0] == 404


def test_the_vendored_bundle_is_swagger_ui_5_with_its_licence_and_recorded_hashes() -> None:
    readme = (SWAGGER / "README.md").read_text()
    version = re.search(r"`swagger-ui-dist` \*\*(5\.\d+\.\d+)\*\*", readme).group(1)  # type: ignore[union-attr]
    bundle = (SWAGGER / "swagger-ui-bundle.js").read_bytes()
    assert f'"{version}"'.encode() in bundle
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((SWAGGER / name).read_bytes()).hexdigest()
        assert f"{name} `{digest}`" in readme, f"{name} differs from the recorded release"
    assert "Apache License" in (SWAGGER / "LICENSE").read_text()
    assert (SWAGGER / "NOTICE").exists()


async def test_the_ui_reads_our_document_and_keeps_the_bearer_token(platform: RunningPlatform) -> None:
    status, _, body = await _get(platform, "/docs/assets/docs.js")
    script = body.decode()
    assert status == 200
    assert 'url: "/openapi.json"' in script
    assert "persistAuthorization: true" in script
    assert (await _get(platform, "/openapi.json"))[0] == 200
