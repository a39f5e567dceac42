"""Messages of backtests: submitting a job, its record and results, the lists, and its events.

Field names are the API's contract (issue 9 and `api-reference.md`). Lists reply a
`shared.paging.ListPage` of the item Structs below; the cursor is opaque to clients.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.jobs import JobStatus
from shared.messages.base import Cursor, DateText, Event, Id, Limit, Reply, Request
from shared.messages.market import Symbol, Timeframe

BACKTEST_ID_PATTERN = r"bt-[0-9a-f]{16}"
TRIGGER_ID_PATTERN = r"trig-[0-9a-f]{16}-[0-9]{1,9}"

BacktestId = Annotated[str, msgspec.Meta(pattern=f"^{BACKTEST_ID_PATTERN}$", description="e.g. bt-1f3a5c7e9b2d4f60")]
TriggerId = Annotated[str, msgspec.Meta(pattern=f"^{TRIGGER_ID_PATTERN}$", description="e.g. trig-1f3a5c7e9b2d4f60-12")]
EquityLimit = Annotated[int, msgspec.Meta(ge=1, le=5000)]


class BacktestSettings(Request):
    """What every submit shares: the market, the range, the paper account and the program's params."""

    symbol: Symbol
    timeframe: Timeframe = "1h"
    start_date: DateText | None = None
    end_date: DateText | None = None
    initial_capital: Annotated[float, msgspec.Meta(gt=0, le=1e12)] = 10_000.0
    fee_rate: Annotated[float, msgspec.Meta(ge=0, le=0.1)] = 0.0005
    slippage_bps: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.0
    leverage: Annotated[float, msgspec.Meta(ge=1, le=100)] = 1.0
    params: dict[str, Any] = {}
    version: Id | None = None


class BacktestSubmit(BacktestSettings):
    """`POST /api/programs/backtest`: exactly one of `program_id`, `code` (an unsaved program) or
    `binding_id` (replay a binding's triggers)."""

    program_id: Id | None = None
    code: str | None = None
    binding_id: Id | None = None


class ProgramBacktestSubmit(BacktestSettings, kw_only=True):
    """`POST /api/programs/{id}/backtest`: the program comes from the URL."""

    id: Id


class BacktestRef(Request):
    bt_id: BacktestId


class BacktestHistory(Request):
    limit: Limit = 50
    cursor: Cursor | None = None
    program_id: Id | None = None
    status: JobStatus | None = None


class BacktestItems(Request):
    """A page of one backtest's trades, triggers or markers."""

    bt_id: BacktestId
    limit: Limit = 50
    cursor: Cursor | None = None


class EquityQuery(Request):
    """A page of the full equity curve (points are small: up to 5,000 a page)."""

    bt_id: BacktestId
    limit: EquityLimit = 1000
    cursor: Cursor | None = None


class TriggerRef(Request):
    trigger_id: TriggerId


class BacktestAccepted(Reply):
    backtest_id: str
    status: JobStatus


class BacktestFailure(Reply, omit_defaults=True):
    """Why a job failed: `kind` compile/runtime/limit (the program; with line, column and the bar's
    time), data, timeout, crashed (the worker died), deliveries (gave up), lost, internal."""

    kind: str
    message: str
    line: int | None = None
    column: int | None = None
    bar_time: str | None = None


Metric = float | None | msgspec.UnsetType
"""A statistic: null where it is undefined (e.g. sharpe of a flat curve); absent until the job completes."""
Count = int | msgspec.UnsetType


class BacktestMetrics(Reply):
    """`Backtest.metrics`: what `services/backtester/metrics.py` computes (defined in the dev guide,
    `services/executor/guide/backtests.md`), the engine's order counts and the run's notes, by name.

    `{}` until the job completes, then every key (a record stores them as one dict; `Backtest` reads it
    here). The first 18 are also fields of `Backtest` (`METRIC_FIELDS`)."""

    total_trades: Count = msgspec.UNSET
    win_rate: Metric = msgspec.UNSET
    """Share of the closed trades with a positive PnL, 0..1 (null without trades)."""
    total_pnl: Metric = msgspec.UNSET
    max_drawdown: Metric = msgspec.UNSET
    """Percent, negative (or 0)."""
    return_pct: Metric = msgspec.UNSET
    final_equity: Metric = msgspec.UNSET
    fees_paid: Metric = msgspec.UNSET
    funding_paid: Metric = msgspec.UNSET
    exposure_pct: Metric = msgspec.UNSET
    sharpe: Metric = msgspec.UNSET
    sortino: Metric = msgspec.UNSET
    calmar: Metric = msgspec.UNSET
    profit_factor: Metric = msgspec.UNSET
    avg_trade_pct: Metric = msgspec.UNSET
    best_trade_pct: Metric = msgspec.UNSET
    worst_trade_pct: Metric = msgspec.UNSET
    max_drawdown_duration: Metric = msgspec.UNSET
    """Days."""
    buy_hold_return_pct: Metric = msgspec.UNSET
    max_drawdown_duration_ms: int | None | msgspec.UnsetType = msgspec.UNSET
    annual_return_pct: Metric = msgspec.UNSET
    annual_volatility_pct: Metric = msgspec.UNSET
    periods_per_year: Count = msgspec.UNSET
    """365 when the data trades at weekends (crypto), else 252: the annualisation of sharpe/sortino/calmar."""
    equity_peak: Metric = msgspec.UNSET
    expectancy_pct: Metric = msgspec.UNSET
    """Arithmetic mean of the trades' returns (null without trades)."""
    winning_trades: Count = msgspec.UNSET
    losing_trades: Count = msgspec.UNSET
    rejected_orders: Count = msgspec.UNSET
    """Orders the paper broker refused (each is in its trigger's context with the reason)."""
    unfilled_orders: Count = msgspec.UNSET
    """Orders recorded at the last bar: no next open to fill them."""
    funding_modelled: bool | msgspec.UnsetType = msgspec.UNSET
    notes: list[str] | msgspec.UnsetType = msgspec.UNSET
    """What the numbers leave out (e.g. funding is not modelled)."""


class EquityPoint(Reply):
    time: str
    equity: float


class BacktestSummary(Reply):
    """One row of the history."""

    id: str
    program_id: int | None
    symbol: str
    timeframe: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: float
    """0..1: bars done / bars total."""


class Backtest(BacktestSummary, kw_only=True):
    """The whole record: settings, progress, the failure if any, metrics and the downsampled curve."""

    version: int | None = None
    binding_id: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    initial_capital: float = 10_000.0
    fee_rate: float = 0.0005
    slippage_bps: float = 0.0
    leverage: float = 1.0
    params: dict[str, Any] = {}
    bars_done: int = 0
    bars_total: int = 0
    attempts: int = 0
    source: str | None = None
    error: BacktestFailure | None = None
    # metrics (null until completed; null also where a metric is undefined, e.g. sharpe of a flat curve)
    total_trades: int | None = None
    win_rate: float | None = None
    total_pnl: float | None = None
    max_drawdown: float | None = None
    return_pct: float | None = None
    final_equity: float | None = None
    fees_paid: float | None = None
    funding_paid: float | None = None
    exposure_pct: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    profit_factor: float | None = None
    avg_trade_pct: float | None = None
    best_trade_pct: float | None = None
    worst_trade_pct: float | None = None
    max_drawdown_duration: int | float | str | None = None
    buy_hold_return_pct: float | None = None
    metrics: BacktestMetrics = msgspec.field(default_factory=BacktestMetrics)
    """Every metric the engine computed (the fields above and further ones), by name; `{}` until completed."""
    equity: list[EquityPoint] = []
    """The equity curve downsampled to at most 2,000 points; `/equity` pages the full curve."""
    trades_count: int = 0
    triggers_count: int = 0
    equity_points: int = 0


METRIC_FIELDS: tuple[str, ...] = (
    "total_trades", "win_rate", "total_pnl", "max_drawdown", "return_pct", "final_equity", "fees_paid",
    "funding_paid", "exposure_pct", "sharpe", "sortino", "calmar", "profit_factor", "avg_trade_pct",
    "best_trade_pct", "worst_trade_pct", "max_drawdown_duration", "buy_hold_return_pct",
)  # fmt: skip


class Trade(Reply):
    entry_time: str
    exit_time: str
    side: Literal["long", "short"]
    size: float
    entry_price: float
    exit_price: float
    pnl: float
    return_pct: float
    fees: float
    exit_reason: str
    symbol: str | None = None


class TriggerItem(Reply):
    id: str
    type: str
    symbol: str
    price: float
    timestamp: str


class TriggerPosition(Reply):
    """The program's position in the backtest's symbol when it ran (`ctx.position(...)`)."""

    side: Literal["long", "short"]
    size: float
    entry_price: float
    unrealized_pnl: float


class TriggerRead(Reply, omit_defaults=True):
    """One value the program read, in the order it read them (`shared/market/recording.py`)."""

    name: str
    """`price`, `candles` (result `{"count": rows}`), an indicator (`rsi`), or `replay_mismatch` (the
    replayed bar decided differently from the run: the reads are not to be trusted)."""
    args: list[int | float]
    result: int | float | bool | dict[str, int | float | None] | None
    """As the program got it: a number, an indicator's named outputs, or null (warming up, not finite)."""
    market: str | None = None
    """`"SYMBOL TIMEFRAME"` for a read through `ctx.market(...)`; absent for the backtest's own series."""


class OrderOutcome(Reply, kw_only=True):
    """What became of an order at the next bar's open, one of:
    - a fill: `time, symbol, side, quantity, price` (slippage included), `fee, notional, realized_pnl`,
      `reason` (signal, …), `order_reason`, `closed_quantity`, and `trade` when it closed (part of) a position;
    - a rejection by the paper broker: `rejected: true`, `time, action, symbol, quantity, reason, order_reason`;
    - never filled (recorded at the last bar): `rejected: true` and the `reason`."""

    time: str | msgspec.UnsetType = msgspec.UNSET
    action: str | msgspec.UnsetType = msgspec.UNSET
    symbol: str | msgspec.UnsetType = msgspec.UNSET
    side: Literal["buy", "sell"] | msgspec.UnsetType = msgspec.UNSET
    quantity: float | msgspec.UnsetType = msgspec.UNSET
    price: float | msgspec.UnsetType = msgspec.UNSET
    fee: float | msgspec.UnsetType = msgspec.UNSET
    notional: float | msgspec.UnsetType = msgspec.UNSET
    realized_pnl: float | msgspec.UnsetType = msgspec.UNSET
    reason: str
    order_reason: str | None | msgspec.UnsetType = msgspec.UNSET
    closed_quantity: float | msgspec.UnsetType = msgspec.UNSET
    trade: Trade | None | msgspec.UnsetType = msgspec.UNSET
    rejected: bool | msgspec.UnsetType = msgspec.UNSET


class TriggerOrder(Reply, kw_only=True):
    """An order the program recorded on that bar (`ctx.buy/sell/close`) and its `fill`."""

    action: str
    symbol: str
    quantity: float
    reason: str | None
    take_profit: float | msgspec.UnsetType = msgspec.UNSET
    stop_loss: float | msgspec.UnsetType = msgspec.UNSET
    leverage: float | msgspec.UnsetType = msgspec.UNSET
    fill: OrderOutcome


class TriggerContext(Reply):
    """What the program read on the trigger's bar, its log lines, and its orders with their fills."""

    time: str
    """The bar's close (`ctx.time`)."""
    price: float
    position: TriggerPosition | None
    balance: float
    equity: float
    indicators: list[TriggerRead]
    """Every read: indicator calls with their arguments and results, `ctx.price`, candles."""
    logs: list[str]
    orders: list[TriggerOrder]


class TriggerDetail(TriggerItem, kw_only=True):
    backtest_id: str
    context: TriggerContext | None
    """What the program read on that bar (indicator calls with arguments and results, price,
    position), its log lines, and its orders with their fills (null when the run kept no context)."""


class Marker(Reply):
    type: Literal["entry", "exit"]
    timestamp: str
    price: float
    side: str


class BacktestEvent(Event):
    """`evt.backtester.backtest.started|progressed|completed|failed|cancelled`."""

    backtest_id: str
    program_id: int | None
    status: JobStatus
    progress: float
    bars_done: int = 0
    bars_total: int = 0
    attempt: int = 0
    error: BacktestFailure | None = None


class BacktestJob(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """The work-queue message: which record to run for whom. Everything else is in the record."""

    backtest_id: str
    owner: str
    request_id: str
