"""What runs inside the backtester's worker processes (never on the service's event loop).

`init` builds each worker's own market data and results store (its own store connections and event
loop: a worker is a separate process, and both are async) once, when the worker starts.
`compile_errors` checks a program for the submit; `run_job` loads the candles (read here, from the
store: cheaper than reading them in the service and pickling them over), runs the engine, and
writes the result chunks (curve, trades, triggers, markers) to the store itself. Only the summary
(metrics, the downsampled curve, counts) goes back to the service, which then marks the job
completed: a 500,000-bar result is tens of MB, and pickling it to the service and writing it there
took seconds of the service's event loop. Everything passed in and out is plain data.
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AsyncExitStack
from typing import Any

import msgspec
import numpy as np

from services.backtester.bindings import is_binding_selection, replay_bars
from services.backtester.engine import BacktestProgramError, BacktestSpec, Trigger, run_backtest
from services.backtester.items import LOGS, marker_columns
from services.backtester.store import EQUITY, MARKERS, TRADES, TRIGGERS, BacktestStore
from shared.lang import CompileResult
from shared.lang.cache import MIB, CompileCache
from shared.market import MarketData, MarketRequestError, UnknownSymbolError
from shared.market.errors import CandleDataError, MarketDataUnavailableError
from shared.messages.backtests import METRIC_FIELDS
from shared.settings import Settings
from shared.signals.errors import SignalError
from shared.timefmt import to_iso
from shared.trading import AccountConfig
from shared.workers import report_progress

MAX_CURVE_POINTS = 2_000
MAX_CONTEXT_BYTES = 32 * 1024
"""A trigger's context above this (long logs) keeps its first log lines and says it was cut."""
WARMUP_BARS = 500
"""History before the range that indicators may read at its first bar."""

_market: MarketData | None = None
_loop: asyncio.AbstractEventLoop | None = None
_resources: AsyncExitStack | None = None
_results: BacktestStore | None = None
_encode = msgspec.json.Encoder().encode


def init(settings: Settings) -> None:
    """Worker initializer: this process's market data (same sources and store as the service)."""
    global _market, _loop, _resources, _results
    from shared.market.factory import open_market_data
    from shared.store import open_store

    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    _resources = AsyncExitStack()
    _market, _ = _loop.run_until_complete(open_market_data(settings, _resources))
    store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    _resources.push_async_callback(store.close)
    _results = _loop.run_until_complete(BacktestStore.open(store))


_compile_cache = CompileCache(64 * MIB)  # per worker process: bounded by bytes, like the executor's


def compiled(code: str) -> CompileResult:
    return _compile_cache.get(code)


def compile_errors(code: str) -> list[dict[str, Any]]:
    """`[{line, column, message}]` of a program that does not compile; empty when it does."""
    return [{"line": d.line, "column": d.column, "message": d.message} for d in compiled(code).errors]


def job_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """What a worker needs from the record (plain data)."""
    keys = ("id", "owner", "code", "symbol", "timeframe", "start_ms", "end_ms", "initial_capital", "fee_rate", "slippage_bps",
            "leverage", "params", "selection")  # fmt: skip
    return {key: doc.get(key) for key in keys}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def downsample(times: np.ndarray, values: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[dict[str, Any]]:
    """At most `limit` points, evenly spaced, always keeping the first, the last and the lowest point
    (so the chart shows the worst drawdown's trough)."""
    n = len(times)
    if n <= limit:
        picked = np.arange(n)
    else:
        picked = np.unique(np.concatenate([np.linspace(0, n - 1, limit - 1).round().astype(np.int64), [int(np.argmin(values))]]))
    return [{"time": to_iso(int(times[i])), "equity": float(values[i])} for i in picked]


def context_bound(record: list[Any]) -> int:
    """An upper bound of the JSON size of the context made from `record` (`items.trigger_context`),
    from the record's own JSON, without making the context: a call `[n, a, r, m]` becomes
    `{"name": n, "args": a, "result": r}` (at most ~2.1× the smallest call), times become ISO strings,
    each order gains `"fill"`, and the top level adds its keys."""
    return int(2.5 * len(_encode(record))) + 512


def _cap_logs(trigger: Trigger) -> None:
    """A context above MAX_CONTEXT_BYTES keeps its first log lines (only logs are ever cut)."""
    record = trigger.record
    if record is None or context_bound(record) <= MAX_CONTEXT_BYTES or len(_encode(trigger.context)) <= MAX_CONTEXT_BYTES:
        return
    logs = list(record[LOGS])
    kept: list[str] = []
    size = 0
    for line in logs:
        size += len(line.encode()) + 4
        if size > MAX_CONTEXT_BYTES // 2:
            break
        kept.append(line)
    kept.append(f"… {len(logs) - len(kept)} more log lines not kept")
    record[LOGS] = kept


def _preloadable(markets: Any) -> list[tuple[str, str | None]]:
    """The literal `ctx.market(...)` series that exist; the others fail inside the run, at their line."""
    assert _market is not None and _loop is not None
    known = set(_loop.run_until_complete(_market.symbols()))
    return [(symbol, tf) for symbol, tf in markets if symbol in known]


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one backtest and write its result chunks; the summary (or the program's failure) goes back."""
    assert _market is not None and _loop is not None and _results is not None, "work.init did not run in this worker"
    compilation = compiled(spec["code"])
    if not compilation.ok or compilation.program is None:
        first = compilation.errors[0]
        return {"error": {"kind": "compile", "message": first.message, "line": first.line, "column": first.column}}
    program = compilation.program
    started = time.perf_counter()
    try:
        view = _loop.run_until_complete(
            _market.backtest_view(spec["symbol"], spec["timeframe"], spec["start_ms"], spec["end_ms"], WARMUP_BARS,
                                  preload=_preloadable(program.markets))
        )
    except (MarketRequestError, UnknownSymbolError, CandleDataError, MarketDataUnavailableError) as exc:
        return {"error": {"kind": "data", "message": str(exc)}}
    if len(view) == 0:
        return {"error": {"kind": "data", "message": f"no {spec['symbol']} {spec['timeframe']} candles between "
                          f"{to_iso(spec['start_ms'])} and {to_iso(spec['end_ms'])}"}}
    account = AccountConfig(initial_capital=spec["initial_capital"], fee_rate=spec["fee_rate"],
                            slippage_bps=spec["slippage_bps"], leverage=spec["leverage"])
    selection = spec.get("selection") or {}
    run_on = selection.get("run_on")
    bar_triggers = None
    if run_on is None and is_binding_selection(selection):  # live-followups: replay a binding's triggers
        try:
            replay = replay_bars(_market, _loop, view.arrays.time[view.offset:], spec["timeframe"], selection, warmup=WARMUP_BARS)
        except (SignalError, MarketRequestError, UnknownSymbolError, CandleDataError, MarketDataUnavailableError) as exc:
            return {"error": {"kind": "data", "message": f"cannot replay binding {selection.get('binding_id')}: {exc}"}}
        run_on, bar_triggers = replay.positions, replay.by_bar()  # each run sees the ctx.trigger it had live
    engine_spec = BacktestSpec(account=account, params=spec["params"] or {}, run_on=run_on, triggers=bar_triggers)

    def progress(done: int, total: int) -> None:
        report_progress((done, total))

    loaded = time.perf_counter()
    try:
        outcome = run_backtest(program, view, engine_spec, progress=progress)
    except BacktestProgramError as exc:
        return {
            "error": {"kind": exc.kind, "message": exc.message, "line": exc.line, "column": exc.column, "bar_time": exc.bar_time},
            "bars_done": exc.bar,
            "bars_total": len(view),
            "source": getattr(view, "source", None),
        }
    ran = time.perf_counter()
    backtest_id = spec["id"]
    # Stored as the engine's records (`items.py`): the API's items are made when a page is read.
    triggers = outcome.triggers
    for trigger in triggers:
        if trigger.record is not None and trigger.record[LOGS]:
            _cap_logs(trigger)
    metrics_all = {name: _finite(value) for name, value in outcome.metrics.items()}
    metrics_all["notes"] = list(outcome.notes)
    trades = outcome.trades
    markers = marker_columns(outcome.fills)
    curve = np.column_stack([outcome.equity_times.astype(np.float64), outcome.equity])
    built = time.perf_counter()
    _loop.run_until_complete(_results.write_results(spec["owner"], backtest_id, {
        EQUITY.name: curve, TRADES.name: trades, TRIGGERS.name: triggers, MARKERS.name: markers,
    }))  # fmt: skip
    return {
        "error": None,
        "written": True,
        "timings": {"load_s": loaded - started, "engine_s": ran - loaded, "documents_s": built - ran,
                    "write_s": time.perf_counter() - built},  # fmt: skip
        "source": outcome.source,
        "bars_total": outcome.bars,
        "metrics": {name: metrics_all.get(name) for name in METRIC_FIELDS},
        "metrics_all": metrics_all,
        "trades_count": len(trades),
        "triggers_count": len(triggers),
        "markers_count": len(markers),
        "equity_points": len(curve),
        "equity": downsample(outcome.equity_times, outcome.equity),
    }
