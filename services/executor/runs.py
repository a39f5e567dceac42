"""Checking and dry-running programs: validate, and test-run against current market data.

A test run places no order anywhere: it runs the program once against a live market view and a paper
account snapshot, and reports the decision, every recorded order, the logs and what it cost. Programs
run in a worker thread so a run that uses its full wall-clock budget never stalls the event loop (and
with it NATS heartbeats and other requests); the language's own limits guarantee that the thread ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import msgspec

from services.executor.market_desk import checked_timeframe, unknown_symbol
from shared.context import RequestContext
from shared.errors import InvalidRequest
from shared.lang import AccountSnapshot, CompileResult, RunLimits, RunResult, compile_program
from shared.market import TIMEFRAMES, MarketData, MarketView, UnknownSymbolError
from shared.messages.runs import (
    AccountInput,
    Decision,
    Diagnostic,
    RunFailure,
    TestRunRequest,
    TestRunResult,
    ValidateRequest,
    ValidateResult,
)
from shared.timefmt import to_iso

MANUAL_TRIGGER: dict[str, Any] = {"type": "manual", "pool": None, "signals": []}


class ProgramSource(Protocol):
    async def code_of(self, program_id: int, ctx: RequestContext) -> tuple[str, int]:
        """(code, version) of a program the caller owns; raises NotFound otherwise."""
        ...


@lru_cache(maxsize=512)
def compiled(code: str) -> CompileResult:
    """Compile once per distinct source (a program version), run many times."""
    return compile_program(code)


def diagnostics(items: Sequence[Any]) -> list[Diagnostic]:
    return [Diagnostic(line=d.line, column=d.column, message=d.message) for d in items]


def validate(req: ValidateRequest, ctx: RequestContext | None = None) -> ValidateResult:
    result = compiled(req.code)
    return ValidateResult(valid=result.ok, errors=diagnostics(result.errors), warnings=diagnostics(result.warnings))


def account_snapshot(account: AccountInput, view: MarketView) -> AccountSnapshot:
    """The paper account as the program sees it, valued at the view's prices."""
    positions: dict[str, dict[str, Any]] = {}
    unrealized_total = 0.0
    for position in account.positions:
        symbol = position.symbol.upper()
        try:
            price = view.price if symbol == view.symbol else view.market(symbol).price
        except UnknownSymbolError:
            raise InvalidRequest(f"account.positions: unknown symbol `{symbol}`", details={"field": "account.positions"}) from None
        direction = 1.0 if position.side == "long" else -1.0
        unrealized = (price - position.entry_price) * position.size * direction
        unrealized_total += unrealized
        positions[symbol] = {
            "side": position.side,
            "size": position.size,
            "entry_price": position.entry_price,
            "unrealized_pnl": unrealized,
        }
    return AccountSnapshot(balance=account.balance, equity=account.balance + unrealized_total, positions=positions)


def _decision(order: dict[str, Any]) -> Decision:
    return msgspec.convert(order, Decision)


def _result(run: RunResult) -> TestRunResult:
    if run.status == "ok":
        return TestRunResult(
            status="ok",
            result=_decision(run.decision),
            orders=[_decision(order) for order in run.orders],
            logs=run.logs,
            duration_ms=round(run.duration_ms, 3),
            steps=run.steps,
            state=run.state,
        )
    assert run.error is not None
    return TestRunResult(
        status="error",
        error=RunFailure(kind=run.error.kind, message=run.error.message, line=run.error.line, column=run.error.column),
        logs=run.logs,
        duration_ms=round(run.duration_ms, 3),
        steps=run.steps,
    )


class TestRunner:
    def __init__(self, market: MarketData, programs: ProgramSource, limits: RunLimits | None = None) -> None:
        self._market = market
        self._programs = programs
        self._limits = limits or RunLimits()

    async def _preloadable(self, markets: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        """The literal `ctx.market(...)` series that exist; the others fail inside the run, where the
        program's author sees the error at its line, not as a failed request."""
        known = set(await self._market.symbols())
        return [(symbol, tf) for symbol, tf in markets if symbol in known and (tf is None or tf in TIMEFRAMES)]

    async def test_run(self, req: TestRunRequest, ctx: RequestContext) -> TestRunResult:
        if (req.program_id is None) == (req.code is None):
            raise InvalidRequest("give exactly one of `program_id` or `code`", details={"field": "program_id"})
        timeframe = checked_timeframe(req.timeframe)
        symbol = req.symbol.upper()
        version = None
        if req.program_id is not None:
            code, version = await self._programs.code_of(req.program_id, ctx)
        else:
            code = req.code or ""
        compilation = compiled(code)
        if not compilation.ok or compilation.program is None:
            first = compilation.errors[0]
            failure = RunFailure(
                kind="compile", message=first.message, line=first.line, column=first.column, errors=diagnostics(compilation.errors)
            )
            return TestRunResult(status="error", error=failure, logs=[], duration_ms=0.0, steps=0, program_id=req.program_id, version=version)
        program = compilation.program
        try:
            view = await self._market.view(symbol, timeframe, preload=await self._preloadable(program.markets))
        except UnknownSymbolError:
            raise await unknown_symbol(self._market, symbol) from None
        account = account_snapshot(req.account, view)
        run = await asyncio.to_thread(
            program.run,
            market=view,
            account=account,
            params=req.params,
            state=req.state,
            trigger=MANUAL_TRIGGER,
            limits=self._limits,
        )
        result = _result(run)
        result.program_id = req.program_id
        result.version = version
        result.symbol = symbol
        result.timeframe = timeframe
        result.time = to_iso(view.timestamp)
        result.price = view.price
        return result
