"""The trigger clock on a real store and the simulator: pools fire on the edge, schedules when due."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.executor.live.clock import HISTORY_BARS, TriggerClock
from services.executor.live.store import BINDING, BINDINGS, POOL, SIGNAL_POOLS, LiveStore
from shared.market.market_data import build_market_data
from shared.market.store_sqlite import SqliteCandleStore
from shared.messages.base import Event
from shared.messages.live import RunOrder, SignalFired
from shared.signals import fire_times, parse_pool
from shared.store.sqlite import SqliteStore

SIGNALS = [{"symbol": "BTC", "timeframe": "1m", "metric": "price", "operator": "crosses_above", "value": "sma(20)"}]


class Recorder:
    def __init__(self) -> None:
        self.runs: list[tuple[RunOrder, int]] = []
        self.events: list[tuple[str, Event]] = []
        self.seen: set[str] = set()

    async def enqueue(self, order: RunOrder, account_id: int) -> bool:
        key = f"{order.binding_id}:{order.trigger.id}"  # what Nats-Msg-Id does on the server
        if key in self.seen:
            return False
        self.seen.add(key)
        self.runs.append((order, account_id))
        return True

    async def publish(self, subject: str, event: Event) -> None:
        self.events.append((subject, event))


@pytest.fixture
async def setup(tmp_path: Path) -> Any:
    path = tmp_path / "hyperoru.db"
    store = SqliteStore(path)
    live = await LiveStore.open(store)
    market = build_market_data(SqliteCandleStore(path))
    yield store, live, market
    await store.close()


async def add(store: SqliteStore, live: LiveStore, owner: str, pool_enabled: bool = True, **binding: Any) -> None:
    await store.collection(SIGNAL_POOLS.name).insert({"id": 1, "owner": owner, "name": "cross", "logic": "AND", "signals": SIGNALS,
                                                      "enabled": pool_enabled, "last_fired_at": None})
    await live.index_add(POOL, owner, 1)
    doc = {"id": 10, "owner": owner, "program_id": 3, "account_id": 7, "enabled": True, "symbol": "BTC", "timeframe": "1m",
           "signal_pool_ids": [1], "schedule": None, "params": {}, "program_version": None, "state": {}, **binding}
    await store.collection(BINDINGS.name).insert(doc)
    await live.index_add(BINDING, owner, 10)


async def fires_in(market: Any, start: int, end: int) -> np.ndarray:
    pool = parse_pool("AND", SIGNALS)
    candles = await market.candles("BTC", "1m", end_ms=end, limit=HISTORY_BARS + (end - start) // 60_000, as_of_ms=end)
    return fire_times(pool, {("BTC", "1m"): candles}, start, end)


async def test_a_pool_fires_on_its_edge_only_and_runs_each_binding_once(setup: Any) -> None:
    store, live, market = setup
    await add(store, live, "olga")
    now = market.now() - market.now() % 60_000
    fired = await fires_in(market, now - 120 * 60_000, now)
    assert len(fired) >= 2
    t = int(fired[0])
    recorder = Recorder()
    clock = TriggerClock(market, live, recorder.enqueue, recorder.publish)
    report = await clock.tick(t)
    assert report.pools_fired == 1 and report.runs_enqueued == 1
    [(run, account_id)] = recorder.runs
    assert account_id == 7 and run.binding_id == 10 and run.trigger.id == f"pool-1-{t}" and run.trigger.type == "signal"
    assert run.trigger.signals[0]["true"] is True and run.trigger.signals[0]["metric"] == "price"
    [(subject, event)] = recorder.events
    assert subject == "evt.executor.signal.fired" and isinstance(event, SignalFired) and event.pool_id == 1
    assert (await store.collection(SIGNAL_POOLS.name).get("olga", 1))["last_fired_at"] is not None
    # The same close again (a second replica, a restart): the same trigger, dropped as a duplicate.
    assert (await clock.tick(t)).runs_enqueued == 0
    # A close where the condition is not a fresh edge: nothing.
    quiet = next(x for x in range(t + 60_000, now, 60_000) if x not in set(fired.tolist()))
    assert (await clock.tick(quiet)).pools_fired == 0


async def test_a_disabled_pool_or_binding_fires_nothing(setup: Any) -> None:
    store, live, market = setup
    await add(store, live, "pete", pool_enabled=False)
    now = market.now() - market.now() % 60_000
    t = int((await fires_in(market, now - 120 * 60_000, now))[0])
    recorder = Recorder()
    clock = TriggerClock(market, live, recorder.enqueue, recorder.publish)
    assert (await clock.tick(t)).runs_enqueued == 0
    await store.collection(SIGNAL_POOLS.name).update("pete", 1, {"enabled": True})
    await store.collection(BINDINGS.name).update("pete", 10, {"enabled": False})
    assert (await clock.tick(t)).runs_enqueued == 0


async def test_schedules_fire_on_their_interval_and_cron(setup: Any) -> None:
    store, live, market = setup
    await add(store, live, "quinn", signal_pool_ids=[], schedule={"interval": "5m"})
    await store.collection(BINDINGS.name).insert({"id": 11, "owner": "quinn", "program_id": 3, "account_id": 8, "enabled": True,
                                                  "symbol": "BTC", "timeframe": "1m", "signal_pool_ids": [],
                                                  "schedule": {"cron": "*/2 * * * *"}})
    await live.index_add(BINDING, "quinn", 11)
    recorder = Recorder()
    clock = TriggerClock(market, live, recorder.enqueue, recorder.publish)
    base = 1_800_000_000_000 - 1_800_000_000_000 % 3_600_000
    for minute in range(10):
        await clock.tick(base + minute * 60_000)
    by_binding: dict[int, list[int]] = {}
    for run, _ in recorder.runs:
        assert run.trigger.type == "schedule"
        by_binding.setdefault(run.binding_id, []).append((run.trigger.time_ms - base) // 60_000)
    assert by_binding == {10: [0, 5], 11: [0, 2, 4, 6, 8]}
