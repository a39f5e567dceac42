"""The worker side of a live run and of a preview: run the program, then send its orders to the broker.

Runs in a `shared.workers.WorkerPool` process, never on the service's event loop: the program is
untrusted and its budget (2 s wall clock) is long next to an event loop's. Everything the run needs
comes in one picklable `RunJob` (code, market time, account, params, state, trigger) and everything
it produced goes back in one `RunOutcome`; nothing here writes anywhere, so a preview and a live run
are the same call and only the caller decides whether the outcome is committed.

Each worker keeps its own market data (opened on first use from the job's `MarketConfig`) and a
compile cache. The view is built at the job's `at_ms` (the service's market clock), not at the
worker's own clock, so a sped-up simulator clock means the same moment in both processes.

Fills: every order fills at the CURRENT price of its symbol (the last price at `at_ms`, the same
reference a test run shows), with the account's fee rate and slippage, through
`shared.trading.PaperAccount.execute` — the very rules a backtest uses.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from shared.lang.cache import MIB, CompileCache
from shared.lang import RunLimits
from shared.market.recording import Read, RecordingView, indicator_reads
from shared.market.view import MarketView
from shared.trading.account import PaperAccount
from shared.trading.models import Fill, Rejection


MAX_READS = 500
"""Reads (price, candles, indicator calls) one execution keeps in its `values`: a program that reads in a
loop leaves a bounded log."""


class MarketConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How a worker opens the market data (the service's settings, as far as candles go)."""

    sqlite_path: str
    mongodb_url: str | None = None
    mongodb_db: str = "hyperoru"
    seed: int = 42
    hyperliquid_url: str | None = None


class RunJob(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    symbol: str
    timeframe: str
    at_ms: int
    account: dict[str, Any]
    """`PaperAccount.to_doc()` of the binding's account before the run."""
    params: dict[str, Any]
    state: dict[str, Any]
    trigger: dict[str, Any]
    market: MarketConfig


def binding_job(
    binding: dict[str, Any], code: str, at_ms: int, account: dict[str, Any], state: dict[str, Any],
    trigger: dict[str, Any], market: MarketConfig,
) -> RunJob:
    """The run of a binding (its symbol, timeframe and params) at market time `at_ms`: a live run's and
    a preview's job differ only in the account, state and trigger they pass."""
    return RunJob(
        code=code,
        symbol=str(binding["symbol"]),
        timeframe=str(binding.get("timeframe") or "1h"),
        at_ms=at_ms,
        account=account,
        params=dict(binding.get("params") or {}),
        state=state,
        trigger=trigger,
        market=market,
    )


class RunOutcome(msgspec.Struct, kw_only=True):
    status: str
    """`ok` or `error` (the program failed: compile, runtime or limit)."""
    decision: dict[str, Any]
    orders: list[dict[str, Any]]
    logs: list[str]
    error: dict[str, Any] | None
    state: dict[str, Any]
    fills: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    account: dict[str, Any]
    """The account after the fills (`PaperAccount.to_doc()`)."""
    price: float | None
    values: dict[str, Any]
    """What the program read: price, time, account, and every indicator call with its result."""
    duration_ms: float
    steps: int


# ---- per-worker resources ------------------------------------------------------------------------------

_local = threading.local()
"""Per worker (and per thread, should a caller run jobs in threads): an event loop and the market data."""


def _market_data(config: MarketConfig) -> Any:
    """This worker's `MarketData` (opened once per config; its async calls run on a private loop)."""
    if getattr(_local, "config", None) == config:
        return _local.market
    from shared.market.market_data import build_market_data

    if getattr(_local, "loop", None) is None:
        _local.loop = asyncio.new_event_loop()
    if config.mongodb_url:
        from pymongo import AsyncMongoClient

        from shared.market.store_mongo import MongoCandleStore

        client: Any = AsyncMongoClient(config.mongodb_url, serverSelectionTimeoutMS=5000)
        store: Any = MongoCandleStore(client[config.mongodb_db])
    else:
        from shared.market.store_sqlite import SqliteCandleStore

        store = SqliteCandleStore(Path(config.sqlite_path))
    _local.market = build_market_data(store, seed=config.seed, hyperliquid_url=config.hyperliquid_url)
    _local.config = config
    return _local.market


def _await(coro: Any) -> Any:
    return _local.loop.run_until_complete(coro)


_compiled = CompileCache(64 * MIB)
"""This worker's compiled programs, bounded by estimated bytes (a count bound let big programs fill the
worker's memory; services/executor/work.py, the test runs' cache; 64 MiB is `compile_cache_mb`'s default)."""


def _failure(kind: str, message: str, line: int | None = None, column: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "message": message, "line": line, "column": column}


def _price_of(view: MarketView, symbol: str) -> float | None:
    try:
        price = view.price if symbol == view.symbol else view.market(symbol).price
    except Exception:  # noqa: BLE001 - unknown symbol or no data: the broker rejects the order
        return None
    return float(price) if math.isfinite(price) and price > 0 else None


def run_job(job: RunJob, limits: RunLimits | None = None) -> RunOutcome:
    """Run the program once at `job.at_ms` and fill its orders on a copy of the account (see module doc)."""
    started = time.perf_counter()
    account = PaperAccount.from_doc(job.account)
    before = account.to_doc()
    compilation = _compiled.get(job.code)
    if not compilation.ok or compilation.program is None:
        first = compilation.errors[0]
        error = _failure("compile", first.message, first.line, first.column)
        return _outcome_error(error, job, before, None, {}, [], started)
    program = compilation.program
    market = _market_data(job.market)
    try:
        view = _await(market.view(job.symbol, job.timeframe, at_ms=job.at_ms))
    except Exception as exc:  # noqa: BLE001 - no market for the binding's symbol: the run fails, visibly
        return _outcome_error(_failure("runtime", f"no market data: {exc}"), job, before, None, {}, [], started)
    prices = {job.symbol: float(view.price)}
    for symbol in account.positions:
        price = _price_of(view, symbol)
        if price is not None:
            prices[symbol] = price
    for symbol, price in prices.items():
        account.mark(symbol, price)
    reads: list[Read] = []
    values: dict[str, Any] = {
        "time": job.at_ms,
        "price": prices[job.symbol],
        "prices": dict(prices),
        "balance": account.cash,
        "equity": account.equity(prices),
        "positions": {s: msgspec.to_builtins(p) for s, p in account.positions.items()},
    }
    run = program.run(
        market=RecordingView(view, reads, limit=MAX_READS),
        account=account.view(prices),
        params=job.params,
        state=job.state,
        trigger=job.trigger,
        limits=limits,
    )
    values["indicators"] = indicator_reads(reads, job.symbol, job.timeframe)
    if run.status != "ok":
        assert run.error is not None
        error = _failure(run.error.kind, run.error.message, run.error.line, run.error.column)
        return _outcome_error(error, job, before, prices[job.symbol], values, run.logs, started, run.steps)
    fills: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for order in run.orders:
        symbol = str(order.get("symbol") or job.symbol)
        price = prices.get(symbol) or _price_of(view, symbol)
        result = account.execute(order, price if price is not None else math.nan, job.at_ms)
        for item in result if isinstance(result, list) else [result]:
            if isinstance(item, Fill):
                fills.append(msgspec.to_builtins(item))
            elif isinstance(item, Rejection):
                rejections.append(msgspec.to_builtins(item))
    return RunOutcome(
        status="ok",
        decision=dict(run.decision),
        orders=[dict(o) for o in run.orders],
        logs=list(run.logs),
        error=None,
        state=dict(run.state),
        fills=fills,
        rejections=rejections,
        account=account.to_doc(),
        price=prices[job.symbol],
        values=values,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        steps=run.steps,
    )


def _outcome_error(error: dict[str, Any], job: RunJob, account: dict[str, Any], price: float | None,
                   values: dict[str, Any], logs: list[str], started: float, steps: int = 0) -> RunOutcome:
    reason = f"run failed: {error['message']}"
    return RunOutcome(
        status="error",
        decision={"action": "hold", "symbol": job.symbol, "quantity": 0.0, "reason": reason},
        orders=[],
        logs=list(logs),
        error=error,
        state=dict(job.state),
        fills=[],
        rejections=[],
        account=account,
        price=price,
        values=values,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        steps=steps,
    )
