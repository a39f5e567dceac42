"""`GET /openapi.json` and `GET /docs`: the API's description and Swagger UI, served by the gateway.

The document is generated once per app from the route table (`openapi.build_openapi`) and served as
bytes. Swagger UI 5 comes from vendored files (`static/swagger/`, see its README): no CDN, so the docs
work offline and behind a firewall. Only the named assets are served (no directory listing, no paths
from the client), each with a long cache lifetime since a new version changes the package anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from services.gateway.openapi import SpecOptions, build_openapi

STATIC = Path(__file__).parent / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (STATIC / "swagger" / "swagger-ui-bundle.js", "application/javascript"),
    "swagger-ui.css": (STATIC / "swagger" / "swagger-ui.css", "text/css"),
    "docs.js": (STATIC / "docs.js", "application/javascript"),
    "LICENSE": (STATIC / "swagger" / "LICENSE", "text/plain"),
}
_JSON = "application/json"
_ASSET_CACHE = "public, max-age=86400"


def add_docs(app: web.Application, options: SpecOptions | None = None) -> None:
    """Register `/openapi.json`, `/docs` and `/docs/assets/{name}` on `app`."""
    spec = json.dumps(build_openapi(options=options), separators=(",", ":")).encode()
    page = (STATIC / "docs.html").read_bytes()
    assets = {name: (path.read_bytes(), content_type) for name, (path, content_type) in ASSETS.items()}

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(body=spec, content_type=_JSON)

    async def docs(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(body=body, content_type=content_type, headers={"Cache-Control": _ASSET_CACHE})

    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs)
    app.router.add_get("/docs/", docs)
    app.router.add_get("/docs/assets/{name}", asset)
