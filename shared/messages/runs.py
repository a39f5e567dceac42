"""Messages of checking and dry-running programs: validate, test-run, the dev guide."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.messages.base import Id, Reply, Request
from shared.messages.market import Symbol, Timeframe


class ValidateRequest(Request):
    code: str


class Diagnostic(Reply):
    line: int
    column: int
    message: str


class ValidateResult(Reply):
    valid: bool
    errors: list[Diagnostic]
    warnings: list[Diagnostic]


class PositionInput(Request):
    symbol: Symbol
    side: Literal["long", "short"]
    size: Annotated[float, msgspec.Meta(gt=0)]
    entry_price: Annotated[float, msgspec.Meta(gt=0)]


class AccountInput(Request):
    """The paper account a test run sees (10,000 USD and no positions unless given)."""

    balance: Annotated[float, msgspec.Meta(ge=0)] = 10_000.0
    positions: Annotated[list[PositionInput], msgspec.Meta(max_length=100)] = []
    leverage: Annotated[float, msgspec.Meta(ge=1, le=100)] = 1.0
    """Most exposure the paper account may hold: Σ |size| × price ≤ equity × leverage."""


class TestRunRequest(Request):
    symbol: Symbol
    program_id: Id | None = None
    code: str | None = None
    timeframe: Timeframe = "1h"
    params: dict[str, Any] = {}
    state: dict[str, Any] = {}
    account: AccountInput = msgspec.field(default_factory=AccountInput)


class Decision(Reply, omit_defaults=True):
    action: str
    symbol: str | None = None
    quantity: float | None = None
    reason: str | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    leverage: float | None = None


class RunFailure(Reply, omit_defaults=True):
    kind: Literal["compile", "runtime", "limit"]
    message: str
    line: int | None = None
    column: int | None = None
    errors: list[Diagnostic] | None = None


class TestFill(Reply, omit_defaults=True):
    """An order of the test run as the paper account filled it (at the view's price, with fees)."""

    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    price: float
    fee: float
    notional: float
    realized_pnl: float = 0.0
    order_reason: str | None = None


class TestRejection(Reply, omit_defaults=True):
    """An order of the test run the paper account could not fill, and why."""

    action: str
    symbol: str
    quantity: float
    reason: str
    order_reason: str | None = None


class TestRunResult(Reply, omit_defaults=True):
    status: Literal["ok", "error"]
    logs: list[str]
    duration_ms: float
    steps: int
    result: Decision | None = None
    orders: list[Decision] | None = None
    state: dict[str, Any] | None = None
    error: RunFailure | None = None
    program_id: int | None = None
    version: int | None = None
    symbol: str | None = None
    timeframe: str | None = None
    time: str | None = None
    price: float | None = None
    source: str | None = None  # where the market data came from: store, simulator or hyperliquid
    note: str | None = None  # what that market data lacks (e.g. stored history ending before now)
    fills: list[TestFill] | None = None
    """The orders as a paper account with the request's `account` filled them (status ok only)."""
    rejected: list[TestRejection] | None = None
    """The orders that account could not fill (unknown symbol, too large, quantity ≤ 0, nothing to close)."""
    account_note: str | None = None
    """In words: where fills happened, and how many orders were rejected. Nothing is sent anywhere."""


class GuideRequest(Request):
    pass


class Guide(Reply):
    guide: str
