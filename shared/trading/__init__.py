"""The paper broker: one pure module that backtests, test runs, previews and live paper runs trade with,
so a program fills, pays fees and is rejected the same way everywhere.

    from shared.trading import AccountConfig, PaperAccount, Fill, Rejection

    account = PaperAccount(AccountConfig(initial_capital=10_000, fee_rate=0.0005, slippage_bps=0,
                                         leverage=1, maintenance_margin_rate=0.005))
    prices = {"BTC": 67_000.0}
    view = account.view(prices)          # an AccountView for Program.run / runner(account=view)
    result = program.run(market, account=view)
    for order in result.orders:          # every recorded order, in the order recorded
        outcome = account.execute(order, price, time_ms, known_symbols={"BTC"})
        if isinstance(outcome, Rejection): ...   # .reason says why; go on with the next order
        else: ...                                # a Fill (.trade is the ClosedTrade when it closed one)
    account.check_exits("BTC", open, high, low, time_ms)   # TP / SL / liquidation over one candle → Fill | None
    account.equity(prices); account.cash; account.positions["BTC"]  # Position(side, size, entry_price, …)
    doc = account.to_doc(); account = PaperAccount.from_doc(doc)   # JSON-ready, for the store

API (names are the contract):
- `AccountConfig(initial_capital=10000, fee_rate=0.0005, slippage_bps=0, leverage=1,
  maintenance_margin_rate=0.005)` — frozen msgspec Struct.
- `PaperAccount(config, *, cash=None)`: attributes `config, cash, realized_pnl, fees_paid,
  funding_paid, positions: dict[str, Position], marks: dict[str, float]` (last price per symbol).
  - `execute(order, price, time_ms, *, known_symbols=None) -> Fill | Rejection` — `order` is one entry
    of `RunResult.orders` (`action` buy/sell/close, `symbol`, `quantity`, `reason`, optional
    `take_profit`, `stop_loss`, `leverage`); `price` the reference price (next bar's open in a
    backtest, the current price live). A flip is ONE fill (its `closed_quantity` closed the old side).
  - `check_exits(symbol, open, high, low, time_ms) -> Fill | None` — take-profit, stop-loss and
    liquidation over one candle (stop-loss wins when both are inside the candle; a gap fills at the
    open). `liquidation_price(symbol) -> float | None`.
  - `close_position(symbol, price, time_ms, reason="close") -> Fill | None`, `close_all(prices, time_ms, reason)`.
  - `apply_funding(symbol, rate, price, time_ms) -> float` (paid; negative = received). Nothing calls it
    unless the data source has funding rates (today none of ours does in a backtest: funding is zero).
  - `equity(prices=None)`, `exposure(prices=None)`, `unrealized_pnl(symbol, price=None)`, `mark(symbol, price)`.
  - `view(prices) -> AccountState` — the `AccountView` `ctx.balance` (= cash), `ctx.equity` and
    `ctx.position(symbol)` (`{side, size, entry_price, unrealized_pnl}`) read; it reads the account
    and the `prices` mapping live, so keep one and update `prices` in place.
  - `to_doc() -> dict`, `PaperAccount.from_doc(doc)`.
- `Position(symbol, side "long"/"short", size > 0, entry_price, take_profit, stop_loss, opened_at, entry_fees)`.
- `Fill(time, symbol, side "buy"/"sell", quantity, price, fee, notional, realized_pnl, reason, order_reason,
  closed_quantity, trade)`; `reason` ∈ signal, take_profit, stop_loss, liquidation, end_of_test, close.
- `Rejection(time, action, symbol, quantity, reason, order_reason)`.
- `ClosedTrade(symbol, side, size, entry_time, exit_time, entry_price, exit_price, pnl, return_pct, fees, exit_reason)`.

Invariant (hypothesis-tested): cash − initial cash = Σ fill.realized_pnl − Σ fill.fee − funding_paid.
The rules in detail: `account.py`'s docstring.
"""

from .account import AccountState, PaperAccount
from .models import AccountConfig, ClosedTrade, Fill, FillReason, Position, Rejection

__all__ = [
    "AccountConfig",
    "AccountState",
    "ClosedTrade",
    "Fill",
    "FillReason",
    "PaperAccount",
    "Position",
    "Rejection",
]
