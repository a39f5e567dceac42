"""Checking and dry-running programs: validate, and test-run against current market data.

A test run places no order anywhere: it runs the program once against a live market view and a paper
account built from the request's `account`, then fills the recorded orders on that account at the
view's price with the same rules a backtest uses (`shared/trading`): what cannot fill (unknown
symbol, notional above equity × leverage, quantity ≤ 0, nothing to close) is listed as rejected with
its reason, and `account_note` says so in words.

Where it runs: compiling and running are untrusted work, so both happen in the executor's worker
processes (`services/executor/work.py`), never on the event loop: a program that compiles or runs
too long is killed at `RUN_TIMEOUT_S` and answered as a `limit` error, while the service keeps
answering everything else. The service side (`TestRunner`, `Validator`) only fetches the program's
code and awaits the worker; the functions below `TestRunner` run inside a worker.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from services.executor import work
from services.executor.market_desk import checked_timeframe, unknown_symbol
from shared.context import RequestContext
from shared.errors import InvalidRequest, Unavailable
from shared.lang import CompileResult, Program, RunLimits, RunResult
from shared.market import TIMEFRAMES, MarketData, MarketView, UnknownSymbolError
from shared.messages.runs import (
    AccountInput,
    Decision,
    Diagnostic,
    RunFailure,
    TestFill,
    TestRejection,
    TestRunRequest,
    TestRunResult,
    ValidateRequest,
    ValidateResult,
)
from shared.timefmt import to_iso
from shared.trading import AccountConfig, Fill, PaperAccount, Position
from shared.workers import WorkerBusy, WorkerCrashed, WorkerPool, WorkTimeout

MANUAL_TRIGGER: dict[str, Any] = {"type": "manual", "pool": None, "signals": []}


class ProgramSource(Protocol):
    async def code_of(self, program_id: int, ctx: RequestContext) -> tuple[str, int]:
        """(code, version) of a program the caller owns; raises NotFound otherwise."""
        ...


# ---- service side -----------------------------------------------------------------------------------


class Validator:
    def __init__(self, pool: WorkerPool, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s

    async def validate(self, req: ValidateRequest, ctx: RequestContext | None = None) -> ValidateResult:
        try:
            return await self._pool.run(work.validate, req.code, timeout=self._timeout_s)
        except WorkerBusy as exc:  # never ran: a 503 the client retries, not a failed check
            raise Unavailable(f"the program could not be checked: {exc}", details=exc.details()) from None
        except WorkTimeout:
            message = f"the program took longer than {self._timeout_s:g} s to compile; make it smaller"
        except WorkerCrashed as exc:
            if "memory" not in str(exc):
                raise Unavailable(f"the program could not be checked: {exc}; try again") from None
            message = "compiling the program used too much memory; make it smaller"
        return ValidateResult(valid=False, errors=[Diagnostic(line=1, column=1, message=message)], warnings=[])


class TestRunner:
    def __init__(self, programs: ProgramSource, pool: WorkerPool, timeout_s: float, limits: RunLimits | None = None) -> None:
        self._programs = programs
        self._pool = pool
        self._timeout_s = timeout_s
        self._limits = limits or RunLimits()

    async def test_run(self, req: TestRunRequest, ctx: RequestContext) -> TestRunResult:
        if (req.program_id is None) == (req.code is None):
            raise InvalidRequest("give exactly one of `program_id` or `code`", details={"field": "program_id"})
        timeframe = checked_timeframe(req.timeframe)
        version = None
        if req.program_id is not None:
            code, version = await self._programs.code_of(req.program_id, ctx)
        else:
            code = req.code or ""
        request = msgspec.structs.replace(req, timeframe=timeframe)
        try:
            result = await self._pool.run(work.test_run, request, code, self._limits, timeout=self._timeout_s)
        except WorkerBusy as exc:  # never ran: a 503 the client retries (WORKER_QUEUE_TIMEOUT_S)
            raise Unavailable(f"the test run could not start: {exc}", details=exc.details()) from None
        except WorkTimeout:
            result = _stopped(f"the test run took longer than {self._timeout_s:g} s and was stopped (compile and run together)")
        except WorkerCrashed as exc:
            if "memory" not in str(exc):
                raise Unavailable(f"the test run's worker stopped unexpectedly ({exc}); try again") from None
            result = _stopped("the test run used too much memory and was stopped")
        result.program_id = req.program_id
        result.version = version
        return result


def _stopped(message: str) -> TestRunResult:
    return TestRunResult(status="error", error=RunFailure(kind="limit", message=message), logs=[], duration_ms=0.0, steps=0)


# ---- worker side ------------------------------------------------------------------------------------


def compile_failure(compilation: CompileResult) -> TestRunResult:
    first = compilation.errors[0]
    failure = RunFailure(kind="compile", message=first.message, line=first.line, column=first.column, errors=work.diagnostics(compilation.errors))
    return TestRunResult(status="error", error=failure, logs=[], duration_ms=0.0, steps=0)


async def _preloadable(market: MarketData, markets: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The literal `ctx.market(...)` series that exist; the others fail inside the run, where the
    program's author sees the error at its line, not as a failed request."""
    known = set(await market.symbols())
    return [(symbol, tf) for symbol, tf in markets if symbol in known and (tf is None or tf in TIMEFRAMES)]


async def _view(market: MarketData, program: Program, symbol: str, timeframe: str) -> MarketView:
    try:
        return await market.view(symbol, timeframe, preload=await _preloadable(market, program.markets))
    except UnknownSymbolError as exc:
        raise await unknown_symbol(market, symbol, exc) from None


def _price(view: MarketView, symbol: str) -> float | None:
    try:
        return float(view.price if symbol == view.symbol else view.market(symbol).price)
    except UnknownSymbolError:
        return None


def paper_account(account: AccountInput, view: MarketView) -> tuple[PaperAccount, dict[str, float]]:
    """The request's account as a paper account, and the prices (by symbol) it is valued at."""
    paper = PaperAccount(AccountConfig(initial_capital=account.balance, leverage=account.leverage), cash=account.balance)
    prices: dict[str, float] = {str(view.symbol): float(view.price)}
    for index, position in enumerate(account.positions):
        symbol = position.symbol.upper()
        field = f"account.positions[{index}].symbol"
        if symbol in paper.positions:  # netting: one position per symbol, as the broker keeps them
            raise InvalidRequest(f"{field}: a second position in `{symbol}` (one per symbol)", details={"field": field})
        price = _price(view, symbol)
        if price is None:
            raise InvalidRequest(f"{field}: unknown symbol `{symbol}`", details={"field": field})
        prices[symbol] = price
        paper.positions[symbol] = Position(symbol=symbol, side=position.side, size=position.size, entry_price=position.entry_price)
        paper.mark(symbol, price)
    return paper, prices


def fill_orders(paper: PaperAccount, prices: dict[str, float], view: MarketView, orders: list[dict[str, Any]]) -> tuple[list[TestFill], list[TestRejection]]:
    """Every order in turn on the paper account, at the view's price of its symbol."""
    fills: list[TestFill] = []
    rejected: list[TestRejection] = []
    for order in orders:
        symbol = order.get("symbol")
        if isinstance(symbol, str) and symbol not in prices:
            price = _price(view, symbol)
            if price is not None:
                prices[symbol] = price
        price = prices.get(symbol, math.nan) if isinstance(symbol, str) else math.nan
        outcome = paper.execute(order, price, int(view.timestamp), known_symbols=prices)
        if isinstance(outcome, Fill):
            fills.append(
                TestFill(
                    symbol=outcome.symbol,
                    side=outcome.side,
                    quantity=outcome.quantity,
                    price=outcome.price,
                    fee=outcome.fee,
                    notional=outcome.notional,
                    realized_pnl=outcome.realized_pnl,
                    order_reason=outcome.order_reason,
                )
            )
        else:
            rejected.append(
                TestRejection(
                    action=outcome.action,
                    symbol=outcome.symbol,
                    quantity=outcome.quantity,
                    reason=outcome.reason,
                    order_reason=outcome.order_reason,
                )
            )
    return fills, rejected


def account_note(view: MarketView, config: AccountConfig, fills: list[TestFill], rejected: list[TestRejection]) -> str:
    text = (
        f"Orders were filled on a paper account only, at the current price of each symbol "
        f"({view.symbol} {view.price:g}), with a {config.fee_rate * 100:g}% fee and leverage up to {config.leverage:g}; "
        "nothing was sent to any exchange."
    )
    if rejected:
        text += f" {len(rejected)} of {len(fills) + len(rejected)} orders could not be filled: see `rejected` for why."
    return text


def execute_test_run(loop: asyncio.AbstractEventLoop, market: MarketData, program: Program, req: TestRunRequest, limits: RunLimits) -> TestRunResult:
    """The whole test run inside a worker: view (on the worker's loop), run, paper fills."""
    symbol = req.symbol.upper()
    view = loop.run_until_complete(_view(market, program, symbol, req.timeframe))
    paper, prices = paper_account(req.account, view)
    run = program.run(
        market=view,
        account=paper.view(prices),
        params=req.params,
        state=req.state,
        trigger=MANUAL_TRIGGER,
        limits=limits,
    )
    result = _result(run)
    if run.status == "ok":
        result.fills, result.rejected = fill_orders(paper, prices, view, run.orders)
        result.account_note = account_note(view, paper.config, result.fills, result.rejected)
    result.symbol = view.symbol
    result.timeframe = req.timeframe
    result.time = to_iso(view.timestamp)
    result.price = view.price
    result.source = view.source
    result.note = view.note
    return result


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
