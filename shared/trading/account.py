"""`PaperAccount`: the simulated broker every run trades with (backtest, test run, preview, live paper).

One module so a program fills, pays fees and gets rejected the same way everywhere. It is pure: no
clock, no I/O; callers pass prices and times. The accounting model is a margin (futures-style) account:

- `cash` moves only by realised PnL, fees and funding, so **cash − initial = Σ realised − Σ fees −
  Σ funding** holds by construction (and is property-tested). Opening a position costs only its fee.
- equity = cash + unrealised PnL of the open positions at the given prices.
- One net position per symbol. A buy adds to a long, or reduces / closes / flips a short (and the
  mirror for a sell); the part that reduces realises `(exit − entry) × size` against the average entry.
- Every fill pays `fee_rate × notional`. Market fills (orders, stop-losses, the end-of-test close) get
  `slippage_bps` against the trader; take-profits fill at their level (a resting limit) and
  liquidations at the liquidation price — or at the bar's open when the open gapped through.
- Rejections (recorded, never raised): quantity ≤ 0 or not finite, price not positive, a symbol the
  run cannot trade, `leverage` above the account's, and an order that would leave the account holding
  more than equity × leverage of notional, both taken right after the fill at the reference price
  (equity less the fee and the slippage paid). An order that only reduces a position is never
  refused for margin. `close` with nothing open is rejected ("no open position").
- Take-profit / stop-loss come from the order options (`take_profit`, `stop_loss`); an order that
  opens or adds to a position sets them (when given), a flip starts afresh. A level on the wrong side
  of the fill price (a long's stop-loss at or above it, its take-profit at or below it; the mirror for
  a short) rejects the order: it would exit at once and pay two fees for nothing. `check_exits` looks at one
  candle: a level the open already gapped through fills at the open; otherwise, when the stop-loss
  (or liquidation) and the take-profit are both inside the candle, **the stop-loss wins** (we cannot
  know which came first, so we assume the worse).
- Liquidation (cross margin): the position is liquidated when equity falls below
  `maintenance_margin_rate × Σ notional`; the price where that happens is solved exactly from the
  account (cash, other positions at their last marks) and the fill is at that price, reason
  `liquidation`. If a stop-loss would be hit first (it lies between the open and the liquidation
  price) the stop-loss fills instead.
- Funding: `apply_funding(symbol, rate, price, time)` charges longs `rate × size × price` (shorts
  receive it); nothing calls it unless the data source has funding rates, so it is zero otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from typing import Any

import msgspec

from .models import AccountConfig, ClosedTrade, Fill, FillReason, Position, Rejection

_DUST = 1e-12
"""A remaining size below this fraction of the position is treated as closed (float noise)."""


class PaperAccount:
    """Cash, net positions per symbol and the running totals; see the module docstring for the rules."""

    __slots__ = ("config", "cash", "realized_pnl", "fees_paid", "funding_paid", "positions", "marks", "_slip")

    def __init__(self, config: AccountConfig | None = None, *, cash: float | None = None) -> None:
        self.config = config or AccountConfig()
        self.cash = float(self.config.initial_capital if cash is None else cash)
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        """Net funding paid (positive) or received (negative)."""
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}
        """Last price seen per symbol (fills, `mark()`), used to value positions no price was given for."""
        self._slip = self.config.slippage_bps / 10_000.0

    # ---- reading ------------------------------------------------------------------------------------

    def mark(self, symbol: str, price: float) -> None:
        self.marks[symbol] = price

    def unrealized_pnl(self, symbol: str, price: float | None = None) -> float:
        position = self.positions.get(symbol)
        if position is None:
            return 0.0
        if price is None:
            price = self.marks.get(symbol, position.entry_price)
        diff = price - position.entry_price
        return diff * position.size if position.side == "long" else -diff * position.size

    def equity(self, prices: Mapping[str, float] | None = None) -> float:
        """cash + unrealised PnL, each position valued at `prices[symbol]` (else its last mark)."""
        total = self.cash
        for symbol, position in self.positions.items():
            price = prices.get(symbol) if prices is not None else None
            if price is None:
                price = self.marks.get(symbol, position.entry_price)
            diff = price - position.entry_price
            total += diff * position.size if position.side == "long" else -diff * position.size
        return total

    def exposure(self, prices: Mapping[str, float] | None = None) -> float:
        """Σ |size| × price of the open positions."""
        total = 0.0
        for symbol, position in self.positions.items():
            price = prices.get(symbol) if prices is not None else None
            if price is None:
                price = self.marks.get(symbol, position.entry_price)
            total += position.size * price
        return total

    def view(self, prices: Mapping[str, float]) -> AccountState:
        """What `ctx.balance`, `ctx.equity` and `ctx.position()` read. It reads this account and
        `prices` when asked, so a backtest can make it once and update `prices` in place each bar."""
        return AccountState(self, prices)

    # ---- orders -------------------------------------------------------------------------------------

    def execute(
        self,
        order: Mapping[str, Any],
        price: float,
        time_ms: int,
        *,
        known_symbols: Container[str] | None = None,
    ) -> Fill | Rejection:
        """Fill one recorded order (`{action, symbol, quantity, reason, take_profit?, stop_loss?,
        leverage?}`) at reference `price` (slippage is applied here), or reject it with a reason."""
        action = order.get("action")
        symbol = order.get("symbol")
        reason_text = order.get("reason")
        raw_quantity = order.get("quantity")
        quantity = float(raw_quantity) if isinstance(raw_quantity, (int, float)) and not isinstance(raw_quantity, bool) else math.nan

        def reject(why: str) -> Rejection:
            return Rejection(
                time=time_ms,
                action=str(action),
                symbol=str(symbol),
                quantity=0.0 if math.isnan(quantity) else quantity,
                reason=why,
                order_reason=reason_text,
            )

        if action not in ("buy", "sell", "close"):
            return reject(f"unknown action {action!r}")
        if not isinstance(symbol, str) or not symbol:
            return reject("the order has no symbol")
        if known_symbols is not None and symbol not in known_symbols:
            return reject(f"unknown symbol {symbol}: this run can only trade {', '.join(sorted(known_symbols))}")
        if not (isinstance(price, (int, float)) and math.isfinite(price) and price > 0):
            return reject(f"no valid price for {symbol}")
        position = self.positions.get(symbol)
        if action == "close":
            if position is None:
                return reject(f"no open position in {symbol} to close")
            side = "sell" if position.side == "long" else "buy"
            return self._fill(symbol, side, position.size, self._slipped(side, price), time_ms, "signal", order)
        if not (math.isfinite(quantity) and quantity > 0):
            return reject(f"quantity must be a positive number, got {raw_quantity!r}")
        leverage = order.get("leverage")
        max_leverage = self.config.leverage
        if leverage is None:
            leverage = max_leverage
        elif not (isinstance(leverage, (int, float)) and leverage > 0):
            return reject(f"leverage must be a positive number, got {leverage!r}")
        elif leverage > max_leverage:
            return reject(f"leverage {leverage:g} is above the account's maximum {max_leverage:g}")
        fill_price = self._slipped(action, price)
        signed_now = 0.0 if position is None else (position.size if position.side == "long" else -position.size)
        signed_after = signed_now + quantity if action == "buy" else signed_now - quantity
        if abs(signed_after) > abs(signed_now) or signed_after * signed_now < 0:
            wrong_side = _bracket_error("long" if signed_after > 0 else "short", fill_price, order)
            if wrong_side is not None:
                return reject(wrong_side)
            # The order adds exposure: the account must carry the whole result, as it stands right
            # after the fill marked at the reference price: equity less the fee and the slippage paid
            # (q × |fill − price|), exposure at `price`. (Marking at the slipped price instead let a
            # leveraged account end above its leverage by the slippage × leverage.)
            fee = quantity * fill_price * self.config.fee_rate
            prices = {symbol: float(price)}
            exposure_after = self.exposure(prices) - abs(signed_now) * price + abs(signed_after) * price
            allowed = (self.equity(prices) - fee - quantity * abs(fill_price - price)) * leverage
            if exposure_after > allowed * (1 + 1e-12):
                return reject(
                    f"notional {abs(signed_after) * price:.2f} would exceed equity × leverage "
                    f"({max(allowed, 0.0):.2f})"
                )
        return self._fill(symbol, action, quantity, fill_price, time_ms, "signal", order)

    def close_position(self, symbol: str, price: float, time_ms: int, reason: FillReason = "close") -> Fill | None:
        """Close `symbol` at market (`end_of_test`, an account reset); None when nothing is open."""
        position = self.positions.get(symbol)
        if position is None:
            return None
        side = "sell" if position.side == "long" else "buy"
        return self._fill(symbol, side, position.size, self._slipped(side, price), time_ms, reason, None)

    def close_all(self, prices: Mapping[str, float], time_ms: int, reason: FillReason = "close") -> list[Fill]:
        fills = []
        for symbol in list(self.positions):
            price = prices.get(symbol) or self.marks.get(symbol) or self.positions[symbol].entry_price
            fill = self.close_position(symbol, price, time_ms, reason)
            if fill is not None:
                fills.append(fill)
        return fills

    # ---- the broker's own exits -----------------------------------------------------------------------

    def liquidation_price(self, symbol: str) -> float | None:
        """The price of `symbol` at which equity = maintenance margin (others at their marks): a long
        is liquidated at or below it, a short at or above it. None for a long no positive price
        liquidates; 0.0 for a short that every price liquidates (the other positions' losses already
        took the account below its maintenance margin: it goes at the next open)."""
        position = self.positions.get(symbol)
        if position is None:
            return None
        rate = self.config.maintenance_margin_rate
        others_pnl = 0.0
        others_notional = 0.0
        for other, held in self.positions.items():
            if other != symbol:
                mark = self.marks.get(other, held.entry_price)
                diff = mark - held.entry_price
                others_pnl += diff * held.size if held.side == "long" else -diff * held.size
                others_notional += held.size * mark
        base = self.cash + others_pnl
        size, entry = position.size, position.entry_price
        if position.side == "long":
            # base + size (p − entry) = rate (size p + others)  →  p (1 − rate) size = rate·others + size·entry − base
            if rate >= 1:
                return math.inf
            price = (rate * others_notional + size * entry - base) / (size * (1 - rate))
        else:
            # base − size (p − entry) = rate (size p + others)  →  p (1 + rate) size = base + size·entry − rate·others
            price = (base + size * entry - rate * others_notional) / (size * (1 + rate))
            return max(price, 0.0)  # ≤ 0: below maintenance at any price (was None: never liquidated)
        return price if price > 0 else None

    def check_exits(self, symbol: str, open_: float, high: float, low: float, time_ms: int) -> Fill | None:
        """Stop-loss, take-profit and liquidation of `symbol` over one candle (see the module docstring
        for the order). Returns the exit fill, or None."""
        position = self.positions.get(symbol)
        if position is None:
            return None
        stop = position.stop_loss
        target = position.take_profit
        liquidation = self.liquidation_price(symbol)
        long = position.side == "long"
        # The adverse level reached first: for a long the higher of stop and liquidation, for a short the lower.
        adverse: float | None
        adverse_reason: FillReason
        if stop is not None and (liquidation is None or (stop >= liquidation if long else stop <= liquidation)):
            adverse, adverse_reason = stop, "stop_loss"
        else:
            adverse, adverse_reason = liquidation, "liquidation"
        side = "sell" if long else "buy"
        if long:
            if adverse is not None and open_ <= adverse:
                reason = "stop_loss" if stop is not None and open_ <= stop else adverse_reason
                return self._exit(position, side, open_, time_ms, reason)
            if target is not None and open_ >= target:
                return self._exit(position, side, open_, time_ms, "take_profit")
            if adverse is not None and low <= adverse:
                return self._exit(position, side, adverse, time_ms, adverse_reason)
            if target is not None and high >= target:
                return self._exit(position, side, target, time_ms, "take_profit")
        else:
            if adverse is not None and open_ >= adverse:
                reason = "stop_loss" if stop is not None and open_ >= stop else adverse_reason
                return self._exit(position, side, open_, time_ms, reason)
            if target is not None and open_ <= target:
                return self._exit(position, side, open_, time_ms, "take_profit")
            if adverse is not None and high >= adverse:
                return self._exit(position, side, adverse, time_ms, adverse_reason)
            if target is not None and low <= target:
                return self._exit(position, side, target, time_ms, "take_profit")
        return None

    def apply_funding(self, symbol: str, rate: float, price: float, time_ms: int) -> float:
        """Charge one funding payment on `symbol`'s position: longs pay `rate × size × price` when the
        rate is positive, shorts receive it (and the reverse when negative). Returns what was paid."""
        position = self.positions.get(symbol)
        if position is None or rate == 0:
            return 0.0
        payment = rate * position.size * price
        if position.side == "short":
            payment = -payment
        self.cash -= payment
        self.funding_paid += payment
        return payment

    # ---- internals ----------------------------------------------------------------------------------

    def _slipped(self, side: str, price: float) -> float:
        slip = self._slip
        if not slip:
            return float(price)
        return float(price) * (1 + slip) if side == "buy" else float(price) * (1 - slip)

    def _exit(self, position: Position, side: str, level: float, time_ms: int, reason: FillReason) -> Fill:
        price = self._slipped(side, level) if reason == "stop_loss" else float(level)
        return self._fill(position.symbol, side, position.size, price, time_ms, reason, None)

    def _fill(
        self,
        symbol: str,
        side: str,
        quantity: float,
        price: float,
        time_ms: int,
        reason: FillReason,
        order: Mapping[str, Any] | None,
    ) -> Fill:
        notional = quantity * price
        fee = notional * self.config.fee_rate
        position = self.positions.get(symbol)
        opening_side = "long" if side == "buy" else "short"
        realized = 0.0
        closed = 0.0
        trade: ClosedTrade | None = None
        remaining = quantity
        if position is not None and position.side != opening_side:
            # Reduce (or close, or flip) the opposite position.
            closed = min(quantity, position.size)
            if position.size - closed <= position.size * _DUST:
                closed = position.size
            if quantity - closed <= quantity * _DUST:
                remaining = 0.0
            else:
                remaining = quantity - closed
            diff = price - position.entry_price
            realized = diff * closed if position.side == "long" else -diff * closed
            exit_fee = fee * (closed / quantity) if remaining else fee
            entry_fee = position.entry_fees * (closed / position.size)
            fees = entry_fee + exit_fee
            trade = ClosedTrade(
                symbol=symbol,
                side=position.side,
                size=closed,
                entry_time=position.opened_at,
                exit_time=time_ms,
                entry_price=position.entry_price,
                exit_price=price,
                pnl=realized - fees,
                return_pct=((diff if position.side == "long" else -diff) / position.entry_price
                            - fees / (closed * position.entry_price)) * 100.0,
                fees=fees,
                exit_reason=reason,
            )
            if closed >= position.size:
                del self.positions[symbol]
                position = None
            else:
                position.size -= closed
                position.entry_fees -= entry_fee
        if remaining:
            opening_fee = fee * (remaining / quantity)
            take_profit = order.get("take_profit") if order is not None else None
            stop_loss = order.get("stop_loss") if order is not None else None
            if position is None:
                self.positions[symbol] = Position(
                    symbol=symbol,
                    side=opening_side,
                    size=remaining,
                    entry_price=price,
                    take_profit=take_profit,
                    stop_loss=stop_loss,
                    opened_at=time_ms,
                    entry_fees=opening_fee,
                )
            else:  # add to the same side: average the entry
                size = position.size + remaining
                position.entry_price = (position.entry_price * position.size + price * remaining) / size
                position.size = size
                position.entry_fees += opening_fee
                if take_profit is not None:
                    position.take_profit = take_profit
                if stop_loss is not None:
                    position.stop_loss = stop_loss
        self.cash += realized - fee
        self.realized_pnl += realized
        self.fees_paid += fee
        self.marks[symbol] = price
        return Fill(
            time=time_ms,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            quantity=quantity,
            price=price,
            fee=fee,
            notional=notional,
            realized_pnl=realized,
            reason=reason,
            order_reason=order.get("reason") if order is not None else None,
            closed_quantity=closed,
            trade=trade,
        )

    # ---- the store ----------------------------------------------------------------------------------

    def to_doc(self) -> dict[str, Any]:
        """JSON-ready state (config, cash, totals, positions, marks)."""
        return {
            "config": msgspec.to_builtins(self.config),
            "cash": self.cash,
            "realized_pnl": self.realized_pnl,
            "fees_paid": self.fees_paid,
            "funding_paid": self.funding_paid,
            "positions": [msgspec.to_builtins(p) for p in self.positions.values()],
            "marks": dict(self.marks),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> PaperAccount:
        account = cls(msgspec.convert(doc["config"], AccountConfig), cash=float(doc["cash"]))
        account.realized_pnl = float(doc.get("realized_pnl", 0.0))
        account.fees_paid = float(doc.get("fees_paid", 0.0))
        account.funding_paid = float(doc.get("funding_paid", 0.0))
        for raw in doc.get("positions", ()):
            position = msgspec.convert(raw, Position)
            account.positions[position.symbol] = position
        account.marks = {str(k): float(v) for k, v in (doc.get("marks") or {}).items()}
        return account

    def __repr__(self) -> str:
        held = ", ".join(f"{p.side} {p.size:g} {s} @ {p.entry_price:g}" for s, p in self.positions.items())
        return f"PaperAccount(cash={self.cash:.2f}, positions=[{held}])"


class AccountState:
    """The `AccountView` of a `PaperAccount` (shared/lang/account.py): read live, at `prices`."""

    __slots__ = ("account", "prices")

    def __init__(self, account: PaperAccount, prices: Mapping[str, float]) -> None:
        self.account = account
        self.prices = prices

    @property
    def balance(self) -> float:
        return float(self.account.cash)

    @property
    def equity(self) -> float:
        return float(self.account.equity(self.prices))

    def position(self, symbol: str) -> dict[str, object] | None:
        held = self.account.positions.get(symbol)
        if held is None:
            return None
        price = self.prices.get(symbol)
        return {
            "side": held.side,
            "size": float(held.size),
            "entry_price": float(held.entry_price),
            "unrealized_pnl": float(self.account.unrealized_pnl(symbol, price)),
        }


def _bracket_error(side: str, fill_price: float, order: Mapping[str, Any]) -> str | None:
    """Why the order's take-profit / stop-loss cannot bracket a `side` position filled at `fill_price`."""
    take_profit, stop_loss = order.get("take_profit"), order.get("stop_loss")
    above, below = ("take_profit", "stop_loss") if side == "long" else ("stop_loss", "take_profit")
    levels = {"take_profit": take_profit, "stop_loss": stop_loss}
    if levels[above] is not None and not levels[above] > fill_price:
        return f"{above} {levels[above]:g} must be above the fill price {fill_price:g} for a {side} position"
    if levels[below] is not None and not levels[below] < fill_price:
        return f"{below} {levels[below]:g} must be below the fill price {fill_price:g} for a {side} position"
    return None
