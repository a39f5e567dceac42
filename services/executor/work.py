"""What the executor's worker processes do: compile, validate and test-run programs.

Untrusted work never runs on the service's event loop (`shared/workers`). Each worker builds what it
needs once, in `init`: its own market data (from the same settings, so the same store, simulator and
Hyperliquid source as the service) on a private event loop that lives as long as the worker, and a
compile cache bounded by bytes. The functions below run inside a worker, one call at a time; the
service awaits them with a hard timeout, and a worker that times out is killed and replaced.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import msgspec

from shared.lang import CompileResult, RunLimits
from shared.lang.cache import MIB, CompileCache
from shared.limits import MAX_MESSAGE_BYTES
from shared.market import MarketData
from shared.messages.runs import Diagnostic, RunFailure, TestRunRequest, TestRunResult, ValidateResult
from shared.settings import Settings


class _Worker:
    """The per-process state `init` builds (module global: one per worker process)."""

    def __init__(self, cache: CompileCache, loop: asyncio.AbstractEventLoop | None, market: MarketData | None) -> None:
        self.cache = cache
        self.loop = loop
        self.market = market


_worker: _Worker | None = None


def init(settings: Settings) -> None:
    """Executor worker: market data on a private, persistent event loop, and a compile cache."""
    global _worker
    from shared.market.factory import open_market_data

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    resources = AsyncExitStack()  # closed when the worker process ends (it is killed, never drained)
    market, _ = loop.run_until_complete(open_market_data(settings, resources))
    _worker = _Worker(CompileCache(settings.compile_cache_mb * MIB), loop, market)


def init_compiler(cache_bytes: int) -> None:
    """A worker that only compiles (no market data)."""
    global _worker
    _worker = _Worker(CompileCache(cache_bytes), None, None)


def _state() -> _Worker:
    if _worker is None:  # called outside a pool worker (tests of this module): compile only
        init_compiler(16 * MIB)
    assert _worker is not None
    return _worker


def compiled(source: str) -> CompileResult:
    return _state().cache.get(source)


def diagnostics(items: Any) -> list[Diagnostic]:
    return [Diagnostic(line=d.line, column=d.column, message=d.message) for d in items]


def validate(code: str) -> ValidateResult:
    result = compiled(code)
    return ValidateResult(valid=result.ok, errors=diagnostics(result.errors), warnings=diagnostics(result.warnings))


def test_run(req: TestRunRequest, code: str, limits: RunLimits) -> TestRunResult:
    """Compile (cached), load the market view, run once, fill the orders on a paper account."""
    from services.executor.runs import compile_failure, execute_test_run

    state = _state()
    compilation = compiled(code)
    if not compilation.ok or compilation.program is None:
        return compile_failure(compilation)
    if state.market is None or state.loop is None:
        raise RuntimeError("this worker has no market data (started with init_compiler)")
    result = execute_test_run(state.loop, state.market, compilation.program, req, limits)
    return fit_on_the_bus(result)


def fit_on_the_bus(result: TestRunResult) -> TestRunResult:
    """A reply that would not fit in one NATS message becomes a clear limit error (logs kept short)."""
    size = len(msgspec.json.encode(result))
    if size <= MAX_MESSAGE_BYTES:
        return result
    message = f"the run's result is too large to send ({size:,} bytes; at most {MAX_MESSAGE_BYTES:,})"
    return TestRunResult(
        status="error",
        error=RunFailure(kind="limit", message=message),
        logs=result.logs if sum(len(line) for line in result.logs) < MAX_MESSAGE_BYTES // 8 else [],
        duration_ms=result.duration_ms,
        steps=result.steps,
        symbol=result.symbol,
        timeframe=result.timeframe,
        time=result.time,
        price=result.price,
        source=result.source,
    )
