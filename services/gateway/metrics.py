"""`GET /metrics`: Prometheus text for the gateway and, gathered at scrape time, every service instance.

Gateway (measured here, per app: each app has its own `CollectorRegistry`):
- `hyperoru_http_requests_total{method,route,status}` and `hyperoru_http_request_duration_seconds`:
  `route` is the route's pattern (`/api/programs/{id}`), never the raw path (ids would explode the
  series count); a request no route matched is `unmatched`;
- `hyperoru_http_requests_in_flight`; `hyperoru_nats_request_duration_seconds{subject}` (the gateway's
  request/reply round trip per subject); `hyperoru_auth_rejections_total{reason}` (401s, 429s).

Services (they have no HTTP port: see `shared/telemetry.py` for why `$SRV.STATS`): one `$SRV.STATS`
request fans out to every instance of every service; replies are collected until `STATS_QUIET_S`
passes without a new one (or `STATS_WAIT_S` in all), and become `hyperoru_service_*{service,
service_instance,subject}` (requests, outcomes, a duration histogram), worker-pool kills and crashes,
events published and `hyperoru_executions_total{status}` per process. A replica that misses the window
is absent from that one scrape (Prometheus shows a gap, not a wrong number). Counters are the process's
own since it started: Prometheus' `rate()` copes with restarts. With several gateway replicas each
one reports the same service numbers: scrape one, or aggregate with `max by (service_instance, ...)`.

Jobs queued and running come from JetStream itself (the work-queue consumers of backtests and live
runs): `num_pending` = queued, `num_ack_pending` = taken by a replica and not finished = running. That is
exact across replicas without asking any service or store.

Where it is served, and why: `/metrics` shows whole-platform numbers across all owners, which is
operator data, not something a trader's token should read. So it has its own listener on
`METRICS_PORT` (off by default; deployments set it, e.g. 9464, and keep that port out of the public
Service/Ingress: Prometheus scrapes the pod directly), needing no credentials and never rate-limited.
In `AUTH_MODE=none` (one local user, nothing to protect) it is also on the main port.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import msgspec
import nats.errors
import structlog
from aiohttp import web
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from services.gateway.auth import AUTH_KEY
from services.gateway.security import add_security_headers
from shared import subjects, telemetry
from shared.settings import Settings

log = structlog.get_logger()

STATS_WAIT_S = 1.0
STATS_QUIET_S = 0.15
QUEUE_INFO_TIMEOUT_S = 1.0
QUEUES = {  # queue label → (stream, durable consumer)
    "backtests": (subjects.BACKTEST_JOBS_STREAM, subjects.BACKTEST_JOBS_CONSUMER),
    "live_runs": (subjects.LIVE_RUNS_STREAM, subjects.LIVE_RUNS_CONSUMER),
}
EXECUTION_SUBJECTS = frozenset({subjects.EVT_EXECUTION_COMPLETED, subjects.EVT_EXECUTION_FAILED})
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})


def route_label(request: web.Request) -> str:
    """The pattern of the route that matched (`/api/programs/{id}`), one label for `x` and `x/`."""
    route = getattr(request.match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "unmatched"
    return resource.canonical.rstrip("/") or "/"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "hyperoru_http_requests", "HTTP requests answered, by route pattern and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.duration = Histogram(
            "hyperoru_http_request_duration_seconds", "Time from request to response, by route pattern",
            ["method", "route"], registry=self.registry,
        )
        self.in_flight = Gauge("hyperoru_http_requests_in_flight", "HTTP requests being handled now", registry=self.registry)
        self.nats = Histogram(
            "hyperoru_nats_request_duration_seconds", "The gateway's NATS request/reply round trips, by subject",
            ["subject"], registry=self.registry,
        )
        self.rejections = Counter(
            "hyperoru_auth_rejections", "Requests refused by authentication (401) or the rate limit (429), by reason",
            ["reason"], registry=self.registry,
        )
        self.services = ServicesCollector()
        self.registry.register(self.services)

    async def render(self, nc: Client | None) -> bytes:
        """Gather the services' numbers (async), then render everything in one synchronous step."""
        stats: list[dict[str, Any]] = []
        queues: dict[str, tuple[int, int]] = {}
        if nc is not None and nc.is_connected:
            stats, queues = await asyncio.gather(gather_stats(nc), queue_depths(nc))
        self.services.snapshot = (nc is not None and nc.is_connected, stats, queues)
        return generate_latest(self.registry)


METRICS_KEY = web.AppKey("metrics", GatewayMetrics)


@web.middleware
async def measure(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """The outermost middleware: sees every request's final status, errors included."""
    metrics = request.app[METRICS_KEY]
    method = request.method if request.method in _METHODS else "other"
    started = time.perf_counter()
    status = 500
    metrics.in_flight.inc()
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.in_flight.dec()
        route = route_label(request)
        metrics.requests.labels(method, route, str(status)).inc()
        metrics.duration.labels(method, route).observe(time.perf_counter() - started)


def observe_nats(app: web.Application, subject: str, seconds: float) -> None:
    """The hook the gateway's forwarder calls after each NATS request (whatever its outcome)."""
    metrics = app.get(METRICS_KEY)
    if metrics is not None:
        metrics.nats.labels(subject).observe(seconds)


# -- services, at scrape time ---------------------------------------------------------------------------
async def gather_stats(nc: Client, *, wait_s: float = STATS_WAIT_S, quiet_s: float = STATS_QUIET_S) -> list[dict[str, Any]]:
    """Every service instance's `$SRV.STATS` reply (decoded), collected until replies stop coming."""
    replies: list[bytes] = []
    arrived = asyncio.Event()

    async def on_reply(msg: Any) -> None:
        replies.append(msg.data)
        arrived.set()

    inbox = nc.new_inbox()
    loop = asyncio.get_running_loop()
    try:
        sub = await nc.subscribe(inbox, cb=on_reply)
        try:
            await nc.publish("$SRV.STATS", b"", reply=inbox)
            deadline = loop.time() + wait_s
            while (left := deadline - loop.time()) > 0:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), timeout=min(left, quiet_s) if replies else left)
                except TimeoutError:
                    if replies:
                        break
        finally:
            await sub.unsubscribe()
    except nats.errors.Error as exc:
        log.warning("metrics_stats_failed", error=str(exc))
    decoded = []
    for data in replies:
        try:
            item = msgspec.json.decode(data)
        except msgspec.DecodeError:
            continue
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("endpoints"), list):
            decoded.append(item)
    return decoded


async def queue_depths(nc: Client) -> dict[str, tuple[int, int]]:
    """queue → (queued, running) from the work-queue consumers; a queue not created yet is left out."""
    js = nc.jetstream()
    depths = {}
    for queue, (stream, consumer) in QUEUES.items():
        try:
            info = await js.consumer_info(stream, consumer, timeout=QUEUE_INFO_TIMEOUT_S)
        except (nats.errors.Error, TimeoutError):
            continue
        depths[queue] = (int(info.num_pending or 0), int(info.num_ack_pending or 0))
    return depths


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class ServicesCollector:
    """Turns the last gathered snapshot into metric families (prometheus-client calls `collect`)."""

    def __init__(self) -> None:
        self.snapshot: tuple[bool, list[dict[str, Any]], dict[str, tuple[int, int]]] = (False, [], {})

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        connected, stats, queues = self.snapshot
        yield GaugeMetricFamily("hyperoru_nats_connected", "1 when the gateway is connected to NATS", value=1 if connected else 0)
        keys = ["service", "service_instance", "subject"]
        requests = CounterMetricFamily("hyperoru_service_requests", "Requests a service instance received, by endpoint", labels=keys)
        outcomes = CounterMetricFamily(
            "hyperoru_service_request_outcomes", "Requests a service instance answered, by endpoint and outcome (ok or the error code)",
            labels=[*keys, "outcome"],
        )
        duration = HistogramMetricFamily(
            "hyperoru_service_request_duration_seconds", "Time a service instance took to answer, by endpoint", labels=keys
        )
        instances = GaugeMetricFamily("hyperoru_service_instances", "Service instances that answered this scrape", labels=["service"])
        counted: dict[str, int] = {}
        processes: dict[str, dict[str, Any]] = {}
        for item in stats:
            service, instance = item["name"], str(item.get("id", ""))
            counted[service] = counted.get(service, 0) + 1
            for endpoint in item["endpoints"]:
                if not isinstance(endpoint, dict) or not isinstance(endpoint.get("subject"), str):
                    continue
                labels = [service, instance, endpoint["subject"]]
                requests.add_metric(labels, _number(endpoint.get("num_requests")))
                data = endpoint.get("data")
                if not isinstance(data, dict):
                    continue
                for outcome, count in (data.get("outcomes") or {}).items():
                    outcomes.add_metric([*labels, str(outcome)], _number(count))
                buckets = data.get("buckets")
                if isinstance(buckets, list) and len(buckets) == len(telemetry.BUCKETS) + 1:
                    running, cumulative = 0.0, []
                    for bound, count in zip([*telemetry.BUCKETS, float("inf")], buckets, strict=True):
                        running += _number(count)
                        cumulative.append((floatToGoString(bound), running))
                    duration.add_metric(labels, cumulative, _number(data.get("seconds_sum")))
                process = data.get("process")
                if isinstance(process, dict) and isinstance(process.get("id"), str):
                    processes[process["id"]] = process  # one process may host several services (tests)
        for service, count in sorted(counted.items()):
            instances.add_metric([service], count)
        yield from (requests, outcomes, duration, instances)
        yield from _process_families(processes)
        jobs = GaugeMetricFamily(
            "hyperoru_jobs", "Jobs in a work queue: queued (not taken yet) or running (taken by a replica, not finished)",
            labels=["queue", "state"],
        )
        for queue, (queued, running) in sorted(queues.items()):
            jobs.add_metric([queue, "queued"], queued)
            jobs.add_metric([queue, "running"], running)
        yield jobs


def _process_families(processes: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    kills = CounterMetricFamily("hyperoru_worker_pool_kills", "Worker processes killed (timeouts, cancellations)", labels=["process", "pool"])
    crashes = CounterMetricFamily("hyperoru_worker_pool_crashes", "Worker processes that died during a call (memory, signals)", labels=["process", "pool"])
    size = GaugeMetricFamily("hyperoru_worker_pool_size", "Worker processes a pool keeps", labels=["process", "pool"])
    queued = GaugeMetricFamily("hyperoru_worker_pool_queued", "Calls waiting for a free worker now", labels=["process", "pool"])
    busy = CounterMetricFamily("hyperoru_worker_pool_busy", "Calls refused after WORKER_QUEUE_TIMEOUT_S with no free worker (503)", labels=["process", "pool"])
    events = CounterMetricFamily("hyperoru_events_published", "Events published to JetStream, by subject", labels=["process", "subject"])
    executions = CounterMetricFamily("hyperoru_executions", "Live executions finished, by status", labels=["process", "status"])
    for process_id, process in sorted(processes.items()):
        pools: dict[str, list[float]] = {}
        for pool in process.get("pools") or ():
            if isinstance(pool, dict):
                totals = pools.setdefault(str(pool.get("name")), [0.0] * 5)
                for index, key in enumerate(("kills", "crashes", "size", "queued", "busy")):
                    totals[index] += _number(pool.get(key))
        for name, (killed, crashed, workers, waiting, refused) in sorted(pools.items()):
            kills.add_metric([process_id, name], killed)
            crashes.add_metric([process_id, name], crashed)
            size.add_metric([process_id, name], workers)
            queued.add_metric([process_id, name], waiting)
            busy.add_metric([process_id, name], refused)
        by_subject: dict[str, float] = {}
        by_status: dict[str, float] = {}
        for entry in process.get("events") or ():
            if not (isinstance(entry, list) and len(entry) == 3):
                continue
            subject, status, count = str(entry[0]), str(entry[1]), _number(entry[2])
            by_subject[subject] = by_subject.get(subject, 0.0) + count
            if subject in EXECUTION_SUBJECTS:
                by_status[status] = by_status.get(status, 0.0) + count
        for subject, count in sorted(by_subject.items()):
            events.add_metric([process_id, subject], count)
        for status, count in sorted(by_status.items()):
            executions.add_metric([process_id, status], count)
    yield from (kills, crashes, size, queued, busy, events, executions)


# -- serving -------------------------------------------------------------------------------------------
def install_metrics(app: web.Application, settings: Settings, client: Callable[[], Client | None]) -> GatewayMetrics:
    """Measure every request of `app` and serve `/metrics` (see the module docstring for where).
    `client` gives the current NATS client, or None before it is connected."""
    metrics = GatewayMetrics()
    app[METRICS_KEY] = metrics
    authenticator = app.get(AUTH_KEY)
    if authenticator is not None:
        authenticator.failures = lambda reason: metrics.rejections.labels(reason).inc()
    app.middlewares.insert(0, measure)

    async def serve_metrics(request: web.Request) -> web.Response:
        body = await metrics.render(client())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    if settings.auth_mode == "none":
        app.router.add_get("/metrics", serve_metrics)
    if settings.metrics_port:

        async def listener(app: web.Application) -> AsyncIterator[None]:
            side = web.Application()
            side.router.add_get("/metrics", serve_metrics)
            side.on_response_prepare.append(add_security_headers)
            runner = web.AppRunner(side, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.gateway_host, settings.metrics_port).start()
            log.info("metrics_listening", url=f"http://{settings.gateway_host}:{settings.metrics_port}/metrics")
            yield
            await runner.cleanup()

        app.cleanup_ctx.append(listener)
    return metrics
