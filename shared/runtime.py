"""The NATS service runner every service uses.

It owns the concerns no service should write twice: connecting (and reconnecting, for ever: see
`NatsConnection`) to NATS, serving
`nats.micro` endpoints in the service's queue group so `$SRV.PING/INFO/STATS` discovery works,
decoding each request into its msgspec Struct, turning *any* exception into the error envelope
without leaking internals (nats.py's default micro error reply sends `repr(error)`), one log line per
request, publishing events to JetStream, and a clean drain on SIGTERM.

Sizes are a contract: a reply that would not fit on the bus (`shared.limits.MAX_MESSAGE_BYTES`, or
the server's own smaller `max_payload`) is answered with a `422 limit_exceeded` envelope instead of
failing the publish. The gateway's deadline (`X-Deadline`, epoch ms) reaches handlers as
`ctx.deadline_ms`, and calls to other services carry it on.

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
from contextlib import AsyncExitStack, suppress
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

from shared import subjects, telemetry
from shared.context import RequestContext
from shared.errors import (
    AppError,
    ErrorEnvelope,
    GatewayTimeout,
    Internal,
    LimitExceeded,
    PayloadTooLarge,
    Unavailable,
    from_envelope,
    validation_error,
)
from shared.limits import HEADER_ALLOWANCE_BYTES, MAX_MESSAGE_BYTES
from shared.messages.base import Event
from shared.messages.health import Health, HealthQuery
from shared.settings import Settings
from shared.store import StoreUnavailableError

log = structlog.get_logger()

T = TypeVar("T")
Handler = Callable[[Any, "RequestContext"], Awaitable[Any]]
ConnectHook = Callable[[Client], Awaitable[None]]

_encoder = msgspec.json.Encoder()
EVENTS_MAX_AGE_S = 30 * 24 * 3600.0
STOP_GRACE_S = 5.0
"""How long a stopping service waits for in-flight requests, and again for the NATS drain; then it goes
anyway (crash-only: a cut request is retried by its client). Bounded so a stop never lingers, e.g. when
the supervisor died and NATS went with it."""


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
            telemetry.count_event(subject, getattr(event, "status", None))  # /metrics (shared/telemetry.py)
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


def message_limit(nc: Client) -> int:
    """The largest body this connection may put on the bus: our contract, or less on a server
    configured with a smaller `max_payload` than ours (room kept for headers either way)."""
    return min(MAX_MESSAGE_BYTES, nc.max_payload - HEADER_ALLOWANCE_BYTES)


def parse_deadline(value: str | None) -> int | None:
    """The `X-Deadline` header (epoch ms); anything unreadable means no deadline, never an error."""
    if not value or not value.isdigit() or len(value) > 15:
        return None
    return int(value)


async def connect_nats(
    settings: Settings, name: str, *, closed_cb: Callable[[], Awaitable[None]] | None = None
) -> Client:
    """Connect, retrying until NATS answers, then reconnect forever (crash-only: no manual step).

    nats-py's own reconnection covers a lost socket; a connection it *closes* is `NatsConnection`'s job.
    """

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
                closed_cb=closed_cb,
            )
        except (OSError, nats.errors.Error, asyncio.TimeoutError) as exc:
            log.warning("nats_connect_failed", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class NatsConnection:
    """One process's NATS connection, kept for ever: a closed client is replaced by a new one.

    nats-py reconnects by itself after a lost socket (we ask it to retry for ever), but it *closes* the
    client for good after some errors: any `-ERR` from the server (a message over `max_payload` is
    one: the server then drops the connection), an authorization error, reconnect attempts exhausted.
    A closed client never comes back, so a watcher waits for the close, makes a new client (retrying
    with back-off until NATS answers), and runs the `on_connect` hooks on it (re-register endpoints,
    new JetStream contexts). Meanwhile `is_connected` is False, which `/readyz` reports.

    `adopt(nc)` wraps a connection someone else owns (tests): it is never replaced nor closed here.
    """

    def __init__(self, settings: Settings, name: str) -> None:
        self._settings = settings
        self._name = name
        self._client: Client | None = None
        self._owned = True
        self._hooks: list[ConnectHook] = []
        self._closed = asyncio.Event()
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        self.replacements = 0
        """How many times a closed client was replaced (for tests and logs)."""

    @classmethod
    def adopt(cls, nc: Client, settings: Settings, name: str) -> NatsConnection:
        connection = cls(settings, name)
        connection._client = nc
        connection._owned = False
        return connection

    def on_connect(self, hook: ConnectHook) -> None:
        """Run `hook(client)` on every new client, the first one included (at `start`)."""
        self._hooks.append(hook)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("NATS connection not started")
        return self._client

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def start(self) -> None:
        """Connect (retrying until NATS answers) and run the hooks; a hook failing here fails start-up."""
        if self._client is None:
            self._client = await self._new_client()
        for hook in self._hooks:
            await hook(self._client)
        if self._owned:
            self._watcher = asyncio.create_task(self._watch(), name=f"nats-watch-{self._name}")

    async def close(self) -> None:
        """Stop replacing, and drain (bounded) an owned client."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
        nc = self._client
        if nc is not None and self._owned and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), timeout=STOP_GRACE_S)
            except (TimeoutError, nats.errors.Error):  # NATS gone or slow: drop the connection, do not wait
                await nc.close()

    async def _new_client(self) -> Client:
        return await connect_nats(self._settings, self._name, closed_cb=self._on_closed)

    async def _on_closed(self) -> None:
        self._closed.set()

    async def _watch(self) -> None:
        while not self._stopping:
            await self._closed.wait()
            self._closed.clear()
            if self._stopping or self._client is None or not self._client.is_closed:
                continue  # an old client's late callback, or our own close
            log.warning("nats_connection_closed", error=str(self._client.last_error or "closed"))
            await self._replace()

    async def _replace(self) -> None:
        delay = 0.2
        while not self._stopping:
            nc: Client | None = None
            try:
                nc = await self._new_client()
                self._client = nc
                for hook in self._hooks:
                    await hook(nc)
            except Exception as exc:  # any failure: drop this client and try again, never give up
                log.warning("nats_reconnect_failed", error=str(exc), retry_in_s=delay)
                if nc is not None:
                    with suppress(Exception):
                        await nc.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.replacements += 1
            log.info("nats_connection_replaced", replacements=self.replacements)
            return


class Service:
    """One service process: endpoints, resources, lifecycle."""

    def __init__(self, name: str, settings: Settings, *, version: str = "0.1.0", description: str = "") -> None:
        self.name = name
        self.settings = settings
        self.version = version
        self.description = description
        self.resources = AsyncExitStack()
        self._endpoints: list[_Endpoint] = []
        self._connection: NatsConnection | None = None
        self._connect_hooks: list[ConnectHook] = []
        self._serving = False
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

    def on_connect(self, hook: ConnectHook) -> None:
        """Run `hook(client)` on every new NATS client (the first, and each one replacing a closed
        client): whatever a service builds on the connection itself (consumers, KV handles) goes here."""
        self._connect_hooks.append(hook)

    @property
    def nc(self) -> Client:
        """The current NATS client: ask again each time, it is replaced if it ever closes."""
        if self._connection is None:
            raise RuntimeError("service not started")
        return self._connection.client

    @property
    def connection(self) -> NatsConnection:
        if self._connection is None:
            raise RuntimeError("service not started")
        return self._connection

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
            self._connection = NatsConnection(self.settings, self.name)
        else:
            self._connection = NatsConnection.adopt(nc, self.settings, self.name)
        self._connection.on_connect(self._on_connect)
        await self._connection.start()

    async def _on_connect(self, nc: Client) -> None:
        """On every new client: JetStream, the endpoints again if serving, then the service's own hooks."""
        js = nc.jetstream()
        await ensure_events_stream(js)
        self._events = EventPublisher(js)
        if self._serving:
            await self._register(nc)
        for hook in self._connect_hooks:
            await hook(nc)

    async def serve(self) -> None:
        """Register the micro service and its endpoints: from here on, requests arrive."""
        self._serving = True
        await self._register(self.nc)
        log.info("service_started", endpoints=len(self._endpoints))

    async def _register(self, nc: Client) -> None:
        self._micro = await add_service(
            nc, name=self.name, version=self.version, description=self.description, queue_group=self.name,
            stats_handler=telemetry.stats_handler(subjects.health(self.name)),  # $SRV.STATS data for /metrics
        )
        for endpoint in [*self._endpoints, _Endpoint(subjects.health(self.name), HealthQuery, self._health)]:
            await self._micro.add_endpoint(
                name=endpoint.subject.replace(".", "-"), subject=endpoint.subject, handler=self._wrap(endpoint)
            )
        await nc.flush()  # the server has every subscription before anyone is told this service is up

    async def stop(self) -> None:
        """Stop taking requests, finish the ones in flight, release resources, drain the connection."""
        self._serving = False
        if self._micro is not None:
            with suppress(Exception):  # on a closed client there is nothing left to unsubscribe
                await asyncio.wait_for(self._micro.stop(), timeout=STOP_GRACE_S)  # it waits for the server
            self._micro = None
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=STOP_GRACE_S)
        await self.resources.aclose()
        if self._connection is not None:
            await self._connection.close()  # drains an owned client, bounded by STOP_GRACE_S
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
        try:
            await asyncio.wait_for(self.stop(), timeout=3 * STOP_GRACE_S)
        except TimeoutError:  # a resource that will not close must not keep the process alive
            log.warning("service_stop_timed_out")

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
            deadline_ms=parse_deadline(headers.get(subjects.DEADLINE_HEADER)),
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
                limit = message_limit(self.nc)
                if len(body) > limit:
                    raise LimitExceeded(
                        f"the reply would be {len(body)} bytes, over the limit of {limit}; ask for less "
                        "(a smaller `limit`, a shorter range)",
                        details={"limit": "reply_bytes", "max": limit, "size": len(body)},
                    )
                outcome = "ok"
                await request.respond(body)
            except Exception as exc:  # every failure becomes an envelope; nothing reaches nats.py's default
                error = _as_app_error(exc)
                outcome = error.code
                if isinstance(error, Internal):
                    log.exception("request_failed", subject=endpoint.subject)
                await _respond_error(request, error)
        elapsed = time.perf_counter() - started
        telemetry.observe(endpoint.subject, outcome, elapsed)
        log.info("request_handled", subject=endpoint.subject, outcome=outcome, duration_ms=round(elapsed * 1000, 3))


class ServiceClient:
    """Calls another service's endpoint on behalf of the request being handled (same owner, request id
    and deadline: the call gives up when the original caller does)."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    async def request(self, subject: str, message: Any, reply_type: type[T], ctx: RequestContext) -> T:
        headers = {subjects.REQUEST_ID_HEADER: ctx.request_id, subjects.OWNER_HEADER: ctx.owner}
        timeout = self._timeout
        remaining = ctx.remaining_s()
        if remaining is not None:
            if remaining <= 0:
                raise GatewayTimeout(f"no time left to call `{subject}`")
            timeout = min(timeout, remaining)
            headers[subjects.DEADLINE_HEADER] = str(ctx.deadline_ms)
        payload = _encoder.encode(message)
        if len(payload) > message_limit(self._nc):
            raise PayloadTooLarge(f"the request to `{subject}` would be {len(payload)} bytes, over the bus limit")
        try:
            reply = await self._nc.request(subject, payload, timeout=timeout, headers=headers)
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no service is answering `{subject}` right now") from None
        except nats.errors.TimeoutError:
            raise GatewayTimeout(f"`{subject}` did not answer in time") from None
        except nats.errors.MaxPayloadError:
            raise PayloadTooLarge(f"the request to `{subject}` is over the bus limit") from None
        except nats.errors.Error:  # closed, reconnecting, draining: the supervisor brings it back
            raise Unavailable("the message bus is not connected; retry shortly") from None
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
