"""`/metrics`: the gateway's own series, the services' numbers gathered over `$SRV.STATS`, job queues
from JetStream, and where it is served (main port only in `none` mode, else `METRICS_PORT`)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import nats
from nats.js.api import ConsumerConfig, StreamConfig
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.metrics import ServicesCollector
from shared import subjects, telemetry
from shared.settings import Settings
from tests.api.auth_fixtures import PROGRAM, call, gateway, security_bus

__all__ = ["security_bus"]

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def find(samples: Samples, name: str, **labels: str) -> list[float]:
    return [value for n, ls, value in samples if n == name and all(ls.get(k) == v for k, v in labels.items())]


async def test_metrics_in_none_mode_cover_gateway_and_services(security_bus: Settings) -> None:
    async with gateway(security_bus, auth_mode="none") as url:
        status, created, _ = await call("POST", url + "/api/programs/", json=PROGRAM)
        assert status == 201, created
        for _ in range(2):
            assert (await call("GET", url + f"/api/programs/{created['id']}"))[0] == 200
        assert (await call("GET", url + "/api/programs/987654321"))[0] == 404
        assert (await call("GET", url + "/no/such/thing"))[0] == 404
        samples = await scrape(url + "/metrics")

    # routes by pattern, never by raw path
    assert find(samples, "hyperoru_http_requests_total", method="GET", route="/api/programs/{id}", status="200") == [2.0]
    assert find(samples, "hyperoru_http_requests_total", method="GET", route="/api/programs/{id}", status="404") == [1.0]
    assert find(samples, "hyperoru_http_requests_total", method="GET", route="unmatched", status="404") == [1.0]
    assert not any("987654321" in str(labels) or str(created["id"]) in labels.get("route", "") for _, labels, _ in samples)
    assert find(samples, "hyperoru_http_request_duration_seconds_count", method="POST", route="/api/programs") == [1.0]
    assert find(samples, "hyperoru_http_requests_in_flight") == [1.0]  # the scrape itself
    assert find(samples, "hyperoru_nats_request_duration_seconds_count", subject=subjects.PROGRAMS_GET) == [3.0]
    assert find(samples, "hyperoru_nats_connected") == [1.0]

    # the registry, over $SRV.STATS: counts, outcomes, durations, its worker pool, its events
    assert find(samples, "hyperoru_service_instances", service="registry") == [1.0]
    assert sum(find(samples, "hyperoru_service_requests_total", service="registry", subject=subjects.PROGRAMS_GET)) >= 3
    assert sum(find(samples, "hyperoru_service_request_outcomes_total", subject=subjects.PROGRAMS_GET, outcome="not_found")) >= 1
    assert sum(find(samples, "hyperoru_service_request_outcomes_total", subject=subjects.PROGRAMS_CREATE, outcome="ok")) >= 1
    assert sum(find(samples, "hyperoru_service_request_duration_seconds_count", subject=subjects.PROGRAMS_CREATE)) >= 1
    # this process may host other test platforms' pools too (a process reports all of its pools): >= ours
    assert len(find(samples, "hyperoru_worker_pool_size", pool="registry")) == 1
    assert find(samples, "hyperoru_worker_pool_size", pool="registry")[0] >= security_bus.worker_processes
    assert len(find(samples, "hyperoru_worker_pool_kills_total", pool="registry")) == 1
    assert sum(find(samples, "hyperoru_events_published_total", subject=subjects.EVT_PROGRAM_CREATED)) >= 1


async def test_metrics_are_not_on_the_main_port_outside_none_mode(security_bus: Settings) -> None:
    with socket.socket() as probe:  # a free port for the metrics listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with gateway(security_bus, auth_mode="token", metrics_port=port) as url:
        status, body, _ = await call("GET", url + "/metrics")
        assert status == 404, body
        status, body, _ = await call("GET", url + "/api/programs/")  # counted, as a 401
        assert status == 401
        samples = await scrape(f"http://127.0.0.1:{port}/metrics")
    assert find(samples, "hyperoru_http_requests_total", route="/api/programs", status="401") == [1.0]
    assert find(samples, "hyperoru_auth_rejections_total", reason="missing") == [1.0]


async def test_jobs_queued_and_running_come_from_the_work_queue(security_bus: Settings) -> None:
    nc = await nats.connect(security_bus.nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=subjects.BACKTEST_JOBS_STREAM, subjects=[subjects.BACKTEST_JOBS_ALL], retention="workqueue"))
        await js.add_consumer(subjects.BACKTEST_JOBS_STREAM, ConsumerConfig(durable_name=subjects.BACKTEST_JOBS_CONSUMER, ack_wait=60))
        for n in range(3):
            await js.publish(subjects.backtest_job(f"bt-{n:x}"), b"{}")
        consumer = await js.pull_subscribe_bind(subjects.BACKTEST_JOBS_CONSUMER, subjects.BACKTEST_JOBS_STREAM)
        taken = await consumer.fetch(1, timeout=5)  # one taken, not acked: running
        async with gateway(security_bus, auth_mode="none") as url:
            samples = await scrape(url + "/metrics")
        await taken[0].ack()
    finally:
        await nc.close()
    assert find(samples, "hyperoru_jobs", queue="backtests", state="queued") == [2.0]
    assert find(samples, "hyperoru_jobs", queue="backtests", state="running") == [1.0]


def _family(families: list[Any], name: str) -> Any:
    return next(f for f in families if f.name == name)


def test_process_numbers_are_counted_once_per_process_and_executions_by_status() -> None:
    process = {
        "id": "host:1",
        "pools": [{"name": "live", "size": 2, "kills": 3, "crashes": 1}],
        "events": [[subjects.EVT_EXECUTION_COMPLETED, "ok", 5], [subjects.EVT_EXECUTION_COMPLETED, "rejected", 2],
                   [subjects.EVT_EXECUTION_FAILED, "error", 1], [subjects.EVT_ORDER_FILLED, "", 4]],
    }
    health = {"subject": "executor.health.check", "num_requests": 1, "data": {**telemetry.endpoint_data("x"), "process": process}}
    # two services in one process (as in tests) report the same process: it must count once
    stats = [{"name": name, "id": name + "-1", "endpoints": [health]} for name in ("executor", "registry")]
    collector = ServicesCollector()
    collector.snapshot = (True, stats, {})
    families = list(collector.collect())
    kills = _family(families, "hyperoru_worker_pool_kills").samples
    assert [(s.labels["pool"], s.value) for s in kills] == [("live", 3.0)]
    executions = {s.labels["status"]: s.value for s in _family(families, "hyperoru_executions").samples}
    assert executions == {"ok": 5.0, "rejected": 2.0, "error": 1.0}
    events = {s.labels["subject"]: s.value for s in _family(families, "hyperoru_events_published").samples}
    assert events[subjects.EVT_EXECUTION_COMPLETED] == 7.0 and events[subjects.EVT_ORDER_FILLED] == 4.0


def test_garbage_from_a_replica_is_skipped_not_fatal() -> None:
    collector = ServicesCollector()
    bad_endpoints = [None, {"subject": 3}, {"subject": "a.b", "num_requests": "x", "data": {"buckets": [1, 2], "outcomes": {}}}]
    collector.snapshot = (True, [{"name": "ai", "id": "i", "endpoints": bad_endpoints}], {})
    families = list(collector.collect())
    assert [s.value for s in _family(families, "hyperoru_service_requests").samples] == [0.0]


def test_telemetry_histogram_buckets_add_up() -> None:
    subject = "test.telemetry.observe"
    for seconds in (0.0005, 0.02, 0.02, 100.0):
        telemetry.observe(subject, "ok", seconds)
    telemetry.observe(subject, "not_found", 0.002)
    data = telemetry.endpoint_data(subject)
    assert sum(data["buckets"]) == 5 and data["buckets"][-1] == 1  # 100 s is above every bound
    assert data["outcomes"] == {"ok": 4, "not_found": 1}
    assert abs(data["seconds_sum"] - 100.0425) < 1e-9


async def test_a_scrape_without_services_still_answers(security_bus: Settings, tmp_path: Any) -> None:
    from shared.natsserver import NatsServer

    with NatsServer(tmp_path / "js") as empty:
        async with gateway(security_bus, auth_mode="none", nats_url=empty.url) as url:
            samples = await asyncio.wait_for(scrape(url + "/metrics"), timeout=30)
    assert find(samples, "hyperoru_nats_connected") == [1.0]
    assert not find(samples, "hyperoru_service_instances")
