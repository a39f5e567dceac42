"""The account a program trades for, as `ctx.balance`, `ctx.equity` and `ctx.position()` read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class AccountView(Protocol):
    """Read-only account data. `position` returns `{side, size, entry_price, unrealized_pnl}` or None."""

    @property
    def balance(self) -> float: ...

    @property
    def equity(self) -> float: ...

    def position(self, symbol: str) -> dict[str, object] | None: ...


@dataclass(slots=True)
class AccountSnapshot:
    """A fixed account: what test runs use (`AccountSnapshot(10_000, 10_000, {})`) and tests build."""

    balance: float = 10_000.0
    equity: float = 10_000.0
    positions: dict[str, dict[str, object]] = field(default_factory=dict)

    def position(self, symbol: str) -> dict[str, object] | None:
        return self.positions.get(symbol)
