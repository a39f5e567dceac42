"""The records of the paper broker: its settings, open positions, fills, rejections and closed trades.

All are msgspec Structs so an account, its ledger and a backtest's trades go to the store and over
NATS as they are (`msgspec.to_builtins`). Times are epoch milliseconds; prices and sizes are floats.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Side = Literal["long", "short"]
FillSide = Literal["buy", "sell"]
FillReason = Literal["signal", "take_profit", "stop_loss", "liquidation", "end_of_test", "close"]
"""Why a fill happened: `signal` = an order the program recorded (buy/sell/close); the others are the
broker's own exits. (`close` is for callers that close a position outside a program, e.g. an account
reset.)"""


class AccountConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How a paper account trades. Same meaning in backtests, test runs and live paper runs."""

    initial_capital: float = 10_000.0
    fee_rate: float = 0.0005
    """Fraction of the notional charged on every fill (0.0005 = 0.05 %)."""
    slippage_bps: float = 0.0
    """Basis points added to a buy's price and taken off a sell's (against the trader) on market fills."""
    leverage: float = 1.0
    """The most exposure the account may hold: Σ |size| × price ≤ equity × leverage."""
    maintenance_margin_rate: float = 0.005
    """Equity below this fraction of the open notional liquidates the position."""


class Position(msgspec.Struct, kw_only=True):
    """One net position in one symbol (never size 0: a flat symbol has no Position)."""

    symbol: str
    side: Side
    size: float
    """Always > 0; `side` gives the direction."""
    entry_price: float
    """Average entry price of what is still open (fills that add to it average in)."""
    take_profit: float | None = None
    stop_loss: float | None = None
    opened_at: int = 0
    """Time of the fill that opened it (adding to it keeps the time; a flip starts a new one)."""
    entry_fees: float = 0.0
    """Fees paid on the opening fills of the part still open (moved to a trade when it closes)."""


class ClosedTrade(msgspec.Struct, kw_only=True):
    """A position, or part of one, from its opening fill to the fill that closed it.

    `pnl` is net of the fees of both fills (the opening fees prorated to the size closed);
    `return_pct` = ±(exit / entry − 1) × 100 − fees / (size × entry) × 100, as backtesting.py counts it.
    """

    symbol: str
    side: Side
    size: float
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    pnl: float
    return_pct: float
    fees: float
    exit_reason: FillReason


class Fill(msgspec.Struct, kw_only=True):
    """One execution. A flip (buy 3 on a short of 1) is one fill of 3: 1 closes, 2 open the long."""

    time: int
    symbol: str
    side: FillSide
    quantity: float
    price: float
    """The executed price, slippage included."""
    fee: float
    notional: float
    """quantity × price."""
    realized_pnl: float
    """Gross PnL of the part that closed an existing position (fees not taken off; they are `fee`)."""
    reason: FillReason
    order_reason: str | None = None
    """The `reason` the program gave the order, if any."""
    closed_quantity: float = 0.0
    """How much of `quantity` reduced an existing position (the rest opened or added)."""
    trade: ClosedTrade | None = None
    """The trade this fill closed, when it closed (part of) a position."""


class Rejection(msgspec.Struct, kw_only=True):
    """An order the broker refused; recorded, and the run goes on."""

    time: int
    action: str
    symbol: str
    quantity: float
    reason: str
    order_reason: str | None = None
