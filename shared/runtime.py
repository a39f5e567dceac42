"""The NATS service runner every service uses.

It owns the concerns no service should write twice: connecting (and reconnecting) to NATS, serving
`nats.micro` endpoints in the service's queue group so `$SRV.PING/INFO/STATS` discovery works,
decoding each request into its msgspec Struct, turning *any* exception into the error envelope
without leaking internals (nats.py's default micro error reply sends `repr(error)`), one log line per
request, publishing events to JetStream, and a clean drain on SIGTERM.

Handlers are `async def handler(request: SomeRequest, ctx: RequestContext) -> Reply | list | None`.
Each request runs in its own task (bounded by `max_concurrent_requests`), because nats.py runs a
subscription's callbacks one after another and one slow request must not queue the others.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.micro import add_service
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER, Request as MicroRequest
from nats.micro.service import Service as MicroService

from shared import subjects
from shared.context import RequestContext
from shared.errors import AppError, ErrorEnvelope, GatewayTimeout, Internal, Unavailable, from_envelope, validation_error
from shared.messages.base import Event
from shared.messages.health import Health, HealthQuery
from shared.settings import Settings
from shared.store import StoreUnavailableError

log = structlog.get_logger()

T = TypeVar("T")
Handler = Callable[[Any, "RequestContext"], Awaitable[Any]]

_encoder = msgspec.json.Encoder()
EVENTS_MAX_AGE_S = 30 * 24 * 3600.0


@dataclass(slots=True)
class _Endpoint:
    subject: str
    request_type: type
    handler: Handler
    decoder: msgspec.json.Decoder[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.decoder = msgspec.json.Decoder(self.request_type)


class EventPublisher:
    """Publishes events to the `EVENTS` stream with the event id as the de-duplication key."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(self, subject: str, event: Event) -> None:
        try:
            await self._js.publish(subject, _encoder.encode(event), headers={"Nats-Msg-Id": event.id})
        except Exception as exc:  # the write it reports on has happened; losing the event must not undo it
            log.error("event_publish_failed", subject=subject, event_id=event.id, error=str(exc))


async def ensure_events_stream(js: JetStreamContext) -> None:
    """Create the `EVENTS` stream if missing; every service calls this, so it must be idempotent."""
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_ALL],
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE_S,
        duplicate_window=120.0,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.stream_info(subjects.EVENTS_STREAM)  # exists with another config: keep it as it is


async def connect_nats(settings: Settings, name: str) -> Client:
    """Connect, retrying until NATS answers, then reconnect forever (crash-only: no manual step)."""

    async def on_disconnect() -> None:
        log.warning("nats_disconnected")

    async def on_reconnect() -> None:
        log.info("nats_reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    delay = 0.2
    while True:
        try:
            return await nats.connect(
                servers=settings.nats_url.split(","),
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=2,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
        except (OSError, nats.errors.NoServersError, asyncio.TimeoutError) as exc:
            log.warning("nats_connect_failed", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Service:
    """One service process: endpoints, resources, lifecycle."""

    def __init__(self, name: str, settings: Settings, *, version: str = "0.1.0", description: str = "") -> None:
        self.name = name
        self.settings = settings
        self.version = version
        self.description = description
        self.resources = AsyncExitStack()
        self._endpoints: list[_Endpoint] = []
        self._nc: Client | None = None
        self._owns_nc = False
        self._micro: MicroService | None = None
        self._events: EventPublisher | None = None
        self._health_checks: dict[str, Callable[[], Awaitable[None]]] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)
        self._inflight: set[asyncio.Task[None]] = set()

    def add(self, subject: str, request_type: type, handler: Handler) -> None:
        self._endpoints.append(_Endpoint(subject, request_type, handler))

    def add_health_check(self, name: str, check: Callable[[], Awaitable[None]]) -> None:
        """A dependency to report on at `<service>.health.check` (e.g. the store's ping)."""
        self._health_checks[name] = check

    async def _health(self, request: HealthQuery, ctx: RequestContext) -> Health:
        async def run(check: Callable[[], Awaitable[None]]) -> str:
            try:
                await asyncio.wait_for(check(), timeout=0.8)
            except Exception as exc:  # any failure of a dependency is "not ready", never a crash
                return "unavailable" if isinstance(exc, StoreUnavailableError | TimeoutError) else "error"
            return "ok"

        names = list(self._health_checks)
        results = await asyncio.gather(*(run(self._health_checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        return Health(status="ok" if all(r == "ok" for r in results) else "degraded", checks=checks)

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("service not started")
        return self._nc

    @property
    def events(self) -> EventPublisher:
        if self._events is None:
            raise RuntimeError("service not started")
        return self._events

    async def publish(self, subject: str, event: Event) -> None:
        await self.events.publish(subject, event)

    def client(self) -> ServiceClient:
        """A client for calling other services, valid once connected."""
        return ServiceClient(self.nc, self.settings.request_timeout_s)

    async def connect(self, nc: Client | None = None) -> None:
        """Connect (or adopt a connection, as tests do) and prepare JetStream; endpoints come later."""
        if nc is None:
            nc = await connect_nats(self.settings, self.name)
            self._owns_nc = True
        self._nc = nc
        js = nc.jetstream()
        await ensure_events_stream(js)
        self._events = EventPublisher(js)

    async def serve(self) -> None:
        """Register the micro service and its endpoints: from here on, requests arrive."""
        self._micro = await add_service(
            self.nc, name=self.name, version=self.version, description=self.description, queue_group=self.name
        )
        for endpoint in [*self._endpoints, _Endpoint(subjects.health(self.name), HealthQuery, self._health)]:
            await self._micro.add_endpoint(
                name=endpoint.subject.replace(".", "-"), subject=endpoint.subject, handler=self._wrap(endpoint)
            )
        log.info("service_started", endpoints=len(self._endpoints))

    async def stop(self) -> None:
        """Stop taking requests, finish the ones in flight, release resources, drain the connection."""
        if self._micro is not None:
            await self._micro.stop()
            self._micro = None
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=30)
        await self.resources.aclose()
        if self._nc is not None and self._owns_nc and not self._nc.is_closed:
            await self._nc.drain()
        log.info("service_stopped")

    async def run_until_signalled(self) -> None:
        """The production entry point: serve until SIGTERM/SIGINT, then stop cleanly."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await self.serve()
        await stopping.wait()
        log.info("service_stopping")
        await self.stop()

    def _wrap(self, endpoint: _Endpoint) -> Callable[[MicroRequest], Awaitable[None]]:
        async def dispatch(request: MicroRequest) -> None:
            task = asyncio.create_task(self._handle(endpoint, request))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        return dispatch

    async def _handle(self, endpoint: _Endpoint, request: MicroRequest) -> None:
        headers = request.headers or {}
        ctx = RequestContext(
            request_id=headers.get(subjects.REQUEST_ID_HEADER) or uuid.uuid4().hex,
            owner=headers.get(subjects.OWNER_HEADER) or "",
        )
        structlog.contextvars.bind_contextvars(request_id=ctx.request_id, owner=ctx.owner)
        started = time.perf_counter()
        async with self._slots:
            try:
                if not ctx.owner:
                    raise Internal("request without an owner header")
                message = endpoint.decoder.decode(request.data)
                reply = await endpoint.handler(message, ctx)
                body = b"" if reply is None else _encoder.encode(reply)
                outcome = "ok"
                await request.respond(body)
            except Exception as exc:  # every failure becomes an envelope; nothing reaches nats.py's default
                error = _as_app_error(exc)
                outcome = error.code
                if isinstance(error, Internal):
                    log.exception("request_failed", subject=endpoint.subject)
                await _respond_error(request, error)
        log.info(
            "request_handled",
            subject=endpoint.subject,
            outcome=outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )


class ServiceClient:
    """Calls another service's endpoint on behalf of the request being handled (same owner and request id)."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    async def request(self, subject: str, message: Any, reply_type: type[T], ctx: RequestContext) -> T:
        try:
            reply = await self._nc.request(
                subject,
                _encoder.encode(message),
                timeout=self._timeout,
                headers={subjects.REQUEST_ID_HEADER: ctx.request_id, subjects.OWNER_HEADER: ctx.owner},
            )
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no service is answering `{subject}` right now") from None
        except nats.errors.TimeoutError:
            raise GatewayTimeout(f"`{subject}` did not answer in time") from None
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            raise from_envelope(msgspec.json.decode(reply.data, type=ErrorEnvelope))
        return msgspec.json.decode(reply.data, type=reply_type)


def _as_app_error(exc: Exception) -> AppError:
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, msgspec.ValidationError):
        return validation_error(exc)
    if isinstance(exc, msgspec.DecodeError):
        return validation_error(msgspec.ValidationError(str(exc)))
    if isinstance(exc, StoreUnavailableError):
        return Unavailable("the store is unavailable, retry later")
    return Internal("internal error")


async def _respond_error(request: MicroRequest, error: AppError) -> None:
    try:
        await request.respond(
            _encoder.encode(error.envelope()),
            headers={ERROR_HEADER: error.message[:200], ERROR_CODE_HEADER: str(error.status)},
        )
    except Exception:  # the caller is gone or NATS is down: nothing more to do for this request
        log.warning("reply_failed")


async def run_service(build: Callable[[Settings], Awaitable[Service]], settings: Settings) -> None:
    """`python -m services.<name>`: build the service, connect, serve until signalled."""
    service = await build(settings)
    await service.connect()
    await service.run_until_signalled()
