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


class GuideRequest(Request):
    pass


class Guide(Reply):
    guide: str
