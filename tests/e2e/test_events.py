"""Program changes come out as events on JetStream (`evt.>`), persisted in the EVENTS stream."""

from __future__ import annotations

import asyncio

import msgspec
import nats

from shared import subjects
from shared.messages.programs import ProgramEvent
from shared.settings import Settings
from tests.harness import Api


async def test_a_subscriber_on_evt_sees_created_updated_and_deleted(api: Api, settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    seen: asyncio.Queue[tuple[str, ProgramEvent]] = asyncio.Queue()

    async def collect(msg: nats.aio.msg.Msg) -> None:
        if msg.subject.startswith("evt.registry.program."):
            event = msgspec.json.decode(msg.data, type=ProgramEvent)
            if event.owner == api.owner:
                await seen.put((msg.subject, event))

    await nc.subscribe(subjects.EVENTS_ALL, cb=collect)
    try:
        _, created = await api.post("/api/programs/", {"name": "evented", "code": 'fn run(ctx) { ctx.hold("x") }'})
        await api.put(f"/api/programs/{created['id']}", {"code": 'fn run(ctx) { ctx.hold("y") }'})
        await api.delete(f"/api/programs/{created['id']}")
        events = [await asyncio.wait_for(seen.get(), 5) for _ in range(3)]
    finally:
        await nc.close()
    assert [subject for subject, _ in events] == [
        subjects.EVT_PROGRAM_CREATED,
        subjects.EVT_PROGRAM_UPDATED,
        subjects.EVT_PROGRAM_DELETED,
    ]
    assert [e.version for _, e in events] == [1, 2, 2]
    assert all(e.program_id == created["id"] for _, e in events)
    assert len({e.id for _, e in events}) == 3


async def test_events_are_persisted_for_a_subscriber_that_comes_later(api: Api, settings: Settings) -> None:
    _, created = await api.post("/api/programs/", {"name": "persisted", "code": 'fn run(ctx) { ctx.hold("x") }'})
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subjects.EVT_PROGRAM_CREATED, durable=None, stream=subjects.EVENTS_STREAM)
        found = False
        while not found:
            messages = await sub.fetch(100, timeout=2)
            for msg in messages:
                event = msgspec.json.decode(msg.data, type=ProgramEvent)
                found = found or (event.owner == api.owner and event.program_id == created["id"])
        assert found
    finally:
        await nc.close()
