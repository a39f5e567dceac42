"""The supervisor's restart policy, driven with an explicit clock (no sleeps, no timing): a dead child
is restarted after a back-off that grows while it keeps dying and resets once it stayed up for
`healthy_after_s`; a dead nats-server comes back on the same port with its JetStream store."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import nats

from hyperoru.embedded import RESTART_BACKOFF_S, Platform, _Child, _Nats
from shared.limits import MAX_PAYLOAD_BYTES
from shared.natsserver import NatsServer

CRASH = [sys.executable, "-c", "raise SystemExit(3)"]
STAY_UP = [sys.executable, "-c", "import time; time.sleep(120)"]


def scheduled_delay(platform: Platform, child: _Child, now: float) -> float:
    """Let the child die, let the supervisor notice: the back-off it picked."""
    assert child.process is not None
    child.process.wait()
    platform.supervise_once(now)
    return child.next_start - now


def test_back_off_grows_while_a_child_keeps_dying_then_resets_after_a_healthy_stretch(tmp_path: Path) -> None:
    said: list[str] = []
    platform = Platform(data_dir=tmp_path, say=said.append, healthy_after_s=60.0)
    child = _Child(name="crashy", env=dict(os.environ), command=CRASH)
    platform.children = [child]
    child.start(0.0)
    try:
        now, delays = 0.0, []
        for _ in range(len(RESTART_BACKOFF_S) + 1):
            now += 1.0
            delay = scheduled_delay(platform, child, now)
            delays.append(delay)
            platform.supervise_once(now + delay / 2)  # not due yet: nothing starts
            assert child.exit_code() is not None
            now += delay
            platform.supervise_once(now)  # due: started again
        assert delays == [*RESTART_BACKOFF_S, RESTART_BACKOFF_S[-1]]
        assert child.restarts == len(delays)
        assert "crashy exited with code 3; restarting in 0.5 s" in said

        child.process.wait()  # type: ignore[union-attr]
        child.command = STAY_UP  # the next start is a healthy one
        now += 1.0
        platform.supervise_once(now)
        now = child.next_start
        platform.supervise_once(now)
        assert child.exit_code() is None and child.started_at == now
        restarts = child.restarts
        platform.supervise_once(now + 59.0)
        assert child.restarts == restarts  # not yet healthy for a minute
        platform.supervise_once(now + 60.0)
        assert child.restarts == 0

        child.process.kill()  # type: ignore[union-attr]
        assert scheduled_delay(platform, child, now + 61.0) == RESTART_BACKOFF_S[0]
    finally:
        if child.process is not None:
            child.process.kill()
            child.process.wait()


def test_the_healthy_stretch_is_a_parameter(tmp_path: Path) -> None:
    platform = Platform(data_dir=tmp_path, say=lambda _: None, healthy_after_s=2.0)
    child = _Child(name="sleeper", env=dict(os.environ), command=STAY_UP, restarts=3)
    platform.children = [child]
    child.start(10.0)
    try:
        platform.supervise_once(11.9)
        assert child.restarts == 3
        platform.supervise_once(12.0)
        assert child.restarts == 0
    finally:
        child.process.kill()  # type: ignore[union-attr]
        child.process.wait()  # type: ignore[union-attr]


async def _stream_roundtrip(url: str, *, create: bool) -> int:
    nc = await nats.connect(url, connect_timeout=5)
    try:
        js = nc.jetstream()
        if create:
            await js.add_stream(name="KEEP", subjects=["keep.>"])
            await js.publish("keep.one", b"stored before the crash")
        return int((await js.stream_info("KEEP")).state.messages)
    finally:
        await nc.close()


def test_a_dead_nats_server_comes_back_on_the_same_port_with_its_streams(tmp_path: Path) -> None:
    said: list[str] = []
    platform = Platform(data_dir=tmp_path, say=said.append)
    server = NatsServer(tmp_path / "js")
    unit = _Nats(server=server)
    platform._nats_unit = unit
    unit.start(0.0)
    try:
        url, old_pid = server.url, server.pid
        assert asyncio.run(_stream_roundtrip(url, create=True)) == 1
        server.kill()
        platform.supervise_once(1.0)
        assert "nats-server exited with code -9; restarting in 0.5 s" in said
        platform.supervise_once(1.5)
        assert server.exit_code() is None and server.pid != old_pid
        assert server.url == url
        assert asyncio.run(_stream_roundtrip(url, create=False)) == 1
    finally:
        server.stop()


def test_nats_server_carries_messages_up_to_the_platform_limit(tmp_path: Path) -> None:
    async def roundtrip(url: str) -> tuple[int, int]:
        nc = await nats.connect(url, connect_timeout=5)
        try:
            sub = await nc.subscribe("big")
            await nc.publish("big", b"x" * (MAX_PAYLOAD_BYTES - 1024))
            message = await sub.next_msg(timeout=10)
            return nc.max_payload, len(message.data)
        finally:
            await nc.close()

    with NatsServer(tmp_path / "js") as server:
        max_payload, received = asyncio.run(roundtrip(server.url))
    assert max_payload == MAX_PAYLOAD_BYTES
    assert received == MAX_PAYLOAD_BYTES - 1024
