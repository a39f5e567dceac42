"""The backtest engine: one program, one `BacktestView`, the paper broker, bar by bar.

Pure (no NATS, no store, no clock); the job service runs it in a worker process. The timeline of bar k
(k = 0 … n−1 of the range):

1. orders the program recorded at bar k−1's close fill at bar k's **open** (every order, in the
   order recorded; rejections are recorded and the run goes on);
2. take-profit, stop-loss and liquidation are checked over bar k's open/high/low (`PaperAccount.check_exits`);
3. the equity at bar k's close is recorded (labelled with bar k's open time, like the candle);
4. the program runs at bar k's close — `ctx.time` is the close, `ctx.price` the close, `ctx.trigger.type`
   is `"backtest"` (a binding replay: the run's live trigger, see below), `ctx.state` persists from bar
   to bar, and the view shows bars ≤ k only (no look-ahead by construction: the broker reads bar k+1
   after the program has finished with bar k).

After the last bar, open positions are closed at the last close (`end_of_test`, labelled with the last
bar's time); orders recorded at the last bar have no next open and are not filled (counted in
`unfilled_orders`). With `spec.run_on` the program runs only on the given bars (binding replay); fills,
exits and equity still happen on every bar. A binding replay also gives `spec.triggers`: the
`ctx.trigger` of the run on each of those bars (the pool that fired with its values, or the schedule),
set on the runner before that bar's run (a plain backtest only tests that it is None).

Triggers (one per bar whose run recorded an order) carry a context: every indicator call with its
arguments and result, ctx.price, the position, balance and equity, the log and the orders with their
fills. To keep the per-bar path free of recording costs, the engine does not record while it runs:
when a run produced orders it runs the program once more on the same bar, with the state as it was
before the bar and a recording view (runs are deterministic, so this replays exactly what was read).

Funding: our backtest data sources carry no funding rates, so funding is zero, and the outcome says so.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from shared.lang import Program, RunLimits
from shared.lang.values import from_host
from shared.market.candles import CandleArrays
from shared.market.recording import RecordingView  # cleanup: one recording view for backtests and live runs
from shared.market.view import MarketView
from shared.market.views import BacktestView, Series, _Family
from shared.trading import AccountConfig, ClosedTrade, Fill, PaperAccount, Position, Rejection

from .items import FILLS, marker_columns, marker_items, to_iso, trade_item, trigger_context, trigger_item
from .metrics import compute_metrics

FUNDING_NOTE = "funding is not modelled for this data source (no funding rates): funding_paid is 0"


@dataclass
class BacktestSpec:
    """What to run besides the program and the data."""

    account: AccountConfig = field(default_factory=AccountConfig)
    params: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    """Initial `ctx.state` (empty by default)."""
    run_on: Sequence[int] | np.ndarray | None = None
    """Sorted bar positions (0-based in the range) on which the program runs; None = every bar."""
    triggers: Mapping[int, dict[str, Any]] | None = None
    """`ctx.trigger` of the run at a bar position (binding replay); other runs see type "backtest"."""
    limits: RunLimits | None = None
    """Per-bar limits; default `RunLimits.backtest()`."""
    record_triggers: bool = True
    """Build each trigger's context (replays the bar); False keeps only type/symbol/price/time."""
    max_trigger_contexts: int | None = None
    """Contexts kept for at most this many triggers (the rest have context None); None = all."""
    progress_every: int | None = None
    """Bars between `progress` calls (and `should_stop` checks); default ~1 % of the run, ≥ 1,000."""


class BacktestProgramError(Exception):
    """The program failed on a bar: the backtest stops; `bar_time` is the bar's close (ISO)."""

    def __init__(self, kind: str, message: str, line: int, column: int, bar_time: str, bar: int) -> None:
        super().__init__(f"{message} (line {line}, column {column}, bar {bar_time})")
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
        self.bar_time = bar_time
        self.bar = bar


class BacktestCancelled(Exception):
    """`should_stop()` returned true: the engine stopped between bars."""


class Trigger(msgspec.Struct, array_like=True):
    """One bar on which the program recorded orders. Times are epoch ms. `record` is the compact context
    row (`services/backtester/items.py`), and the Struct encodes as the stored trigger row as it is;
    `context` (JSON-ready) is built from it when asked, so a run with many triggers stays small."""

    type: str
    symbol: str
    price: float
    timestamp: int
    """The decision time: the bar's close (`ctx.time`)."""
    record: list[Any] | None
    """`[position, balance, equity, calls, logs, orders, fills]` (see `items.py`), or None."""
    bar: int

    @property
    def context(self) -> dict[str, Any] | None:
        """What the program read (indicator calls with arguments and results, price, position, balance,
        equity), its log, and its orders each with its `fill` (a fill, or a rejection with `rejected`)."""
        return trigger_context(self.record, self.timestamp, self.price)

    def __repr__(self) -> str:
        return f"Trigger({self.type} {self.symbol} @ {self.price} at {to_iso(self.timestamp)}, bar {self.bar})"


_NOT_FILLED = "not filled: the backtest ended before the next bar's open"


@dataclass
class BacktestOutcome:
    """Everything a backtest produced. Times are epoch ms; the `*_items()` methods give the API's
    field names with ISO-8601 times."""

    symbol: str
    timeframe: str
    source: str | None
    metrics: dict[str, Any]
    trades: list[ClosedTrade]
    triggers: list[Trigger]
    equity_times: np.ndarray
    equity: np.ndarray
    fills: list[Fill]
    rejections: list[Rejection]
    bars: int
    unfilled_orders: int
    state: dict[str, Any]
    """`ctx.state` after the last bar."""
    notes: list[str]

    def trade_items(self) -> list[dict[str, Any]]:
        return [trade_item(t) for t in self.trades]

    def marker_items(self) -> list[dict[str, Any]]:
        """Chart markers: an `exit` for every fill that closed something, an `entry` for every fill that
        opened or added (a flip gives both, exit first). `side` is the fill's side (buy/sell)."""
        return marker_items(marker_columns(self.fills))

    def trigger_items(self) -> list[dict[str, Any]]:
        """Without ids (a job's ids name its backtest: `items.trigger_item`)."""
        items = []
        for t in self.triggers:
            item = trigger_item(msgspec.structs.astuple(t), "", 0)
            del item["id"]
            items.append(item)
        return items

    def equity_items(self) -> list[dict[str, Any]]:
        return [{"time": to_iso(t), "equity": e} for t, e in zip(self.equity_times.tolist(), self.equity.tolist(), strict=True)]


def view_over(candles: CandleArrays, symbol: str, timeframe: str, *, offset: int = 0, source: str = "store") -> BacktestView:
    """A `BacktestView` over candles already in memory (tests, benchmarks); the first `offset` bars are
    warm-up history. `ctx.market(...)` of another symbol is unknown in such a view."""
    from shared.market.view import UnknownSymbolError

    def load(sym: str, tf: str) -> MarketView:
        raise UnknownSymbolError(f"no market data for {sym} {tf} in this backtest")

    return BacktestView(Series(symbol, timeframe, candles, source=source), offset, _Family(load))


# ---- the program's view of the bar ------------------------------------------------------------------------


class _Cursor:
    """The `MarketView` the engine's program runs on: the backtest view at bar `i`, made cheap to move.

    Moving a `BacktestView` (`seek`) costs more per bar than a small program's whole run, and its
    `indicator` goes through three calls; here the engine sets `i` (an array index) and a float
    indicator is read straight from its whole-array values. Values are the BacktestView's own (the same
    `Series` cache and registry; the other kinds and everything else are delegated), and
    tests/backtester/test_engine.py checks them against it. `market()` first moves the BacktestView
    to `i`, because views of other symbols follow its cursor.
    """

    __slots__ = ("i", "_view", "_series", "_closes", "_times", "_period", "_fast")

    def __init__(self, view: BacktestView) -> None:
        self.i = view.index
        self._view = view
        self._series = view.series
        arrays = view.arrays
        self._closes = memoryview(np.ascontiguousarray(arrays.close, dtype=np.float64))
        self._times = memoryview(np.ascontiguousarray(arrays.time, dtype=np.int64))
        self._period = int(self._series.period_ms)
        self._fast: dict[tuple[str, Any], memoryview | None] = {}

    @property
    def symbol(self) -> str:
        return self._view.symbol

    @property
    def timeframe(self) -> str:
        return self._view.timeframe

    @property
    def source(self) -> str | None:
        return getattr(self._view, "source", None)

    @property
    def price(self) -> float:
        return self._closes[self.i]  # type: ignore[no-any-return]

    @property
    def timestamp(self) -> int:
        return self._times[self.i] + self._period  # type: ignore[no-any-return]

    def candles(self, n: int) -> list[dict[str, float | str]]:
        view = self._view
        view.seek(self.i - view.offset)
        return view.candles(n)

    def indicator(self, name: str, args: tuple[float, ...]) -> Any:
        key = (name, args)
        try:
            values = self._fast[key]
        except KeyError:
            values = self._prepare(key)
        except TypeError:  # unhashable arguments: the slow path says what is wrong with them
            return self._series.indicator(name, args).value_at(self.i)
        if values is None:
            return self._series.indicator(name, args).value_at(self.i)
        value = values[self.i]
        return None if value != value else value

    def _prepare(self, key: tuple[str, Any]) -> memoryview | None:
        series = self._series.indicator(*key)  # raises IndicatorError for bad names/arguments: not cached
        output = series.output
        fast = None
        if series.spec.kind not in ("dict", "bool") and isinstance(output, np.ndarray) and output.ndim == 1:
            fast = memoryview(np.ascontiguousarray(output, dtype=np.float64))
        self._fast[key] = fast
        return fast

    def market(self, symbol: str, timeframe: str | None = None) -> MarketView:
        view = self._view
        view.seek(self.i - view.offset)
        return view.market(symbol, timeframe)


# ---- recording (only on bars that produced orders) -----------------------------------------------------


# ---- the engine ------------------------------------------------------------------------------------------


def run_backtest(
    program: Program,
    view: BacktestView,
    spec: BacktestSpec | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BacktestOutcome:
    """Run `program` over every bar of `view` (see the module docstring). Raises `BacktestProgramError`
    when the program fails on a bar, `BacktestCancelled` when `should_stop()` says so."""
    # What a run keeps (trigger contexts, fills, trades) lives to its end; freezing it at every progress
    # step keeps the cyclic GC from re-scanning an ever larger heap (that doubled a 500k-bar run).
    gc.freeze()
    try:
        return _run(program, view, spec or BacktestSpec(), progress, should_stop)
    finally:
        gc.unfreeze()


def _run(
    program: Program,
    view: BacktestView,
    spec: BacktestSpec,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> BacktestOutcome:
    config = spec.account
    symbol = str(view.symbol)
    n = len(view)
    off = view.offset
    arrays = view.arrays
    # memoryviews index like lists (Python ints/floats out) without a Python object per bar up front:
    # a year of 1-minute bars as lists would be ~100 MB.
    times = memoryview(np.ascontiguousarray(arrays.time[off:], dtype=np.int64))
    opens = memoryview(np.ascontiguousarray(arrays.open[off:], dtype=np.float64))
    highs = memoryview(np.ascontiguousarray(arrays.high[off:], dtype=np.float64))
    lows = memoryview(np.ascontiguousarray(arrays.low[off:], dtype=np.float64))
    closes = memoryview(np.ascontiguousarray(arrays.close[off:], dtype=np.float64))
    period = int(view.series.period_ms)

    account = PaperAccount(config)
    positions = account.positions
    prices = {symbol: closes[0]}
    account_view = account.view(prices)
    known = frozenset((symbol,))
    trigger = {"type": "backtest", "pool": None, "signals": []}  # the keys every ctx.trigger has (LANGUAGE.md)
    limits = spec.limits or RunLimits.backtest()
    cursor = _Cursor(view)
    try:
        runner = program.runner(cursor, account_view, spec.params, spec.state, trigger, limits)
    except ValueError as exc:  # params/state that are not JSON-like data
        raise BacktestProgramError("runtime", str(exc), 0, 0, to_iso(times[0] + period), 0) from None
    ctx = runner.ctx
    recorder = _Recorder(program, cursor, account_view, spec, trigger, limits) if spec.record_triggers else None
    try:  # replay-trigger: the language values of the replay's triggers, made once
        bar_triggers = None if spec.triggers is None else {int(k): from_host(t, "trigger") for k, t in spec.triggers.items()}
    except ValueError as exc:
        raise BacktestProgramError("runtime", str(exc), 0, 0, to_iso(times[0] + period), 0) from None
    default_trigger = ctx.trigger

    if spec.run_on is None:
        run_flags = None
    else:
        run_flags = np.zeros(n, dtype=bool)
        chosen = np.asarray(spec.run_on, dtype=np.int64)
        chosen = chosen[(chosen >= 0) & (chosen < n)]
        run_flags[chosen] = True
        run_flags = run_flags.tolist()

    every = spec.progress_every or max(1_000, n // 100)
    next_report = every
    # The equity curve is computed at the end from the account's segments: cash and the position
    # change only at a fill, so each segment (first bar, cash, entry price, signed size) holds until
    # the next one and the per-bar loop records nothing.
    segments: list[tuple[int, float, float, float, bool]] = [(0, account.cash, 0.0, 0.0, False)]
    fills: list[Fill] = []
    rejections: list[Rejection] = []
    trades: list[ClosedTrade] = []
    triggers: list[Trigger] = []
    pending: list[dict[str, Any]] | None = None
    pending_record: list[Any] | None = None
    # No exit can happen while the bar stays inside these (±inf while flat): see `_exit_guards`.
    low_guard, high_guard = -math.inf, math.inf
    max_contexts = spec.max_trigger_contexts if recorder is not None else 0
    execute = account.execute
    check_exits = account.check_exits
    step = runner.step

    for k in range(n):
        if pending is not None:
            t = times[k]
            price = opens[k]
            for index, order in enumerate(pending):
                done = execute(order, price, t, known_symbols=known)
                if type(done) is Fill:
                    fills.append(done)
                    if done.trade is not None:
                        trades.append(done.trade)
                else:
                    rejections.append(done)  # type: ignore[arg-type]
                if pending_record is not None:
                    pending_record[FILLS][index] = done
            pending = None
            pending_record = None
            held = positions.get(symbol)
            low_guard, high_guard = _exit_guards(account, held)
            segments.append(_segment(k, account, held))
        if lows[k] <= low_guard or highs[k] >= high_guard:
            done = check_exits(symbol, opens[k], highs[k], lows[k], times[k])
            if done is not None:
                fills.append(done)
                trades.append(done.trade)  # type: ignore[arg-type]
                held = positions.get(symbol)
                low_guard, high_guard = _exit_guards(account, held)
                segments.append(_segment(k, account, held))

        if run_flags is None or run_flags[k]:
            cursor.i = off + k
            prices[symbol] = closes[k]
            if bar_triggers is not None:  # replay-trigger: the run's trigger as it was live
                ctx.trigger = bar_triggers.get(k, default_trigger)
            before = ctx.state
            error = step()
            if error is not None:
                raise BacktestProgramError(error.kind, error.message, error.line, error.column, to_iso(times[k] + period), k)
            orders = ctx.orders
            if orders:
                pending = orders
                first = orders[0]
                record = None
                if max_contexts is None or len(triggers) < max_contexts:
                    record = pending_record = recorder.record(before, orders, ctx.logs, ctx.trigger)  # type: ignore[union-attr]
                triggers.append(Trigger(str(first["action"]), str(first["symbol"]), closes[k], times[k] + period, record, k))

        if k + 1 >= next_report:
            next_report += every
            gc.freeze()
            if should_stop is not None and should_stop():
                raise BacktestCancelled(f"stopped after {k + 1} of {n} bars")
            if progress is not None:
                progress(k + 1, n)

    unfilled = len(pending) if pending is not None else 0  # their records keep `_NOT_FILLED`
    equity_values = _equity_curve(segments, np.asarray(arrays.close[off:], dtype=np.float64))
    if positions:
        prices[symbol] = closes[-1]
        for done in account.close_all(prices, times[-1], "end_of_test"):
            fills.append(done)
            if done.trade is not None:
                trades.append(done.trade)
        equity_values[-1] = account.cash
    if progress is not None:
        progress(n, n)

    equity_times = np.array(arrays.time[off:], dtype=np.int64)
    metrics = compute_metrics(
        trades=trades,
        times=equity_times,
        equity=equity_values,
        closes=np.asarray(arrays.close[off:]),
        initial_capital=config.initial_capital,
        fees_paid=account.fees_paid,
        funding_paid=account.funding_paid,
    )
    metrics["rejected_orders"] = len(rejections)
    metrics["unfilled_orders"] = unfilled
    metrics["funding_modelled"] = False
    return BacktestOutcome(
        symbol=symbol,
        timeframe=str(view.timeframe),
        source=getattr(view, "source", None),
        metrics=metrics,
        trades=trades,
        triggers=triggers,
        equity_times=equity_times,
        equity=equity_values,
        fills=fills,
        rejections=rejections,
        bars=n,
        unfilled_orders=unfilled,
        state=dict(runner.state),
        notes=[FUNDING_NOTE],
    )


def _segment(k: int, account: PaperAccount, held: Position | None) -> tuple[int, float, float, float, bool]:
    """From bar `k` on (until the next fill): cash, entry price, size and whether the position is short."""
    if held is None:
        return (k, account.cash, 0.0, 0.0, False)
    return (k, account.cash, held.entry_price, held.size, held.side != "long")


def _equity_curve(segments: list[tuple[int, float, float, float, bool]], closes: np.ndarray) -> np.ndarray:
    """Equity at every bar's close: cash + (close − entry) × size for a long, cash + (−(close − entry)) ×
    size for a short, cash when flat — the very float operations `PaperAccount.equity` does, in numpy.
    A later segment starting on the same bar replaces an earlier one (fills, then an exit, at one bar)."""
    n = len(closes)
    starts = np.fromiter((s[0] for s in segments), dtype=np.int64, count=len(segments))
    ends = np.r_[starts[1:], n]
    lengths = ends - starts  # zero for a segment replaced on its own bar
    cash = np.repeat(np.fromiter((s[1] for s in segments), dtype=np.float64, count=len(segments)), lengths)
    entry = np.repeat(np.fromiter((s[2] for s in segments), dtype=np.float64, count=len(segments)), lengths)
    size = np.repeat(np.fromiter((s[3] for s in segments), dtype=np.float64, count=len(segments)), lengths)
    short = np.repeat(np.fromiter((s[4] for s in segments), dtype=bool, count=len(segments)), lengths)
    diff = closes - entry
    np.negative(diff, out=diff, where=short)
    return np.where(size != 0.0, cash + diff * size, cash)


def _exit_guards(account: PaperAccount, held: Position | None) -> tuple[float, float]:
    """Prices the bar must reach before `check_exits` can find anything: the stop/liquidation below and
    the target above for a long (the mirror for a short); ±inf while flat. They change only with a fill
    (cash, position), so the engine computes them after fills and skips `check_exits` on every bar that
    stays inside."""
    if held is None:
        return -math.inf, math.inf
    liquidation = account.liquidation_price(held.symbol)  # 0.0 for a short means "at any price": keep it

    def level(value: float | None, missing: float) -> float:
        return missing if value is None else value

    if held.side == "long":
        low = max(level(held.stop_loss, -math.inf), level(liquidation, -math.inf))
        return low, level(held.take_profit, math.inf)
    high = min(level(held.stop_loss, math.inf), level(liquidation, math.inf))
    return level(held.take_profit, -math.inf), high


class _Recorder:
    """Replays a bar with a recording view to build a trigger's context (see the module docstring)."""

    def __init__(
        self,
        program: Program,
        view: MarketView,
        account_view: Any,
        spec: BacktestSpec,
        trigger: dict[str, Any],
        limits: RunLimits,
    ) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.symbol = str(view.symbol)
        self.account_view = account_view
        self.view_wrapper = RecordingView(view, self.calls)
        self.runner = program.runner(self.view_wrapper, account_view, spec.params, spec.state, trigger, limits)

    def record(self, state_before: dict[str, Any], orders: list[dict[str, Any]], logs: list[str], trigger: Any) -> list[Any]:
        calls = self.calls = []
        self.view_wrapper.calls = calls
        runner = self.runner
        runner.set_state(state_before)
        runner.ctx.trigger = trigger  # the same ctx.trigger as the run it replays (a language value)
        error = runner.step()
        if error is not None or runner.ctx.orders != orders:  # cannot happen for a deterministic run; say so if it does
            calls.append(("replay_mismatch", (), None, None))
        account = self.account_view
        fills: list[Fill | Rejection | str] = [_NOT_FILLED] * len(orders)  # set at the next bar's open
        return [account.position(self.symbol), account.balance, account.equity, calls, logs, orders, fills]
