"""The HTTP gateway: aiohttp app factory, request id and error middleware, NATS forwarding, health.

The gateway owns no data. For each route of the route table it builds the request message, sends it
to the owning service over NATS request/reply, and passes the reply through (no re-encoding: the
service's JSON is already the response body). Errors of every kind leave as the same JSON envelope.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import nats.errors
import structlog
from aiohttp import BodyPartReader, web
from nats.aio.client import Client
from nats.micro.request import ERROR_CODE_HEADER

from services.gateway.requests import RequestBuilder
from services.gateway.routes import ROUTES, Route
from shared import subjects
from shared.errors import AppError, BadRequest, ErrorBody, ErrorEnvelope, GatewayTimeout, Unavailable
from shared.messages.health import Health
from shared.runtime import connect_nats
from shared.settings import Settings

log = structlog.get_logger()

SETTINGS_KEY = web.AppKey("settings", Settings)
NATS_KEY = web.AppKey("nats", Client)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
OWNER_KEY = web.RequestKey("owner", str)

DEFAULT_OWNER = "local"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OWNER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_JSON = "application/json"
_envelope_encoder = msgspec.json.Encoder()

# HTTP errors aiohttp raises itself (unknown route, wrong method, body too large) → our codes.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(status: int, code: str, message: str, details: object = None) -> web.Response:
    envelope = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details))
    return web.Response(status=status, body=_envelope_encoder.encode(envelope), content_type=_JSON)


@web.middleware
async def request_context(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Accept or make the request id, resolve the owner, log one line per request, echo the id back."""
    request_id = request.headers.get(subjects.REQUEST_ID_HEADER, "")
    if not _REQUEST_ID.match(request_id):
        request_id = uuid.uuid4().hex
    owner = request.headers.get(subjects.OWNER_HEADER) or DEFAULT_OWNER
    structlog.contextvars.bind_contextvars(request_id=request_id, owner=owner)
    request[REQUEST_ID_KEY] = request_id
    request[OWNER_KEY] = owner
    started = time.perf_counter()
    if not _OWNER.match(owner):
        response: web.StreamResponse = error_response(
            400, "bad_request", f"the {subjects.OWNER_HEADER} header must be 1-64 letters, digits or ._@-"
        )
    else:
        response = await _with_error_envelope(request, handler)
    response.headers[subjects.REQUEST_ID_HEADER] = request_id
    log.info(
        "http_request",
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return response


async def _with_error_envelope(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal")
        message = exc.reason if exc.status != 413 else "the request body is larger than the limit"
        if exc.status == 404:
            message = f"no route {request.method} {request.path}"
        return error_response(exc.status, code, message)
    except Exception:
        log.exception("http_request_failed")
        return error_response(500, "internal", "internal error")


class Forwarder:
    """Sends a route's message to its service and maps the reply envelope to an HTTP response."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.builder = RequestBuilder(route.request)
        self._encode = msgspec.json.Encoder().encode

    async def handle(self, request: web.Request) -> web.Response:
        raw = await _read_body(request, self.route.text_body is not None)
        message = self.builder.build(raw, request.match_info, request.query, text_field=self.route.text_body)
        settings = request.app[SETTINGS_KEY]
        nc = request.app[NATS_KEY]
        try:
            reply = await nc.request(
                self.route.subject,
                self._encode(message),
                timeout=settings.request_timeout_s,
                headers={subjects.REQUEST_ID_HEADER: request[REQUEST_ID_KEY], subjects.OWNER_HEADER: request[OWNER_KEY]},
            )
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no service is answering `{self.route.subject}` right now; retry shortly") from None
        except nats.errors.TimeoutError:
            raise GatewayTimeout(f"`{self.route.subject}` did not answer within {settings.request_timeout_s:g} s") from None
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError, nats.errors.ConnectionDrainingError):
            raise Unavailable("the message bus is not connected; retry shortly") from None
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            status = int(reply.headers[ERROR_CODE_HEADER])
            return web.Response(status=status, body=reply.data, content_type=_JSON)
        if self.route.status == 204:
            return web.Response(status=204)
        return web.Response(status=self.route.status, body=reply.data, content_type=_JSON)


async def _read_body(request: web.Request, upload: bool) -> bytes:
    """The body; for upload routes a multipart form's first file (or field) is taken as the body."""
    if not request.body_exists:
        return b""
    if upload and request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader):
                return bytes(await part.read(decode=True))
        raise BadRequest("the multipart form has no file part")
    return await request.read()


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about dependencies (that is /readyz)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: NATS is connected, every service answered its `$SRV.PING` within a second, and none
    reports a dependency (its store) down. Per service: `ok`, `missing`, or `degraded: store …`."""
    nc = request.app[NATS_KEY]
    if not nc.is_connected:
        body = {"status": "not_ready", "nats": "disconnected", "services": {name: "unknown" for name in subjects.SERVICES}}
        return web.json_response(body, status=503)

    async def ping(service: str) -> str:
        try:
            await nc.request(subjects.ping(service), b"", timeout=1.0)
            reply = await nc.request(subjects.health(service), b"{}", timeout=1.0, headers={subjects.OWNER_HEADER: "readyz"})
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return "missing"
        except nats.errors.Error:
            return "error"
        health = msgspec.json.decode(reply.data, type=Health)
        if health.status == "ok":
            return "ok"
        return "degraded: " + ", ".join(f"{name} {state}" for name, state in health.checks.items() if state != "ok")

    results = await asyncio.gather(*(ping(name) for name in subjects.SERVICES))
    services = dict(zip(subjects.SERVICES, results, strict=True))
    ready = all(result == "ok" for result in results)
    body = {"status": "ready" if ready else "not_ready", "nats": "connected", "services": services}
    return web.json_response(body, status=200 if ready else 503)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        handler = Forwarder(route).handle
        base = route.path.rstrip("/")
        app.router.add_route(route.method, base, handler)
        app.router.add_route(route.method, base + "/", handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


def init_app(settings: Settings, nc: Client | None = None) -> web.Application:
    """The app factory. Tests pass their own NATS connection; production connects here."""
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings

    async def nats_connection(app: web.Application) -> AsyncIterator[None]:
        if nc is not None:
            app[NATS_KEY] = nc
            yield
            return
        own = await connect_nats(settings, "gateway")
        app[NATS_KEY] = own
        yield
        await own.drain()

    app.cleanup_ctx.append(nats_connection)
    add_routes(app)
    return app

