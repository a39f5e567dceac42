"""A compiled program, and the runner that calls it once per live run or per backtest bar.

`Program` holds what compiling produced (code objects, constants, the position map) and is immutable
and shareable. A `Runner` binds it to one market view, account, params, state and limits: it builds
the program's private globals (helpers bound to its own budget and ctx) once, so each `run()` only
resets a few fields, calls the compiled `run`, and packs the result. Runners are not thread-safe;
make one per thread (or per backtest). A backtest calls `step()` instead of `run()`: the same run
without building a `RunResult` (which costs about as much as a small program's whole run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from time import perf_counter
from types import CodeType, FunctionType, MethodType, TracebackType
from typing import Any, Literal

import msgspec

from shared.market.view import IndicatorError, MarketView

from .account import AccountSnapshot, AccountView
from .ctx import Ctx
from .errors import LangError
from .limits import Budget, RunLimits
from .positions import PositionMap
from .runtime import PURE_HELPERS, RUNTIME_HELPERS, Runtime
from .values import ValueConversionError, check_storable, copy_value, from_host

SAFE_BUILTINS: dict[str, Any] = {"type": type, "float": float, "bool": bool, "abs": abs, "min": min, "max": max}
"""The only Python builtins generated code can name."""

_LANG_DIR = os.path.dirname(os.path.abspath(__file__))


class RunError(msgspec.Struct, frozen=True):
    kind: Literal["runtime", "limit"]
    message: str
    line: int
    column: int


class RunResult(msgspec.Struct):
    status: Literal["ok", "error"]
    decision: dict[str, Any]
    """The first order (`action` buy/sell/close), else `{"action": "hold", ...}`."""
    orders: list[dict[str, Any]]
    logs: list[str]
    steps: int
    duration_ms: float
    error: RunError | None
    state: dict[str, Any]
    """State after the run (unchanged when it failed). From a `Runner` this is the runner's live map:
    read it, do not change it."""


def build_globals(
    used: frozenset[str],
    functions: dict[str, CodeType],
    budget: Budget,
    rt: Runtime,
    ctx: Ctx | None,
    view: MarketView | None,
) -> dict[str, Any]:
    """The private globals of one runner: exactly the names the compiled code uses, bound to it."""
    program_globals: dict[str, Any] = {"__builtins__": SAFE_BUILTINS, "_S": 0}
    budget.globals = program_globals
    for name in used:
        if name in PURE_HELPERS:
            program_globals[name] = PURE_HELPERS[name]
        elif name in RUNTIME_HELPERS:
            program_globals[name] = MethodType(RUNTIME_HELPERS[name], rt)
        elif name == "_refill":
            program_globals[name] = budget.refill
        elif name == "_enter":
            program_globals[name] = budget.enter
        elif name == "_VI" and view is not None:
            program_globals[name] = view.indicator
        elif name == "_SYMBOL" and view is not None:
            program_globals[name] = str(view.symbol)
        elif name == "_TIMEFRAME" and view is not None:
            program_globals[name] = str(view.timeframe)
        elif name.startswith("_cf_") and ctx is not None:
            program_globals[name] = MethodType(Ctx.FIELD_IMPL[name[4:]], ctx)
        elif name.startswith("_cm_") and ctx is not None:
            program_globals[name] = MethodType(Ctx.METHOD_IMPL[name[4:]][1], ctx)
    for name, code in functions.items():
        program_globals[name] = FunctionType(code, program_globals, name)
    return program_globals


def log_marker(ctx: Ctx) -> str:
    """The last log line of a run whose logs were cut at `max_logs` lines or `max_log_bytes` bytes."""
    limit = f"limit {ctx.max_logs:,} lines"
    if ctx.cut_log or ctx.log_bytes_left <= 0:
        limit += f" or {ctx.max_log_bytes:,} bytes"
    if not ctx.dropped_logs:
        return f"… the log was cut here ({limit})"
    return f"… {ctx.dropped_logs} more log lines were not kept ({limit})"


class Failure:
    """Turns an exception that stopped a run into a `RunError`, or re-raises it when it is the host's."""

    def __init__(self, positions: PositionMap) -> None:
        self.positions = positions

    def error(self, exc: BaseException) -> RunError:
        tb = exc.__traceback__
        if isinstance(exc, LangError):
            kind, message = exc.kind, exc.message
        elif isinstance(exc, IndicatorError):
            kind, message = "runtime", str(exc) or "indicator error"
        elif isinstance(exc, ZeroDivisionError) and self._ours(tb):
            kind, message = "runtime", "division by zero"
        elif isinstance(exc, RecursionError | MemoryError):
            kind, message = "limit", "the run used too much memory or nested too deeply"
        elif self._ours(tb):
            kind, message = "runtime", f"internal error ({type(exc).__name__}) — please report this program"
        else:
            raise exc
        line, column = self.positions.locate(tb)
        return RunError(kind, message, line, column)  # type: ignore[arg-type]

    def _ours(self, tb: TracebackType | None) -> bool:
        """Was the exception raised by compiled code or by this package (not by a host object)?"""
        last = None
        while tb is not None:
            last = tb
            tb = tb.tb_next
        if last is None:
            return False
        filename = last.tb_frame.f_code.co_filename
        return filename == self.positions.filename or os.path.dirname(os.path.abspath(filename)) == _LANG_DIR


class Program:
    """One compiled program version. Immutable; run it with `run()` or a `runner()`."""

    def __init__(
        self,
        functions: dict[str, CodeType],
        used: frozenset[str],
        consts: dict[str, object],
        positions: PositionMap,
        source: str,
        python_source: str,
        markets: tuple[tuple[str, str | None], ...] = (),
    ) -> None:
        self.functions = functions
        self.used = used
        self.collection_consts = tuple(consts.items())
        self.positions = positions
        self.source = source
        self.python_source = python_source
        """The generated Python, for debugging the compiler."""
        self.markets = markets
        """`(symbol, timeframe or None)` of every `ctx.market(...)` call with literal arguments: load these before a run."""

    def runner(
        self,
        market: MarketView,
        account: AccountView | None = None,
        params: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        limits: RunLimits | None = None,
    ) -> Runner:
        """A runner for many runs over one view (a backtest: advance the view, call `run()` per bar).

        Raises `ValueError` when params, state or trigger are not JSON-like data.
        """
        return Runner(self, market, account, params, state, trigger, limits)

    def run(
        self,
        market: MarketView,
        account: AccountView | None = None,
        params: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        limits: RunLimits | None = None,
    ) -> RunResult:
        """One run (test run, preview or live). Never raises for anything the program does."""
        try:
            runner = Runner(self, market, account, params, state, trigger, limits)
        except ValueConversionError as exc:
            error = RunError("runtime", str(exc), 0, 0)
            reason = f"run failed: {exc}"
            decision = {"action": "hold", "symbol": str(market.symbol), "quantity": 0.0, "reason": reason}
            return RunResult("error", decision, [], [], 0, 0.0, error, dict(state or {}))
        result = runner.run()
        if result.status == "error":
            result.state = dict(state or {})
        return result


class Runner:
    """A program bound to one view, account, params, state and limits; `run()` runs it once."""

    def __init__(
        self,
        program: Program,
        market: MarketView,
        account: AccountView | None,
        params: dict[str, Any] | None,
        state: dict[str, Any] | None,
        trigger: dict[str, Any] | None,
        limits: RunLimits | None,
    ) -> None:
        self.limits = limits or RunLimits()
        converted = [
            from_host(data or {}, what)
            for data, what in ((params, "params"), (state, "state"), (trigger or {"type": "manual"}, "trigger"))
        ]
        for data, what in zip(converted, ("params", "state", "trigger"), strict=True):
            if type(data) is not dict:
                raise ValueConversionError(f"{what} must be a map")
        budget = Budget(self.limits, {})
        rt = Runtime(budget)
        self.ctx = Ctx(rt, market, account or AccountSnapshot(), *converted)  # type: ignore[arg-type]
        self.budget = budget
        self.globals = build_globals(program.used, program.functions, budget, rt, self.ctx, market)
        self.ctx.bind_globals(self.globals)
        self.entry: Callable[..., Any] = self.globals["_f_run"]
        self.consts = program.collection_consts
        self.failure = Failure(program.positions)
        self.symbol = str(market.symbol)
        self.depth = self.limits.call_depth - 1
        self.max_collection = self.limits.max_collection
        self.max_state_text = self.limits.max_state_text

    @property
    def state(self) -> dict[str, Any]:
        """The state as of the last successful run (JSON-ready)."""
        return self.ctx.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Replace the state the next run starts from (a language value, e.g. an earlier `state`)."""
        self.ctx.state = state

    def _call(self) -> RunError | None:
        """Call the program once (the ctx is reset); commit `ctx.state` only when the run succeeds."""
        program_globals = self.globals
        if self.consts:
            for name, value in self.consts:
                program_globals[name] = copy_value(value)
        ctx = self.ctx
        self.budget.start()
        try:
            self.entry(self.depth, ctx)
            state = ctx.state_run
            if state is not None:
                flat = check_storable(state, "ctx.state", self.max_collection, self.max_state_text)
                ctx.state = state
                ctx.flat_state = state if flat else None
        except Exception as exc:  # noqa: BLE001 - every failure of the program becomes a RunError
            return self.failure.error(exc)
        return None

    def step(self) -> RunError | None:
        """One run for a backtest bar: `run()` without the `RunResult`. Returns the error, or None; then
        `ctx.orders` and `ctx.logs` are this run's (with the log marker, if lines were cut). The next
        step replaces those lists rather than changing them, so the caller may keep them."""
        # `Ctx.reset(reuse_empty=True)` and `_call()`, inlined: this runs once per bar.
        ctx = self.ctx
        if ctx.orders:
            ctx.orders = []
        if ctx.logs or ctx.dropped_logs:
            ctx.reset(reuse_empty=True)
        else:
            ctx.hold_reason = ctx.params_run = ctx.trigger_run = None
            if ctx.state_run is not None:
                ctx.state_run = None
                if ctx.fast_globals is not None:
                    ctx.fast_globals["_cf_state"] = ctx.lazy_state
        program_globals = self.globals
        if self.consts:
            for name, value in self.consts:
                program_globals[name] = copy_value(value)
        self.budget.start()
        try:
            self.entry(self.depth, ctx)
            state = ctx.state_run
            if state is not None:
                flat = check_storable(state, "ctx.state", self.max_collection, self.max_state_text)
                ctx.state = state
                ctx.flat_state = state if flat else None
        except Exception as exc:  # noqa: BLE001 - every failure of the program becomes a RunError
            ctx.orders = []
            error = self.failure.error(exc)
        else:
            error = None
        if ctx.dropped_logs or ctx.cut_log:
            ctx.logs.append(log_marker(ctx))
        return error

    def run(self) -> RunResult:
        """Run the program once (live, preview, test run); a backtest calls `step()` per bar."""
        ctx = self.ctx
        ctx.reset()
        error = self._call()
        if error is not None:
            return self._failed(error)
        budget = self.budget
        duration = (perf_counter() - budget.started) * 1000.0
        orders = ctx.orders
        logs = ctx.logs
        if ctx.dropped_logs or ctx.cut_log:
            logs.append(log_marker(ctx))
        if orders:
            decision = orders[0]
        else:
            decision = {
                "action": "hold",
                "symbol": self.symbol,
                "quantity": 0.0,
                "reason": ctx.hold_reason or "no order",
            }
        return RunResult("ok", decision, orders, logs, budget.steps_used(), duration, None, ctx.state)

    def _failed(self, error: RunError) -> RunResult:
        budget = self.budget
        decision = {"action": "hold", "symbol": self.symbol, "quantity": 0.0, "reason": f"run failed: {error.message}"}
        duration = (perf_counter() - budget.started) * 1000.0
        logs = self.ctx.logs
        if self.ctx.dropped_logs or self.ctx.cut_log:
            logs.append(log_marker(self.ctx))
        return RunResult("error", decision, [], logs, budget.steps_used(), duration, error, self.ctx.state)
