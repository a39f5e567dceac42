"""The trigger clock: turns candle closes and schedules into run messages.

Every minute of MARKET time (`MarketData.now()`: the wall clock, or the simulator's sped-up clock
with `MARKET_LIVE_SPEED`) the clock looks at the close that just happened:

- every enabled signal pool whose grid (its finest timeframe) has a close at T is evaluated on the
  candles closed by T (`shared.signals.evaluate`, the same code a backtest replay uses); a pool FIRES
  on the edge (false at the previous close, true now): `evt.executor.signal.fired` with the values
  that made it fire, `last_fired_at` on the pool, and one run message per enabled binding using it;
- every enabled binding with a schedule due in `(T - 1 min, T]` (`shared.signals.next_fire`) gets a
  run message;
- every account holding a position is checked for a take-profit, stop-loss or liquidation on the
  1-minute candle that closed at T (`exits.py`), between runs as on an exchange.

Trigger ids are made of what happened, never of who saw it — `pool-<id>-<T>`, `schedule-<T>` — so
several replicas running the clock, or one clock looking at the same close twice after a restart,
produce the same messages, which JetStream and the ledger drop (see `queue.py`, `runs.py`). The clock
keeps a cursor in the store and, on start-up, catches up the closes it missed (at most
`CATCH_UP_MS`); a cursor ahead of the market clock (the sped-up simulator restarts at wall time) is
simply reset.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shared import subjects
from shared.market import MarketData
from shared.market.candles import CandleArrays
from shared.messages.base import Event
from shared.messages.live import RunOrder, SignalFired, Trigger
from shared.signals import Pool, SeriesKey, evaluate, next_fire, parse_schedule, pool_from_doc
from shared.signals.errors import SignalError
from shared.timefmt import now_iso, now_ms, to_iso

log = structlog.get_logger()

TICK_MS = 60_000
CATCH_UP_MS = 15 * 60_000
HISTORY_BARS = 500
"""Bars loaded per series for an evaluation: enough warm-up for the long indicators (sma(200))."""


class LiveIndex(Protocol):
    """What the clock reads, across every owner (live-resources' store)."""

    async def enabled_pools_all(self) -> list[dict[str, Any]]: ...

    async def enabled_bindings_all(self) -> list[dict[str, Any]]: ...

    async def mark_pool_fired(self, owner: str, pool_id: int, fired_at: str) -> None: ...


class Cursor(Protocol):
    async def load(self) -> int | None: ...

    async def save(self, t_ms: int) -> None: ...


Enqueue = Callable[[RunOrder, int], Awaitable[bool]]
Exits = Callable[[int], Awaitable[int]]
"""`exits(T)`: broker exits of open positions on the candle closing at T; returns how many filled."""
Publish = Callable[[str, Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TickReport:
    at_ms: int
    pools_evaluated: int
    pools_fired: int
    runs_enqueued: int
    exits_filled: int = 0


def pool_trigger(pool_id: int, at_ms: int, values: list[dict[str, Any]]) -> Trigger:
    return Trigger(id=f"pool-{pool_id}-{at_ms}", type="signal", time=to_iso(at_ms), time_ms=at_ms, pool=pool_id, signals=values)


def schedule_trigger(at_ms: int) -> Trigger:
    return Trigger(id=f"schedule-{at_ms}", type="schedule", time=to_iso(at_ms), time_ms=at_ms)


class TriggerClock:
    def __init__(self, market: MarketData, index: LiveIndex, enqueue: Enqueue, publish: Publish, cursor: Cursor | None = None,
                 exits: Exits | None = None) -> None:
        self._market = market
        self._exits = exits
        self._index = index
        self._enqueue = enqueue
        self._publish = publish
        self._cursor = cursor

    async def run(self, stopping: asyncio.Event) -> None:
        """Tick on every market-minute close until `stopping` is set; errors are logged, never fatal."""
        now = self._market.now()
        last = now - now % TICK_MS
        stored = await self._load_cursor()
        if stored is not None and last - CATCH_UP_MS <= stored < last:
            last = stored
        while not stopping.is_set():
            due = last + TICK_MS
            now = self._market.now()
            if now < due:
                wait_s = (due - now) / self._market.live_speed / 1000.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=max(wait_s, 0.001))
                continue
            if due < now - CATCH_UP_MS:  # far behind (a sleeping laptop): skip ahead, say so
                log.warning("clock_skipped", missed_from=to_iso(due), to=to_iso(now - now % TICK_MS))
                due = now - now % TICK_MS
            try:
                await self.tick(due)
            except Exception:  # the store or NATS is down: try this close again shortly
                log.exception("clock_tick_failed", at=to_iso(due))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=1.0)
                continue
            last = due
            with contextlib.suppress(Exception):
                await self._save_cursor(due)

    async def _load_cursor(self) -> int | None:
        if self._cursor is None:
            return None
        try:
            return await self._cursor.load()
        except Exception:  # no cursor: start from now
            return None

    async def _save_cursor(self, t: int) -> None:
        if self._cursor is not None:
            await self._cursor.save(t)

    async def tick(self, at_ms: int) -> TickReport:
        """Everything that happens at the close `at_ms` (a multiple of one minute)."""
        pools = [p for p in await self._index.enabled_pools_all() if p.get("enabled", True)]
        bindings = [b for b in await self._index.enabled_bindings_all() if b.get("enabled", False)]
        by_pool: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for binding in bindings:
            for pool_id in binding.get("signal_pool_ids") or ():
                by_pool.setdefault((binding["owner"], int(pool_id)), []).append(binding)
        due: list[tuple[dict[str, Any], Pool]] = []
        for doc in pools:
            try:
                pool = pool_from_doc(doc)
            except (SignalError, KeyError, TypeError, ValueError) as exc:
                log.warning("pool_unreadable", pool_id=doc.get("id"), error=str(exc))
                continue
            if at_ms % pool.step_ms == 0 and (doc["owner"], int(doc["id"])) in by_pool:
                due.append((doc, pool))
        fired = await self._evaluate(due, at_ms)
        queued = 0
        for doc, values in fired:
            queued += await self._fire_pool(doc, values, at_ms, by_pool.get((doc["owner"], int(doc["id"])), []))
        queued += await self._schedules(bindings, at_ms)
        exits = await self._exits(at_ms) if self._exits is not None else 0
        report = TickReport(at_ms, len(due), len(fired), queued, exits)
        if due or queued or exits:
            log.info("clock_tick", at=to_iso(at_ms), pools=len(due), fired=len(fired), runs=queued, exits=exits)
        return report

    async def _evaluate(self, due: list[tuple[dict[str, Any], Pool]], at_ms: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        keys: set[SeriesKey] = {key for _, pool in due for key in pool.series_keys()}
        arrays: dict[SeriesKey, CandleArrays] = {}
        for symbol, timeframe in keys:
            try:
                arrays[(symbol, timeframe)] = await self._market.candles(
                    symbol, timeframe, end_ms=at_ms, limit=HISTORY_BARS, as_of_ms=at_ms
                )
            except Exception as exc:  # unknown symbol now (a deleted import): the pool cannot fire
                log.warning("pool_series_unavailable", symbol=symbol, timeframe=timeframe, error=str(exc))

        def run() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
            out = []
            for doc, pool in due:
                if any(key not in arrays for key in pool.series_keys()):
                    continue
                evaluation = evaluate(pool, arrays, at_ms)
                if evaluation.fired:
                    out.append((doc, evaluation.values))
            return out

        # Numpy over a few hundred bars per pool: trusted and bounded, but kept off the loop all the same.
        return await asyncio.to_thread(run) if due else []

    async def _fire_pool(self, doc: dict[str, Any], values: list[dict[str, Any]], at_ms: int, bindings: list[dict[str, Any]]) -> int:
        owner, pool_id = doc["owner"], int(doc["id"])
        trigger = pool_trigger(pool_id, at_ms, values)
        await self._publish(subjects.EVT_SIGNAL_FIRED, SignalFired(
            id=f"signal-{pool_id}-{at_ms}", time=now_iso(), owner=owner, correlation_id=trigger.id,
            pool_id=pool_id, close_time=to_iso(at_ms), signals=values,
        ))
        await self._index.mark_pool_fired(owner, pool_id, to_iso(at_ms))
        return await self.enqueue_runs(bindings, trigger)

    async def enqueue_runs(self, bindings: Iterable[dict[str, Any]], trigger: Trigger) -> int:
        """One run message per binding for `trigger` (what a pool firing does; the benchmark calls it too)."""
        queued = 0
        for binding in bindings:
            order = RunOrder(owner=binding["owner"], binding_id=int(binding["id"]), trigger=trigger, queued_at_ms=now_ms())
            if await self._enqueue(order, int(binding["account_id"])):
                queued += 1
        return queued

    async def _schedules(self, bindings: list[dict[str, Any]], at_ms: int) -> int:
        queued = 0
        for binding in bindings:
            raw = binding.get("schedule")
            if not raw:
                continue
            try:
                schedule = parse_schedule(raw)
            except (SignalError, AttributeError) as exc:
                log.warning("schedule_unreadable", binding_id=binding.get("id"), error=str(exc))
                continue
            fire = next_fire(schedule, at_ms - TICK_MS)
            if fire <= at_ms:
                queued += await self.enqueue_runs([binding], schedule_trigger(fire))
        return queued
