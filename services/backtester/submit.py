"""Submitting a backtest: every check that can fail a request happens here, BEFORE a job exists.

Order: the program (from the registry over NATS, or the unsaved `code`), the dates, the symbol and
whether any source has candles in the range, then compiling (in a worker process: untrusted code
never compiles on the loop). Only then is the record written (`queued`) and the job published to
the work queue; the 202 goes out after JetStream acknowledged the publish, so a job the client was
told about is always both stored and queued. A publish that fails marks the record failed and
answers 503 (retry), so nothing is left `queued` with no message.

Binding replay (`binding_id`): `BindingSource.replay(...)` turns a binding into the program, symbol,
timeframe, params and bar selection to replay (`services/backtester/bindings.py` asks the executor;
`NoBindings` answers 422 where no source is wired). The replay runs on the binding's symbol (the
request's `symbol` must name it), timeframe and program version, with the binding's params (keys given
in the request's `params` override them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
from typing import Any, Protocol

from shared import subjects
from shared.context import RequestContext
from shared.errors import InvalidRequest, NotFound, PayloadTooLarge, ProgramFailed, Unavailable
from shared.limits import CODE_MAX_BYTES
from shared.market import MarketData, MarketRequestError, parse_timeframe, timeframe_ms
from shared.messages.backtests import BacktestAccepted, BacktestJob, BacktestSettings, BacktestSubmit, ProgramBacktestSubmit
from shared.messages.programs import Program, ProgramRef, ProgramVersion, ProgramVersionRef
from shared.runtime import Service
from shared.timefmt import now_iso, parse_time, to_iso
from shared.workers import WorkerBusy

DEFAULT_DAYS = 30
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class BindingReplay:
    """What replaying a binding means for the engine: its program, and the bars on which it runs."""

    program_id: int
    version: int | None
    code: str
    selection: dict[str, Any]
    """Passed to the engine as `spec.selection` (e.g. the binding's pools and schedule)."""
    symbol: str | None = None  # live-followups: the binding's market and params (None: the request's)
    timeframe: str | None = None
    params: dict[str, Any] | None = None


class BindingSource(Protocol):
    async def replay(self, binding_id: int, ctx: RequestContext) -> BindingReplay: ...


class NoBindings:
    """Until live trading provides bindings, a binding replay is a clear 422, not a silent full run."""

    async def replay(self, binding_id: int, ctx: RequestContext) -> BindingReplay:
        raise InvalidRequest(
            "backtesting a binding (replaying its triggers) is not available yet; pass `program_id` or `code`",
            details={"field": "binding_id"},
        )


def _as_replayed(req: BacktestSettings, replay: BindingReplay, binding_id: int) -> BacktestSettings:
    """The request on the binding's symbol, timeframe and params (live-followups)."""
    changes: dict[str, Any] = {}
    if replay.symbol is not None:
        if req.symbol.strip().upper() != replay.symbol.upper():
            raise InvalidRequest(f"binding {binding_id} trades {replay.symbol}; `symbol` must be {replay.symbol}",
                                 details={"field": "symbol"})
        changes["symbol"] = replay.symbol
    if replay.timeframe is not None:
        try:
            asked = parse_timeframe(req.timeframe)
        except ValueError as exc:
            raise InvalidRequest(str(exc), details={"field": "timeframe"}) from None
        default = parse_timeframe(next(f.default for f in msgspec.structs.fields(BacktestSettings) if f.name == "timeframe"))
        if asked not in (default, replay.timeframe):  # the default is taken as "not given"
            raise InvalidRequest(f"binding {binding_id} runs on {replay.timeframe} bars; leave `timeframe` out or give "
                                 f"{replay.timeframe}", details={"field": "timeframe"})
        changes["timeframe"] = replay.timeframe
    if replay.params is not None:
        changes["params"] = {**replay.params, **req.params}
    return msgspec.structs.replace(req, **changes)


class CodeChecker(Protocol):
    async def errors(self, code: str) -> list[dict[str, Any]]:
        """Compile errors `[{line, column, message}]` (empty when it compiles), computed off the loop."""
        ...


class JobPublisher(Protocol):
    async def publish(self, job: BacktestJob, msg_id: str) -> None: ...


class Registry:
    """Program code as the registry serves it, on the caller's behalf (owner-scoped there)."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def code(self, program_id: int, version: int | None, ctx: RequestContext) -> tuple[str, int]:
        client = self._service.client()
        if version is None:
            program = await client.request(subjects.PROGRAMS_GET, ProgramRef(id=program_id), Program, ctx)
            return program.code, program.version
        kept = await client.request(
            subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef(id=program_id, version=version), ProgramVersion, ctx
        )
        return kept.code, kept.version


class ProgramCode(Protocol):
    async def code(self, program_id: int, version: int | None, ctx: RequestContext) -> tuple[str, int]: ...


def _time(field: str, text: str) -> int:
    try:
        return parse_time(text)
    except ValueError:
        raise InvalidRequest(f"`{field}` is not an ISO-8601 date or date-time: {text!r}", details={"field": field}) from None


def new_backtest_id() -> str:
    return f"bt-{uuid.uuid4().hex[:16]}"


def job_record(backtest_id: str, ctx: RequestContext, *, seq: int, program_id: int | None, version: int | None,
               binding_id: int | None, selection: dict[str, Any] | None, code: str, symbol: str, timeframe: str,
               start_ms: int, end_ms: int, settings: BacktestSettings) -> dict[str, Any]:
    """A new job's record, `queued`: everything a replica needs to run it (the message carries only the id)."""
    return {
        "id": backtest_id,
        "owner": ctx.owner,
        "seq": seq,
        "program_id": program_id,
        "version": version,
        "binding_id": binding_id,
        "selection": selection,
        "code": code,
        "symbol": symbol,
        "timeframe": timeframe,
        "start_date": to_iso(start_ms),
        "end_date": to_iso(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "initial_capital": settings.initial_capital,
        "fee_rate": settings.fee_rate,
        "slippage_bps": settings.slippage_bps,
        "leverage": settings.leverage,
        "params": settings.params,
        "status": "queued",
        "created_at": now_iso(),
        "started_at": None,
        "finished_at": None,
        "heartbeat_at": None,
        "progress": 0.0,
        "bars_done": 0,
        "bars_total": 0,
        "attempts": 0,
        "source": None,  # the engine names it: which source the candles of this range came from
        "error": None,
        "request_id": ctx.request_id,
    }


class Submissions:
    def __init__(
        self,
        store: Any,
        programs: ProgramCode,
        market: MarketData,
        checker: CodeChecker,
        queue: JobPublisher,
        bindings: BindingSource | None = None,
    ) -> None:
        self._store = store
        self._programs = programs
        self._market = market
        self._checker = checker
        self._queue = queue
        self._bindings = bindings or NoBindings()

    async def submit_program(self, req: ProgramBacktestSubmit, ctx: RequestContext) -> BacktestAccepted:
        return await self._submit(req, ctx, program_id=req.id, code=None, binding_id=None)

    async def submit(self, req: BacktestSubmit, ctx: RequestContext) -> BacktestAccepted:
        given = [name for name in ("program_id", "code", "binding_id") if getattr(req, name) is not None]
        if len(given) != 1:
            raise InvalidRequest(
                "give exactly one of `program_id`, `code` or `binding_id`"
                + (f" (got {', '.join(given)})" if given else ""),
                details={"field": given[1] if len(given) > 1 else "program_id"},
            )
        return await self._submit(req, ctx, program_id=req.program_id, code=req.code, binding_id=req.binding_id)

    async def _submit(self, req: BacktestSettings, ctx: RequestContext, *, program_id: int | None, code: str | None,
                      binding_id: int | None) -> BacktestAccepted:
        version = req.version
        selection: dict[str, Any] | None = None
        if binding_id is not None:
            if version is not None:  # live-followups: a replay runs the binding's program version
                raise InvalidRequest("a binding replay runs the binding's program version; leave `version` out",
                                     details={"field": "version"})
            replay = await self._bindings.replay(binding_id, ctx)
            program_id, version, code, selection = replay.program_id, replay.version, replay.code, replay.selection
            req = _as_replayed(req, replay, binding_id)
        elif program_id is not None:
            code, version = await self._programs.code(program_id, version, ctx)
        else:
            if version is not None:
                raise InvalidRequest("`version` needs a saved program (`program_id`)", details={"field": "version"})
        assert code is not None
        if len(code.encode()) > CODE_MAX_BYTES:
            raise PayloadTooLarge(f"`code` is larger than {CODE_MAX_BYTES} bytes", details={"field": "code"})
        timeframe, symbol, start_ms, end_ms = await self._market_range(req)
        try:
            errors = await self._checker.errors(code)
        except WorkerBusy as exc:  # the compile check never ran and no job exists: the client retries
            raise Unavailable(f"the program could not be checked: {exc}", details=exc.details()) from None
        if errors:
            first = errors[0]
            raise ProgramFailed(
                f"the program does not compile: {first['message']} (line {first['line']}, column {first['column']})",
                details={"field": "code" if program_id is None else "program_id", "errors": errors},
            )
        backtest_id = new_backtest_id()
        doc = job_record(
            backtest_id, ctx, seq=await self._store.next_seq(), program_id=program_id, version=version,
            binding_id=binding_id, selection=selection, code=code, symbol=symbol, timeframe=timeframe,
            start_ms=start_ms, end_ms=end_ms, settings=req,
        )
        ctx.check_deadline()
        await self._store.create(doc)
        try:
            await self._queue.publish(BacktestJob(backtest_id=backtest_id, owner=ctx.owner, request_id=ctx.request_id), backtest_id)
        except Exception:
            await self._store.move(
                ctx.owner, backtest_id, "queued", "failed",
                {"finished_at": now_iso(), "error": {"kind": "internal", "message": "the job could not be queued"}},
            )
            raise
        return BacktestAccepted(backtest_id=backtest_id, status="queued")

    async def _market_range(self, req: BacktestSettings) -> tuple[str, str, int, int]:
        """(timeframe, symbol as the market spells it, start, end) or a 4xx."""
        try:
            timeframe = parse_timeframe(req.timeframe)
        except ValueError as exc:
            raise InvalidRequest(str(exc), details={"field": "timeframe"}) from None
        period = timeframe_ms(timeframe)
        try:  # a miss re-reads what is stored: another process may have just imported the symbol
            symbol = await self._market.canonical_symbol(req.symbol)
        except MarketRequestError as exc:
            raise InvalidRequest(str(exc), details={"field": "symbol"}) from None
        known = await self._market.symbols()
        if symbol not in known:
            raise NotFound(f"unknown symbol `{req.symbol}`", details={"field": "symbol", "available": known})
        live = set(await self._market.live.symbols())
        stored = [cov for cov in await self._market.coverage() if cov.symbol == symbol]
        stored_end = max((cov.last_ms + timeframe_ms(cov.timeframe) for cov in stored), default=None)
        end_ms = _time("end_date", req.end_date) if req.end_date else None
        start_ms = _time("start_date", req.start_date) if req.start_date else None
        if end_ms is None:
            if start_ms is not None:
                end_ms = start_ms + DEFAULT_DAYS * DAY_MS
                if symbol in live:
                    end_ms = min(end_ms, self._market.now())
                elif stored_end is not None:
                    end_ms = min(end_ms, stored_end)
            else:
                end_ms = self._market.now() if symbol in live or stored_end is None else stored_end
            end_ms = end_ms // period * period
        if start_ms is None:
            start_ms = end_ms - DEFAULT_DAYS * DAY_MS
        if end_ms <= start_ms:
            raise InvalidRequest(
                f"`end_date` ({to_iso(end_ms)}) is not after `start_date` ({to_iso(start_ms)})", details={"field": "end_date"}
            )
        if (end_ms - start_ms) // period < 1:
            raise InvalidRequest(f"the range holds no whole {timeframe} bar", details={"field": "end_date"})
        if symbol in live:
            return timeframe, symbol, start_ms, end_ms
        first = min((cov.first_ms for cov in stored), default=None)
        if first is None or stored_end is None or first >= end_ms or stored_end <= start_ms:
            covered = f"; stored {symbol} candles run from {to_iso(first)} to {to_iso(stored_end)}" if first is not None and stored_end else ""
            raise InvalidRequest(
                f"no {symbol} candles between {to_iso(start_ms)} and {to_iso(end_ms)}{covered}", details={"field": "start_date"}
            )
        return timeframe, symbol, start_ms, end_ms
