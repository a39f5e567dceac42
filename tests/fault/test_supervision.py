"""`hyperoru up` keeps the platform up: whatever child is SIGKILLed comes back by itself, NATS
included (same port, same store: JetStream streams and stored data survive), and a request body at
the size limit is answered without hurting anything. Each test leaves the module's platform ready."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from hyperoru.embedded import PROCESSES
from shared import subjects
from shared.settings import Settings
from tests.fault.platform import HEAL_TIMEOUT_S, UpPlatform, alive, wait_until

PROGRAM = {"name": "survivor", "code": 'fn run(ctx) { ctx.hold("x") }'}


def events_in_stream(nats_url: str) -> int:
    async def count() -> int:
        nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def test_killed_nats_server_heals_with_streams_and_data_intact(up_platform: UpPlatform) -> None:
    up_platform.wait_ready()
    status, created = up_platform.call("POST", "/api/programs/", PROGRAM)
    assert status == 201
    events_before = wait_until(lambda: events_in_stream(up_platform.nats_url), 10, "the create event in EVENTS")

    old = up_platform.kill_child("nats-server")
    killed_at = time.monotonic()
    new = up_platform.wait_restarted("nats-server", old)
    up_platform.wait_ready(HEAL_TIMEOUT_S)
    healed_s = time.monotonic() - killed_at

    assert new != old and not alive(old)
    assert healed_s < HEAL_TIMEOUT_S
    print(f"nats-server SIGKILLed: /readyz green again after {healed_s:.2f} s")
    status, program = up_platform.call("GET", f"/api/programs/{created['id']}")
    assert status == 200 and program["name"] == "survivor"  # stored data intact
    assert events_in_stream(up_platform.nats_url) >= events_before  # same port, stream and its messages kept
    status, _ = up_platform.call("POST", "/api/programs/", {**PROGRAM, "name": "after the crash"})
    assert status == 201  # writes (and their events) work again
    assert "nats-server exited" in up_platform.log()


@pytest.mark.parametrize("name", PROCESSES)
def test_each_killed_service_comes_back_and_answers(up_platform: UpPlatform, name: str) -> None:
    up_platform.wait_ready()
    old = up_platform.kill_child(name)
    new = up_platform.wait_restarted(name, old)
    assert new != old and not alive(old)
    up_platform.wait_ready()  # /readyz pings every service's $SRV.PING and health endpoint: it answers
    status, body = up_platform.call("GET", "/readyz")
    assert status == 200 and body["status"] == "ready" and set(body["services"]) == set(subjects.SERVICES)
    assert up_platform.call("GET", "/api/programs/")[0] == 200
    assert up_platform.children()[name] == new  # and it stays up


def test_body_at_the_limit_is_answered_and_one_byte_more_is_a_json_413(up_platform: UpPlatform) -> None:
    limit = Settings().max_body_bytes  # the default the platform runs with (start_up sets no MAX_BODY_BYTES)
    up_platform.wait_ready()

    def body_of(size: int) -> bytes:
        frame = b'{"name": "big", "code": ""}'
        body = frame.replace(b'""', b'"' + b"x" * (size - len(frame)) + b'"')
        assert len(body) == size
        return body

    status, reply = up_platform.call("POST", "/api/programs/", raw=body_of(limit))
    assert 400 <= status < 500 and status != 413, (status, reply)  # read in full, refused for its content
    assert reply["error"]["code"] and reply["error"]["message"]

    status, reply = up_platform.call("POST", "/api/programs/", raw=body_of(limit + 1))
    assert status == 413 and reply["error"]["code"] == "payload_too_large"

    assert up_platform.ready()  # nothing was hurt
    assert up_platform.call("POST", "/api/programs/", PROGRAM)[0] == 201
