"""The tools the assistant may call: each a thin call to a service that already exists.

| tool | service |
| --- | --- |
| `validate_code` | executor `validate` |
| `test_run` | executor `test-run` (one run on current market data, paper fills) |
| `quick_backtest` | backtester: submit an unsaved program over a small range, wait for it (bounded) |
| `query_market_data` | executor market snapshot with indicators |
| `get_program` | registry: a saved program of the caller |
| `read_guide_section` | the dev guide (executor), one section |
| `list_symbols` | executor: the symbols programs can trade |

Every call runs as the user (same owner, request id, deadline). A tool never fails the answer:
bad arguments or a service's 4xx/5xx come back to the model as `{"error": ...}` so it can correct
itself; the user sees each call with a one-line result in `tool_calls`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from services.ai.guide import GuideBook
from services.ai.limits import QUICK_BACKTEST_TIMEOUT_S, TOOL_RESULT_CHARS, TOOL_SUMMARY_CHARS
from shared import subjects
from shared.context import RequestContext
from shared.errors import AppError, GatewayTimeout
from shared.messages.backtests import METRIC_FIELDS, Backtest, BacktestAccepted, BacktestRef, BacktestSubmit
from shared.messages.market import MarketQuery, MarketSnapshot, SymbolList, SymbolsQuery
from shared.messages.programs import Program, ProgramRef
from shared.messages.runs import TestRunRequest, TestRunResult, ValidateRequest, ValidateResult

T = TypeVar("T")
Call = Callable[[str, Any, type[T], RequestContext], Awaitable[T]]

_CODE = {"type": "string", "description": "the complete program source"}
_SYMBOL = {"type": "string", "description": "e.g. BTC (see list_symbols)"}
_TIMEFRAME = {"type": "string", "enum": ["1m", "5m", "15m", "30m", "1h", "4h", "1d"]}


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOL_SPECS: list[dict[str, Any]] = [
    _spec("validate_code", "Compile a program; returns {valid, errors, warnings} with line and column.", {"code": _CODE}, ["code"]),
    _spec(
        "test_run",
        "Run a program once on current market data with a 10,000 USD paper account; returns the decision, orders, logs.",
        {"code": _CODE, "symbol": _SYMBOL, "timeframe": _TIMEFRAME, "params": {"type": "object"}},
        ["code", "symbol"],
    ),
    _spec(
        "quick_backtest",
        "Backtest a program over a small range (default: the last 30 days) and return headline metrics.",
        {"code": _CODE, "symbol": _SYMBOL, "timeframe": _TIMEFRAME, "start_date": {"type": "string"},
         "end_date": {"type": "string"}, "params": {"type": "object"}},
        ["code", "symbol"],
    ),
    _spec(
        "query_market_data",
        "Current price and indicators of a market, e.g. indicators [\"rsi(14)\", \"sma(50)\"].",
        {"symbol": _SYMBOL, "timeframe": _TIMEFRAME, "indicators": {"type": "array", "items": {"type": "string"}}},
        ["symbol"],
    ),
    _spec("get_program", "Read one of the user's saved programs (name, code, version).", {"program_id": {"type": "integer"}}, ["program_id"]),
    _spec("read_guide_section", "Read a section of the dev guide by its title, e.g. \"ctx.position\".", {"section": {"type": "string"}}, ["section"]),
    _spec("list_symbols", "The symbols programs can trade.", {}, []),
]
TOOL_NAMES = frozenset(spec["function"]["name"] for spec in TOOL_SPECS)


class ToolError(Exception):
    """The tool could not do what was asked; the message goes back to the model."""


class ToolOutcome(msgspec.Struct, kw_only=True):
    result: Any
    """What the model reads (JSON-able)."""
    summary: str
    """One line for the user."""
    ok: bool = True


class Toolbox:
    def __init__(self, call: Call[Any], guide: GuideBook) -> None:
        self._call = call
        self._guide = guide
        self._handlers: dict[str, Callable[[dict[str, Any], RequestContext], Awaitable[ToolOutcome]]] = {
            "validate_code": self.validate_code,
            "test_run": self.test_run,
            "quick_backtest": self.quick_backtest,
            "query_market_data": self.query_market_data,
            "get_program": self.get_program,
            "read_guide_section": self.read_guide_section,
            "list_symbols": self.list_symbols,
        }

    async def run(self, name: str, arguments: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        handler = self._handlers.get(name)
        if handler is None:
            return _failed(f"there is no tool `{name}`; the tools are: {', '.join(sorted(self._handlers))}")
        try:
            return await handler(arguments, ctx)
        except ToolError as exc:
            return _failed(str(exc))
        except (msgspec.ValidationError, TypeError) as exc:
            return _failed(f"bad arguments for `{name}`: {exc}")
        except GatewayTimeout:
            raise  # the answer itself is out of time: nothing more can be done in it
        except AppError as exc:
            return _failed(f"{exc.code}: {exc.message}", exc.details)

    # ---- the tools ----------------------------------------------------------------------------------

    async def validate_code(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        result = await self.validate(_code(args), ctx)
        if result.valid:
            summary = "valid" + (f" ({len(result.warnings)} warnings)" if result.warnings else "")
        else:
            first = result.errors[0]
            summary = f"{len(result.errors)} errors, first at {first.line}:{first.column}: {first.message}"
        return ToolOutcome(result=msgspec.to_builtins(result), summary=_short(summary), ok=result.valid)

    async def validate(self, code: str, ctx: RequestContext) -> ValidateResult:
        return await self._call(subjects.LANG_VALIDATE, ValidateRequest(code=code), ValidateResult, ctx)

    async def test_run(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        request = msgspec.convert(
            {"code": _code(args), "symbol": _text(args, "symbol"), "timeframe": args.get("timeframe") or "1h",
             "params": args.get("params") or {}},
            TestRunRequest,
        )
        result = await self._call(subjects.LANG_TEST_RUN, request, TestRunResult, ctx)
        data = msgspec.to_builtins(result)
        data["logs"] = result.logs[-20:]
        if result.status == "ok" and result.result is not None:
            decision = result.result
            what = decision.action + (f" {decision.quantity:g} {decision.symbol}" if decision.quantity else "")
            summary = f"{result.symbol} {result.timeframe} at {result.price:g}: {what}" + (f" ({decision.reason})" if decision.reason else "")
        else:
            error = result.error
            summary = f"failed: {error.kind} error: {error.message}" if error else "failed"
        return ToolOutcome(result=data, summary=_short(summary), ok=result.status == "ok")

    async def quick_backtest(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        fields = {"code": _code(args), "symbol": _text(args, "symbol"), "timeframe": args.get("timeframe") or "1h",
                  "params": args.get("params") or {}}
        for name in ("start_date", "end_date"):
            if args.get(name):
                fields[name] = args[name]
        accepted = await self._call(subjects.BACKTESTS_SUBMIT, msgspec.convert(fields, BacktestSubmit), BacktestAccepted, ctx)
        record = await self._wait(accepted.backtest_id, ctx)
        if record.status != "completed":
            error = record.error
            reason = f"{error.kind}: {error.message}" if error else record.status
            return ToolOutcome(result={"backtest_id": record.id, "status": record.status, "error": reason},
                               summary=_short(f"{record.id} {record.status}: {reason}"), ok=False)
        metrics = {name: getattr(record, name) for name in METRIC_FIELDS}
        result = {"backtest_id": record.id, "status": record.status, "symbol": record.symbol, "timeframe": record.timeframe,
                  "start_date": record.start_date, "end_date": record.end_date, "source": record.source, **metrics}
        summary = (f"{record.id}: {record.total_trades} trades, return {_pct(record.return_pct)}, "
                   f"max drawdown {_pct(record.max_drawdown)}, win rate {_pct(None if record.win_rate is None else record.win_rate * 100)}")
        return ToolOutcome(result=result, summary=_short(summary))

    async def _wait(self, backtest_id: str, ctx: RequestContext) -> Backtest:
        """Poll the job until it ends, bounded by `QUICK_BACKTEST_TIMEOUT_S` and the answer's deadline."""
        limit = QUICK_BACKTEST_TIMEOUT_S
        remaining = ctx.remaining_s()
        if remaining is not None:
            limit = min(limit, remaining - 5.0)
        give_up = time.monotonic() + max(0.0, limit)
        delay = 0.1
        while True:
            record = await self._call(subjects.BACKTESTS_GET, BacktestRef(bt_id=backtest_id), Backtest, ctx)
            if record.status not in ("queued", "running"):
                return record
            if time.monotonic() + delay > give_up:
                raise ToolError(f"backtest {backtest_id} is still {record.status} ({record.progress:.0%} done); "
                                "see it later at /api/programs/backtest/" + backtest_id)
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)

    async def query_market_data(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        request = msgspec.convert(
            {"symbol": _text(args, "symbol"), "timeframe": args.get("timeframe") or "1h", "indicators": args.get("indicators") or []},
            MarketQuery,
        )
        snapshot = await self._call(subjects.MARKET_QUERY, request, MarketSnapshot, ctx)
        summary = f"{snapshot.symbol} {snapshot.timeframe} {snapshot.price:g} ({snapshot.source})"
        return ToolOutcome(result=msgspec.to_builtins(snapshot), summary=_short(summary))

    async def get_program(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        program = await self.program(msgspec.convert(args.get("program_id"), int), ctx)
        result = {"id": program.id, "name": program.name, "version": program.version, "code": program.code}
        return ToolOutcome(result=result, summary=_short(f"program {program.id} `{program.name}` v{program.version}"))

    async def program(self, program_id: int, ctx: RequestContext) -> Program:
        if program_id < 1:
            raise ToolError("program_id must be a positive integer")
        return await self._call(subjects.PROGRAMS_GET, ProgramRef(id=program_id), Program, ctx)

    async def read_guide_section(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        guide = await self._guide.load(ctx)
        wanted = _text(args, "section")
        section = guide.section(wanted)
        if section is None:
            raise ToolError(f"no guide section matches `{wanted}`; sections: {'; '.join(guide.titles())}")
        return ToolOutcome(result={"title": section.title, "text": section.text}, summary=_short(f"section `{section.title}`"))

    async def list_symbols(self, args: dict[str, Any], ctx: RequestContext) -> ToolOutcome:
        symbols = (await self._call(subjects.MARKET_SYMBOLS, SymbolsQuery(), SymbolList, ctx)).symbols
        return ToolOutcome(result={"symbols": symbols}, summary=_short(", ".join(symbols)))


def model_view(outcome: ToolOutcome) -> str:
    """The tool result as the model reads it: JSON, cut to `TOOL_RESULT_CHARS`."""
    text = msgspec.json.encode(outcome.result).decode()
    if len(text) > TOOL_RESULT_CHARS:
        text = text[:TOOL_RESULT_CHARS] + f"… (cut: {len(text)} characters in all)"
    return text


def _failed(message: str, details: Any = None) -> ToolOutcome:
    result: dict[str, Any] = {"error": message}
    if details is not None:
        result["details"] = details
    return ToolOutcome(result=result, summary=_short("error: " + message), ok=False)


def _code(args: dict[str, Any]) -> str:
    return _text(args, "code")


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"`{name}` is required (a non-empty string)")
    return value


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TOOL_SUMMARY_CHARS else text[: TOOL_SUMMARY_CHARS - 1] + "…"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"
