"""Messages of live trading: accounts, signal pools, bindings (top), and runs, executions, preview (bottom).

Field names are the API's contract (issue 10 and `api-reference.md`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.messages.base import Cursor, DateText, Event, Id, Limit, Name, Reply, Request
from shared.messages.market import Symbol, Timeframe
from shared.messages.runs import Decision
from shared.trading.models import Position

# ==== live-resources: accounts, signal pools, bindings ==================================================
# Requests validate shapes and bounds here (422 naming the JSON path); the rules that need the market
# (symbols, indicators), the other resources or the registry are checked by services/executor/live/.

AccountMode = Literal["paper", "live"]
Capital = Annotated[float, msgspec.Meta(gt=0, le=1e12, description="USD")]
FeeRate = Annotated[float, msgspec.Meta(ge=0, le=0.1, description="fraction of notional per fill, 0.0005 = 0.05 %")]
Leverage = Annotated[float, msgspec.Meta(ge=1, le=100)]
SlippageBps = Annotated[float, msgspec.Meta(ge=0, le=1000, description="basis points against the trader on market fills")]
MaintenanceMarginRate = Annotated[
    float,
    msgspec.Meta(gt=0, lt=1, description="equity below this fraction of the open notional liquidates; also < 1 / leverage"),
]
PoolLogic = Literal["AND", "OR"]
SignalOperator = Literal["<", "<=", ">", ">=", "crosses_above", "crosses_below"]
MetricText = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="price, change, rsi(14), macd.histogram…")]
SIGNALS_MAX = 20
POOLS_PER_BINDING_MAX = 20


class ListQuery(Request):
    """Paging of the live resources' lists: newest first, `limit` items, continued with `cursor`."""

    limit: Limit = 50
    cursor: Cursor | None = None


class AccountCreate(Request):
    name: Name
    account_type: Literal["program"] = "program"
    mode: AccountMode = "paper"
    """`live` is refused (422) until an exchange adapter is configured."""
    initial_capital: Capital = 10_000.0
    fee_rate: FeeRate = 0.0005
    """Must be below `maintenance_margin_rate` (422 naming `fee_rate`)."""
    leverage: Leverage = 1.0
    slippage_bps: SlippageBps = 0.0
    maintenance_margin_rate: MaintenanceMarginRate = 0.005
    """The broker's default. Must stay below 1 / `leverage` (422 naming it): at or above it a position
    opened at full leverage would be liquidated at once."""


class AccountUpdate(Request):
    """A partial update. `initial_capital` is what the next reset returns to (and the balance too,
    while the account has never traded)."""

    id: Id
    name: Name | msgspec.UnsetType = msgspec.UNSET
    mode: AccountMode | msgspec.UnsetType = msgspec.UNSET
    initial_capital: Capital | msgspec.UnsetType = msgspec.UNSET
    fee_rate: FeeRate | msgspec.UnsetType = msgspec.UNSET
    leverage: Leverage | msgspec.UnsetType = msgspec.UNSET
    slippage_bps: SlippageBps | msgspec.UnsetType = msgspec.UNSET
    maintenance_margin_rate: MaintenanceMarginRate | msgspec.UnsetType = msgspec.UNSET


class AccountRef(Request):
    id: Id


class AccountList(ListQuery):
    mode: AccountMode | None = None


class FillList(ListQuery, kw_only=True):
    """`GET /api/programs/accounts/{id}/fills`: the account's ledger, newest first."""

    id: Id
    symbol: Symbol | None = None
    binding_id: Id | None = None
    execution_id: Id | None = None
    since: DateText | None = None
    """Fills at or after this MARKET time (`MarketData.now`: sped up with the simulator), the clock of
    fill times and of the account's `reset_at`, so `since=<reset_at>` is "the fills since the reset"."""


class AccountPosition(Reply):
    symbol: str
    side: str
    size: float
    entry_price: float
    unrealized_pnl: float
    take_profit: float | None = None
    stop_loss: float | None = None


class Account(Reply):
    id: int
    name: str
    account_type: str
    mode: str
    initial_capital: float
    fee_rate: float
    leverage: float
    slippage_bps: float
    maintenance_margin_rate: float
    balance: float
    equity: float
    positions: list[AccountPosition]
    realized_pnl: float
    fees_paid: float
    created_at: str
    updated_at: str
    reset_at: str | None = None
    """Market time of the last reset (the clock of fill times, see `FillList.since`)."""


class AccountFill(Reply):
    """One line of an account's ledger (written by live runs)."""

    id: str
    account_id: int
    execution_id: int | None
    binding_id: int | None
    time: str
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    realized_pnl: float
    reason: str


class SignalSpec(Request):
    symbol: Symbol
    timeframe: Timeframe
    metric: MetricText
    operator: SignalOperator
    value: float | MetricText
    """A number, or a metric of the same series (`"price" crosses_above "sma(50)"`)."""


class PoolCreate(Request):
    name: Name
    signals: Annotated[list[SignalSpec], msgspec.Meta(min_length=1, max_length=SIGNALS_MAX)]
    logic: PoolLogic = "AND"
    enabled: bool = True


class PoolUpdate(Request):
    id: Id
    name: Name | msgspec.UnsetType = msgspec.UNSET
    logic: PoolLogic | msgspec.UnsetType = msgspec.UNSET
    signals: Annotated[list[SignalSpec], msgspec.Meta(min_length=1, max_length=SIGNALS_MAX)] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class PoolRef(Request):
    id: Id


class PoolList(ListQuery):
    enabled: bool | None = None


class PoolSignal(Reply):
    symbol: str
    timeframe: str
    metric: str
    operator: str
    value: float | str


class SignalPool(Reply):
    id: int
    name: str
    logic: str
    signals: list[PoolSignal]
    signals_count: int
    enabled: bool
    last_fired_at: str | None
    created_at: str
    updated_at: str


class ScheduleSpec(Request):
    """Exactly one of `interval` (`15m`, `1h`, `1d`) or `cron` (5 fields), in UTC on the market clock."""

    interval: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    cron: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class BindingCreate(Request):
    program_id: Id
    account_id: Id
    enabled: bool = True
    symbol: Symbol | None = None
    """The symbol the program runs on (`ctx.symbol`); default: the first signal's of the first pool."""
    timeframe: Timeframe | None = None
    """Default: the first signal's of the first pool, else 1h."""
    signal_pool_ids: Annotated[list[Id], msgspec.Meta(max_length=POOLS_PER_BINDING_MAX)] = []
    schedule: ScheduleSpec | None = None
    params: dict[str, Any] = {}
    program_version: Id | None = None
    """None: always the latest version of the program."""


class BindingUpdate(Request):
    id: Id
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    symbol: Symbol | msgspec.UnsetType = msgspec.UNSET
    timeframe: Timeframe | msgspec.UnsetType = msgspec.UNSET
    signal_pool_ids: Annotated[list[Id], msgspec.Meta(max_length=POOLS_PER_BINDING_MAX)] | msgspec.UnsetType = msgspec.UNSET
    schedule: ScheduleSpec | None | msgspec.UnsetType = msgspec.UNSET
    params: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    program_version: Id | None | msgspec.UnsetType = msgspec.UNSET


class BindingRef(Request):
    id: Id


class BindingList(ListQuery):
    program_id: Id | None = None
    account_id: Id | None = None
    enabled: bool | None = None
    symbol: Symbol | None = None


class BindingCountQuery(Request):
    """`executor.bindings.count`: asked by the registry before it deletes a program."""

    program_id: Id


class BindingCount(Reply):
    count: int
    binding_ids: list[int]
    """Up to 20 of them, lowest first, to name in a 409."""


class BindingSchedule(Reply, omit_defaults=True):
    interval: str | None = None
    cron: str | None = None


class Binding(Reply):
    id: int
    program_id: int
    account_id: int
    enabled: bool
    symbol: str
    timeframe: str
    signal_pool_ids: list[int]
    schedule: BindingSchedule | None
    params: dict[str, Any]
    program_version: int | None
    state: dict[str, Any]
    last_run_at: str | None
    created_at: str
    updated_at: str


class LiveDeleted(Reply):
    id: int


class LiveResourceEvent(Event):
    """`evt.executor.account|signal_pool|binding.created|updated|deleted|reset`."""

    resource: str
    resource_id: int
    enabled: bool | None = None



# ==== live-runs: triggers, run messages, executions, preview (owner: live-runs) =========================

RunStatus = Literal["ok", "error", "rejected"]
TriggerType = Literal["signal", "schedule", "manual"]


class Trigger(msgspec.Struct, kw_only=True, frozen=True):
    """Why a run happened: a pool fired at a candle close, or a schedule came due (market time)."""

    id: str
    """`pool-<pool id>-<close ms>` or `schedule-<fire ms>`: with the binding id, the run's unique key."""
    type: TriggerType
    time: str
    time_ms: int
    pool: int | None = None
    signals: list[dict[str, Any]] = []
    """The values that made the pool fire: one entry per signal (symbol, timeframe, metric, operator, value, actual)."""


class RunOrder(msgspec.Struct, kw_only=True, frozen=True):
    """One message of the run work-queue: run binding `binding_id` once for `trigger`."""

    owner: str
    binding_id: int
    trigger: Trigger
    queued_at_ms: int
    """Wall-clock time the trigger was enqueued (trigger-to-fill latency starts here)."""


class ExecutionList(Request):
    """`GET /api/programs/executions/`: newest first."""

    program_id: Id | None = None
    binding_id: Id | None = None
    account_id: Id | None = None
    status: RunStatus | None = None
    since: DateText | None = None
    limit: Limit = 50
    cursor: Cursor | None = None


class ExecutionRef(Request):
    id: Id


class PreviewRequest(Request):
    """`POST /api/programs/bindings/{id}/preview-run`."""

    id: Id


class PreviewFill(Reply):
    """A fill the paper broker would make (nothing is placed)."""

    time: str
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    notional: float
    realized_pnl: float
    reason: str
    order_reason: str | None = None


class PreviewRejection(Reply):
    action: str
    symbol: str
    quantity: float
    reason: str
    order_reason: str | None = None


class PreviewError(Reply, omit_defaults=True):
    kind: str
    message: str
    line: int | None = None
    column: int | None = None


class SignalValue(PoolSignal, kw_only=True):
    """One signal of a pool at the close that fired it (`shared.signals.evaluate`): the signal, and
    what it compared there."""

    index: int
    metric_value: float | None
    compared_to: float | None
    bar_time: str | None
    true: bool


class ExecutionTrigger(Reply):
    """What started a run: `signal` (a pool fired; `pool` and its `signals`), `schedule` or `manual`."""

    id: str
    type: TriggerType
    time: str
    pool: int | None = None
    signals: list[SignalValue] = []


class ExecutionSummary(Reply):
    """One line of the execution log (`GET /api/programs/executions/`)."""

    id: int
    program_id: int
    program_version: int
    binding_id: int
    account_id: int
    action: str
    symbol: str | None
    quantity: float | None
    reason: str | None
    executed_at: str
    trigger: ExecutionTrigger
    status: RunStatus
    duration_ms: float


class ExecutionFill(PreviewFill, kw_only=True):
    """A fill of the run, as the account's ledger has it (`n`: its place in the run)."""

    n: int
    time_ms: int


class IndicatorRead(Reply):
    """An indicator the program read (`ctx.rsi(14)`), of which market, and what it got."""

    symbol: str
    timeframe: str
    indicator: str
    args: list[float]
    value: float | bool | dict[str, float | None] | None


class ExecutionValues(Reply, omit_defaults=True):
    """What the program read. Empty when it failed before reading anything (e.g. did not compile)."""

    time: int | None = None
    """The run's market time, epoch ms."""
    price: float | None = None
    prices: dict[str, float] = {}
    balance: float | None = None
    equity: float | None = None
    positions: dict[str, Position] = {}
    """The paper broker's open positions before the run (`shared.trading.Position`)."""
    indicators: list[IndicatorRead] = []


class Execution(ExecutionSummary, kw_only=True):
    """One execution in full (`GET /api/programs/executions/{id}`)."""

    executed_at_ms: int
    seq: int
    """The account's ledger step this run was."""
    orders: list[Decision]
    fills: list[ExecutionFill]
    rejections: list[PreviewRejection]
    fees: float
    values: ExecutionValues
    logs: list[str]
    error: PreviewError | None
    state: dict[str, Any]
    """The binding's `ctx.state` after the run."""
    latency_ms: int
    """From the trigger entering the run queue to the run's ledger entry."""


class PreviewResult(Reply, omit_defaults=True):
    action: str
    symbol: str | None
    quantity: float | None
    reason: str | None
    status: Literal["ok", "error"]
    binding_id: int
    program_id: int
    program_version: int
    account_id: int
    orders: list[Decision]
    fills: list[PreviewFill]
    rejections: list[PreviewRejection]
    logs: list[str]
    state: dict[str, Any]
    """The `ctx.state` the run would leave (not stored)."""
    time: str
    price: float | None
    duration_ms: float
    error: PreviewError | None = None


class SignalFired(Event):
    """`evt.executor.signal.fired`: a pool's condition became true at a candle close."""

    pool_id: int
    close_time: str
    signals: list[dict[str, Any]]


class ExecutionEvent(Event):
    """`evt.executor.execution.completed|failed`."""

    execution_id: int
    binding_id: int
    program_id: int
    account_id: int
    status: RunStatus
    action: str
    symbol: str | None
    trigger: dict[str, Any]
    error: str | None = None


class OrderEvent(Event):
    """`evt.executor.order.filled|rejected`. A take-profit / stop-loss / liquidation filled by the broker
    between runs (live-followups) has no execution and no binding (None); its `reason` is the exit's."""

    execution_id: int | None
    binding_id: int | None
    account_id: int
    symbol: str
    side: str
    quantity: float
    price: float | None = None
    fee: float | None = None
    reason: str | None = None
