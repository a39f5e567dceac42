"""The HTTP gateway: aiohttp app factory, request id and error middleware, NATS forwarding, health.

The gateway owns no data. For each route of the route table it builds the request message, sends it
to the owning service over NATS request/reply, and passes the reply through (no re-encoding: the
service's JSON is already the response body). Errors of every kind leave as the same JSON envelope,
including aiohttp's own parser errors (see `server.py`).

It never lets one request cost the others their connection: a message that would not fit on the bus
(body plus headers over the server's `max_payload`, or over `MAX_MESSAGE_BYTES`) is a 413 before
anything is published, any publish error is a 4xx/503 for that request only, and the NATS connection
itself is supervised (`shared.runtime.NatsConnection`): if nats-py ever closes it, a new one replaces
it, and `/readyz` says not ready meanwhile.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import nats.errors
import structlog
from aiohttp import web
from nats.aio.client import Client
from nats.micro.request import ERROR_CODE_HEADER

from services.gateway.auth import admit, install_auth, spec_options
from services.gateway.body import BODY_UNREAD, read_body
from services.gateway.metrics import install_metrics, observe_nats
from services.gateway.ratelimit import retry_after
from services.gateway.docs import add_docs
from services.gateway.requests import RequestBuilder, printable
from services.gateway.routes import ROUTES, Route
from services.gateway.security import install_security, json_error
from services.gateway.web import add_web_routes
from shared import subjects
from shared.context import now_ms
from shared.errors import (
    AppError,
    BadRequest,
    ErrorEnvelope,
    GatewayTimeout,
    PayloadTooLarge,
    Unavailable,
)
from shared.limits import MAX_MESSAGE_BYTES
from shared.messages.health import Health
from shared.paging import NEXT_CURSOR_HEADER
from shared.runtime import NatsConnection
from shared.settings import Settings

log = structlog.get_logger()

SETTINGS_KEY = web.AppKey("settings", Settings)
BUS_KEY = web.AppKey("bus", NatsConnection)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
OWNER_KEY = web.RequestKey("owner", str)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JSON = "application/json"

# HTTP errors aiohttp raises itself (unknown route, wrong method, body too large) → our codes.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


error_response = json_error  # one builder of the envelope (security.py), under the name the app's code uses


@web.middleware
async def request_context(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Accept or make the request id, check the owner, log one line per request, echo the id back.

    Nothing the client sent is logged or bound before it is checked: a header that is not UTF-8 must
    not break the log line (that was a 500).
    """
    request_id = request.headers.get(subjects.REQUEST_ID_HEADER, "")
    if not _REQUEST_ID.match(request_id):
        request_id = uuid.uuid4().hex
    owner = await admit(request)  # AUTH_MODE and the rate limit: the owner, or a 400/401/429/503 (auth.py)
    structlog.contextvars.bind_contextvars(request_id=request_id, owner=owner if isinstance(owner, str) else None)
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    if isinstance(owner, web.Response):
        response: web.StreamResponse = owner
    else:
        request[OWNER_KEY] = owner
        response = await _with_error_envelope(request, handler)
        if request.get(BODY_UNREAD):
            response.force_close()
    response.headers[subjects.REQUEST_ID_HEADER] = request_id
    log.info(
        "http_request",
        method=printable(request.method, 20),
        path=printable(request.path, 200),
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
        return _http_error(request, exc)
    except Exception:
        log.exception("http_request_failed")
        return error_response(500, "internal", "internal error")


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal")
    message, details, headers = exc.reason, None, None
    if exc.status == 404:
        message = f"no route {printable(request.method, 20)} {printable(request.path, 200)}"
    elif exc.status == 405:
        allow = exc.headers.get("Allow", "")
        headers = {"Allow": allow}
        message = f"{printable(request.method, 20)} is not allowed here; allowed: {allow or 'none'}"
        details = {"allowed": [m for m in allow.split(",") if m]}
    elif exc.status == 413:
        limit = request.app[SETTINGS_KEY].max_body_bytes
        message = f"the request body is larger than the limit of {limit} bytes"
        details = {"limit": "body_bytes", "max": limit}
    return error_response(exc.status, code, message, details, headers)


class Forwarder:
    """Sends a route's message to its service and maps the reply envelope to an HTTP response."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.builder = RequestBuilder(route.request, method=route.method, query=route.query)
        self._encode = msgspec.json.Encoder().encode

    async def handle(self, request: web.Request) -> web.Response:
        raw = await read_body(request, self.route.text_body is not None)
        message = self.builder.build(raw, request.match_info, request.query, text_field=self.route.text_body)
        payload = encode_message(self._encode, message)
        settings = request.app[SETTINGS_KEY]
        nc = request.app[BUS_KEY].client
        headers = {
            subjects.REQUEST_ID_HEADER: request[REQUEST_ID_KEY],
            subjects.OWNER_HEADER: request[OWNER_KEY],
            subjects.DEADLINE_HEADER: str(now_ms() + int(settings.request_timeout_s * 1000)),
        }
        check_fits(payload, headers, nc)
        sent = time.perf_counter()
        try:
            with bus_errors(self.route.subject, settings.request_timeout_s):
                reply = await nc.request(self.route.subject, payload, timeout=settings.request_timeout_s, headers=headers)
        finally:
            observe_nats(request.app, self.route.subject, time.perf_counter() - sent)  # /metrics (metrics.py)
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            status = error_status(reply.headers[ERROR_CODE_HEADER])
            response = web.Response(status=status, body=reply.data, content_type=_JSON)
            if status == 503:
                _retry_after(response, reply.data)
            return response
        if self.route.status == 204:
            return web.Response(status=204)
        if self.route.paged:
            return _page_response(reply.data, self.route.status)
        return web.Response(status=self.route.status, body=reply.data, content_type=_JSON)


def encode_message(encode: Callable[[Any], bytes], message: Any) -> bytes:
    """The message as JSON, or the 400 for a body no JSON encoder can write."""
    try:
        return encode(message)
    except (msgspec.EncodeError, UnicodeEncodeError):  # e.g. a JSON "\ud800": a lone surrogate is no text
        raise BadRequest("the body holds a string that is not valid Unicode (an unpaired surrogate)") from None


@contextmanager
def bus_errors(subject: str, answer_s: float) -> Iterator[None]:
    """A failed publish or request to `subject` as this request's own 4xx/503/504, never fatal to the
    connection; `answer_s` is the wait the 504 names."""
    try:
        yield
    except nats.errors.NoRespondersError:
        raise Unavailable(f"no service is answering `{subject}` right now; retry shortly") from None
    except nats.errors.TimeoutError:
        raise GatewayTimeout(f"`{subject}` did not answer within {answer_s:g} s") from None
    except nats.errors.MaxPayloadError:
        raise PayloadTooLarge("the request is larger than the message bus carries", details={"limit": "message_bytes"}) from None
    except nats.errors.Error:  # closed, reconnecting, draining, outbound buffer full: never fatal
        raise Unavailable("the message bus is not connected; retry shortly") from None


def check_fits(payload: bytes, headers: dict[str, str], nc: Client) -> None:
    """413 before publishing anything that would not fit: the server would drop the whole connection."""
    header_bytes = len("NATS/1.0\r\n\r\n") + sum(len(k) + len(v) + 4 for k, v in headers.items())
    limit = min(MAX_MESSAGE_BYTES, nc.max_payload - header_bytes)
    if len(payload) > limit:
        raise PayloadTooLarge(
            f"the request is {len(payload)} bytes once encoded, over the limit of {limit}",
            details={"limit": "message_bytes", "max": limit, "size": len(payload)},
        )


def error_status(text: str) -> int:
    try:
        status = int(text)
    except ValueError:
        return 502
    return status if 400 <= status <= 599 else 502


class _RawPage(msgspec.Struct):
    items: msgspec.Raw
    next_cursor: str | None = None


_page_decoder = msgspec.json.Decoder(_RawPage)
_envelope_decoder = msgspec.json.Decoder(ErrorEnvelope)


def _retry_after(response: web.Response, data: bytes) -> None:
    """A service that says when to retry (`details.retry_after_s`, e.g. all workers busy) gets the
    standard `Retry-After` header too, in whole seconds."""
    try:
        details = _envelope_decoder.decode(data).error.details
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    seconds = details.get("retry_after_s") if isinstance(details, dict) else None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
        response.headers["Retry-After"] = retry_after(seconds)


def _page_response(data: bytes, status: int) -> web.Response:
    """A list route: the page's items are the body (the reference's JSON array, passed through as the
    service encoded it), the cursor a header."""
    listed = _page_decoder.decode(data)
    response = web.Response(status=status, body=bytes(listed.items), content_type=_JSON)
    if listed.next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = listed.next_cursor
    return response


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about dependencies (that is /readyz)."""
    return web.json_response({"status": "ok"})


class _EndpointInfo(msgspec.Struct):
    subject: str


class _ServiceInfo(msgspec.Struct):
    version: str = ""
    description: str = ""
    endpoints: list[_EndpointInfo] | None = None


READY_STATES = frozenset({"ok", "idle"})


async def _service_state(nc: Client, service: str) -> dict[str, Any]:
    """One service as `/readyz` shows it: state, version, the subjects it serves, its dependencies."""
    try:
        await nc.request(subjects.ping(service), b"", timeout=1.0)
        info = msgspec.json.decode((await nc.request(subjects.info(service), b"", timeout=1.0)).data, type=_ServiceInfo)
        reply = await nc.request(subjects.health(service), b"{}", timeout=1.0, headers={subjects.OWNER_HEADER: "readyz"})
        health = msgspec.json.decode(reply.data, type=Health)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return {"status": "missing"}
    except (nats.errors.Error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        return {"status": "error", "error": type(exc).__name__}
    endpoints = sorted(e.subject for e in info.endpoints or () if e.subject != subjects.health(service))
    if health.status != "ok":
        status = "degraded: " + ", ".join(f"{name} {state}" for name, state in health.checks.items() if state != "ok")
    elif not endpoints:
        status = "idle"  # running and healthy, but serves nothing yet (no endpoint besides its health check)
    else:
        status = "ok"
    return {
        "status": status,
        "version": info.version,
        "serves": endpoints if endpoints else "nothing yet: no endpoints besides its health check",
        "checks": health.checks,
    }


async def readyz(request: web.Request) -> web.Response:
    """Ready: NATS is connected, every service answered its `$SRV.PING` and `$SRV.INFO` within a second,
    and none reports a dependency (its store) down.

    `services` maps each service to one word (`ok`, `idle` = healthy but serving no endpoints yet,
    `missing`, `error`, or `degraded: store …`); `details` shows per service its version, the subjects
    it serves (from `$SRV.INFO`) and its dependency checks.

    `?scope=gateway` asks only whether this gateway replica can route (its NATS connection is up): the
    Kubernetes readiness probe, so one missing service does not take every gateway out of its Service.
    """
    scope = request.query.get("scope", "platform")
    if scope not in ("platform", "gateway") or len(request.query) > 1:
        return error_response(422, "invalid_request", "`scope` is `platform` (the default) or `gateway`", {"field": "scope"})
    bus = request.app[BUS_KEY]
    if not bus.is_connected:
        body = {"status": "not_ready", "nats": "disconnected", "services": {name: "unknown" for name in subjects.SERVICES}}
        return web.json_response(body, status=503)
    if scope == "gateway":  # this replica can route requests; whether services answer is not its readiness
        return web.json_response({"status": "ready", "nats": "connected", "scope": "gateway"})
    states = await asyncio.gather(*(_service_state(bus.client, name) for name in subjects.SERVICES))
    details = dict(zip(subjects.SERVICES, states, strict=True))
    services = {name: state["status"] for name, state in details.items()}
    ready = all(status in READY_STATES for status in services.values())
    body = {"status": "ready" if ready else "not_ready", "nats": "connected", "services": services, "details": details}
    return web.json_response(body, status=200 if ready else 503)


def add_routes(app: web.Application) -> None:
    from services.gateway.streams import StreamingForwarder  # here, not at the top: streams.py imports this module

    for route in ROUTES:
        handler = StreamingForwarder(route).handle if route.streams else Forwarder(route).handle
        base = route.path.rstrip("/")
        app.router.add_route(route.method, base, handler)
        app.router.add_route(route.method, base + "/", handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


def init_app(settings: Settings, nc: Client | None = None) -> web.Application:
    """The app factory. Tests pass their own NATS connection; production connects (and keeps
    reconnecting, for ever) here. Serve it with `services.gateway.server.GatewayRunner`."""
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings

    async def nats_connection(app: web.Application) -> AsyncIterator[None]:
        bus = NatsConnection(settings, "gateway") if nc is None else NatsConnection.adopt(nc, settings, "gateway")
        await bus.start()
        app[BUS_KEY] = bus
        yield
        await bus.close()

    app.cleanup_ctx.append(nats_connection)
    add_routes(app)
    install_security(app, settings)  # security headers, CORS (security.py)
    install_auth(app, settings, lambda: app[BUS_KEY].client)  # AUTH_MODE, rate limit (auth.py)
    install_metrics(app, settings, lambda: app[BUS_KEY].client if BUS_KEY in app else None)  # /metrics (metrics.py)
    add_docs(app, spec_options(settings))  # /openapi.json and /docs: the bearer scheme in token mode
    add_web_routes(app)  # the web page at / and /ui/ (services/gateway/web.py)
    return app
