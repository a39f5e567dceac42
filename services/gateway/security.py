"""Browser-facing protections: security headers on every response, and CORS for listed origins only.

Headers are added in `on_response_prepare`, so every response the app sends gets them (API replies,
error envelopes, 404s, the web page, Swagger UI, static files) however it was made. A handler that sets
its own value keeps it (the web page sets its own CSP). API replies are `Cache-Control: no-store`: they
are per-owner data and must not sit in a shared cache or the browser's disk cache.

The CSP for HTML pages allows only this origin: scripts from files (no inline script, no eval: the web
page is plain ES modules and Swagger UI is loaded from `/docs/assets/`), inline *styles* (charts and
Swagger UI set element styles), images from data:/blob: URLs (Swagger UI's icons), API calls to this
origin only, and no framing (clickjacking): `frame-ancestors 'none'` plus `X-Frame-Options: DENY` for
older browsers. Non-HTML responses get `default-src 'none'`: a JSON reply opened as a document runs
nothing.

CORS is off unless `CORS_ORIGINS` lists exact origins. Then a listed origin gets
`Access-Control-Allow-Origin: <that origin>` (never `*`) with `Vary: Origin`, and its preflights are
answered here (before authentication: browsers send preflights without credentials). No
`Access-Control-Allow-Credentials`: the API authenticates with a bearer header, never cookies, so a
cross-origin page can only act with a token it was given. Preflights from other origins get a 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping

import msgspec
from aiohttp import web

from services.gateway.requests import printable
from shared.errors import ErrorBody, ErrorEnvelope
from shared.netcheck import parse_origins
from shared.settings import Settings

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, X-Request-ID"
CORS_EXPOSED_HEADERS = "X-Request-ID, X-Next-Cursor, Retry-After, WWW-Authenticate"
CORS_MAX_AGE_S = 600

_encode = msgspec.json.Encoder().encode


def json_error(
    status: int, code: str, message: str, details: object = None, headers: dict[str, str] | None = None
) -> web.Response:
    """The gateway's error envelope (`app.error_response` is this function)."""
    try:
        body = _encode(ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details)))
    except (msgspec.EncodeError, UnicodeEncodeError, TypeError):  # text the client sent that is not valid UTF-8
        body = _encode(ErrorEnvelope(error=ErrorBody(code=code, message=printable(message, 500))))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def set_security_headers(headers: MutableMapping[str, str], content_type: str, *, api: bool = False) -> None:
    """The security headers of one response (values already set are kept). The one source of the set:
    the app's responses get it in `add_security_headers`, the parser-error answers that never reach the
    app get it in `server.py`."""
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", PAGE_CSP if content_type.startswith("text/html") else API_CSP)
    if api or content_type == "application/json":
        headers.setdefault("Cache-Control", "no-store")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    set_security_headers(response.headers, response.content_type or "", api=is_api(request.path))


def _cors_signal(origins: frozenset[str]) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.add("Vary", "Origin")  # the answer depends on it: caches must keep them apart
        origin = request.headers.get("Origin", "").lower()
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS

    return add_cors_headers


def _preflight(origins: frozenset[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def cors_preflight(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return await handler(request)
        origin = request.headers.get("Origin", "").lower()
        if origin not in origins:
            return json_error(403, "forbidden", "this origin may not call the API from a browser (see CORS_ORIGINS)")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
            },
        )

    return cors_preflight


def install_security(app: web.Application, settings: Settings) -> None:
    """Security headers always; CORS when `CORS_ORIGINS` lists origins. Call before the app starts."""
    app.on_response_prepare.append(add_security_headers)
    origins = parse_origins(settings.cors_origins)
    if origins:
        app.middlewares.insert(0, _preflight(origins))
        app.on_response_prepare.append(_cors_signal(origins))
