"""Binding replay: a backtest of a live binding runs its program only where the binding would have run.

Two halves, one per side of the worker pipe:

- `ExecutorBindings` (the submit, on the loop): the binding and its signal pools from the executor,
  which owns them (`executor.bindings.get`, `executor.signal_pools.get`), and the program's code from
  the registry — every call on the CALLER's behalf, so a binding or pool of another owner is a 404
  exactly as over HTTP. It returns the program, the binding's symbol, timeframe and params, and a
  `selection` (`binding_id`, the pools as stored, the schedule) that the job record keeps: the job
  replays the binding as it was when submitted, whatever is edited later.
- `replay_bars` (in the worker, once the range's bars are loaded): the bars to run on and each run's
  `ctx.trigger`, from `shared.signals.replay.replay_runs` — the same evaluator as the live clock
  (`shared.signals`), over the pools' own series (with warm-up, from the same sources and rules as the
  backtest's view). A trigger at market time t runs on the bar whose close is the latest at or before
  t, which is the view the program had live; several triggers on one bar are one run, whose
  `ctx.trigger` is the earliest of them (`program_trigger`: `{type: "signal" | "schedule", pool, signals, time}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np

from services.backtester.submit import BindingReplay, ProgramCode
from shared import subjects
from shared.context import RequestContext
from shared.errors import InvalidRequest, NotFound
from shared.market import MarketData
from shared.market.candles import CandleArrays
from shared.market.timeframes import ceil_time, timeframe_ms
from shared.messages.live import Binding, BindingRef, PoolRef, SignalPool
from shared.runtime import Service
from shared.signals import SeriesKey, parse_schedule, pool_from_doc
from shared.signals.replay import ReplayRuns, replay_runs

SELECTION_KIND = "binding"


class ExecutorBindings:
    """`BindingSource` backed by the executor (bindings, pools) and the registry (program code)."""

    def __init__(self, service: Service, programs: ProgramCode) -> None:
        self._service = service
        self._programs = programs

    async def replay(self, binding_id: int, ctx: RequestContext) -> BindingReplay:
        client = self._service.client()
        try:
            binding = await client.request(subjects.BINDINGS_GET, BindingRef(id=binding_id), Binding, ctx)
        except NotFound:
            raise NotFound(f"binding {binding_id} not found", details={"field": "binding_id"}) from None
        pools: list[dict[str, Any]] = []
        for pool_id in binding.signal_pool_ids:
            try:
                pool = await client.request(subjects.SIGNAL_POOLS_GET, PoolRef(id=pool_id), SignalPool, ctx)
            except NotFound:  # deleting a pool in use is refused; this is a race with a binding edit
                raise InvalidRequest(
                    f"signal pool {pool_id} of binding {binding_id} no longer exists", details={"field": "binding_id"}
                ) from None
            pools.append({
                "id": pool.id,
                "logic": pool.logic,
                "signals": [
                    {"symbol": s.symbol, "timeframe": s.timeframe, "metric": s.metric, "operator": s.operator, "value": s.value}
                    for s in pool.signals
                ],
            })
        schedule = None
        if binding.schedule is not None:
            schedule = {k: v for k, v in (("interval", binding.schedule.interval), ("cron", binding.schedule.cron)) if v}
        if not pools and not schedule:
            raise InvalidRequest(f"binding {binding_id} has no trigger to replay", details={"field": "binding_id"})
        try:
            code, version = await self._programs.code(binding.program_id, binding.program_version, ctx)
        except NotFound:
            raise NotFound(
                f"program {binding.program_id} of binding {binding_id} not found", details={"field": "binding_id"}
            ) from None
        selection = {"kind": SELECTION_KIND, "binding_id": binding_id, "pools": pools, "schedule": schedule}
        return BindingReplay(
            program_id=binding.program_id, version=version, code=code, selection=selection,
            symbol=binding.symbol, timeframe=binding.timeframe, params=dict(binding.params),
        )


def is_binding_selection(selection: Mapping[str, Any] | None) -> bool:
    return bool(selection) and selection.get("kind") == SELECTION_KIND  # type: ignore[union-attr]


def replay_bars(
    market: MarketData,
    loop: asyncio.AbstractEventLoop,
    bar_open_times: np.ndarray,
    timeframe: str,
    selection: Mapping[str, Any],
    *,
    warmup: int,
) -> ReplayRuns:
    """Positions (0-based in the range) of the bars the binding runs on, with each run's `ctx.trigger`.
    Raises SignalError for a pool or schedule that cannot be replayed over this range (too many
    evaluation times), and the market's errors for a pool series that cannot be loaded."""
    opens = np.asarray(bar_open_times, dtype=np.int64)
    if not opens.size:
        return ReplayRuns([], [])
    period = timeframe_ms(timeframe)
    start, end = int(opens[0]), int(opens[-1]) + period
    docs = list(selection.get("pools") or ())
    pools = [pool_from_doc(doc) for doc in docs]
    series: dict[SeriesKey, CandleArrays] = {}
    for pool in pools:
        for symbol, tf in pool.series_keys():
            if (symbol, tf) not in series:
                p = timeframe_ms(tf)
                # same call as the backtest's own series (MarketData.backtest_view): one source, warm-up included
                sourced = loop.run_until_complete(
                    market.series(symbol, tf, ceil_time(start, p), ceil_time(end, p), as_of_ms=ceil_time(end, p),
                                  live=False, warmup=warmup)
                )
                series[(symbol, tf)] = sourced.candles
    raw_schedule = selection.get("schedule")
    schedule = parse_schedule(raw_schedule) if raw_schedule else None
    return replay_runs(
        opens, period, pools_with_series=[(int(doc["id"]), pool, series) for doc, pool in zip(docs, pools, strict=True)],
        schedule=schedule,
    )

