"""The paper broker checked step by step against the rules, over random order sequences (hypothesis).

`test_properties.py` checks the totals at the end; here every single step is checked as it happens,
against an independent statement of the rule it must follow:

- a rejection changes nothing (the account's doc is the same before and after);
- a fill pays `fee_rate × notional`, gets slippage against the trader, realises PnL only on the part
  that closed (against the average entry), averages the entry on adds, and leaves the position a
  separately written netting model predicts (flip = close part + open part, TP/SL of the flip order);
- after an order that added exposure the account, marked at the reference price, holds at most
  equity × leverage; a rejection for margin is never spurious (forcing the fill would break that);
- an exit follows the candle rule: no exit while no level is reached; a gap fills at the open; the
  stop-loss (or the liquidation) wins over the take-profit inside one candle; a liquidation inside the
  candle fills where equity = maintenance margin exactly; a position that survives a candle was above
  maintenance at the candle's worst price;
- cash − initial = Σ realised − Σ fees − funding, equity = cash + Σ unrealised, at every step;
- closing everything at the end: Σ trade fees = Σ fill fees, Σ trade PnL = cash change + funding;
- a JSON round trip of `to_doc()` at any step changes nothing that follows (bars and funding too).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.trading import AccountConfig, Fill, PaperAccount, Rejection

SYMBOLS = ("BTC", "ETH")
REL = 1e-9

prices = st.floats(min_value=1.0, max_value=1_000.0)
levels = st.one_of(st.none(), st.floats(min_value=0.5, max_value=1_500.0))
orders = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["buy", "sell", "close"]),
        "symbol": st.sampled_from(SYMBOLS),
        "quantity": st.one_of(st.floats(min_value=0.001, max_value=300.0), st.sampled_from([0.1, 0.2, 0.3, 1.0, 3.0])),
        "reason": st.none(),
    },
    optional={"take_profit": levels, "stop_loss": levels, "leverage": st.floats(min_value=0.5, max_value=25.0)},
)
candles = st.tuples(prices, st.floats(min_value=0.0, max_value=0.5), st.floats(min_value=0.0, max_value=0.5), prices)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("order"), orders, prices),
        st.tuples(st.just("order"), orders, prices),  # orders twice as likely as the rest
        st.tuples(st.just("near_limit"), orders, prices, st.floats(min_value=0.8, max_value=1.2)),
        st.tuples(st.just("bar"), st.sampled_from(SYMBOLS), candles),
        st.tuples(st.just("funding"), st.sampled_from(SYMBOLS), st.floats(min_value=-0.002, max_value=0.002), prices),
        st.tuples(st.just("roundtrip")),
    ),
    max_size=80,
)
configs = st.builds(
    AccountConfig,
    initial_capital=st.floats(min_value=100.0, max_value=1e6),
    fee_rate=st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=0.01)),
    slippage_bps=st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=100.0)),
    leverage=st.floats(min_value=1.0, max_value=25.0),
    maintenance_margin_rate=st.floats(min_value=0.0, max_value=0.05),
)


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=REL * max(scale, 1.0))


def copy(account: PaperAccount) -> PaperAccount:
    return PaperAccount.from_doc(json.loads(json.dumps(account.to_doc())))


def signed(account: PaperAccount, symbol: str) -> tuple[float, float]:
    """(signed size, entry price) of `symbol`, (0, 0) when flat."""
    held = account.positions.get(symbol)
    if held is None:
        return 0.0, 0.0
    return (held.size if held.side == "long" else -held.size), held.entry_price


def netting(before: tuple[float, float], side: str, quantity: float, price: float) -> tuple[float, tuple[float, float]]:
    """The rule of one fill, written independently: (realised PnL, (signed size, entry) after)."""
    size, entry = before
    delta = quantity if side == "buy" else -quantity
    if size == 0 or (size > 0) == (delta > 0):
        after = size + delta
        return 0.0, (after, (abs(size) * entry + quantity * price) / abs(after))
    closed = min(abs(size), quantity)
    realised = (price - entry) * closed * (1 if size > 0 else -1)
    after = size + delta
    if abs(after) <= 1e-12 * max(abs(size), quantity):
        return realised, (0.0, 0.0)
    if (after > 0) == (size > 0):
        return realised, (after, entry)
    return realised, (after, price)


@dataclass
class Tally:
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    traded: float = 0.0
    """Σ notional: the scale of float noise in the sums."""


def check_order(account: PaperAccount, order: dict[str, Any], price: float, t: int, tally: Tally) -> PaperAccount:
    config = account.config
    symbol = order["symbol"]
    before = copy(account)
    held_before = signed(account, symbol)
    out = account.execute(order, price, t, known_symbols=SYMBOLS)
    if isinstance(out, Rejection):
        tally.rejections.append(out)
        assert account.to_doc() == before.to_doc(), "a rejection changed the account"
        if "exceed" in out.reason:
            # Not spurious: forcing the fill would leave more exposure than equity × leverage.
            side = order["action"]
            fill_price = price * (1 + config.slippage_bps / 1e4) if side == "buy" else price * (1 - config.slippage_bps / 1e4)
            forced = copy(before)
            forced._fill(symbol, side, order["quantity"], fill_price, t, "signal", order)
            leverage = order.get("leverage") or config.leverage
            marks = {symbol: price}
            assert forced.exposure(marks) > forced.equity(marks) * leverage * (1 - REL)
        return account
    assert isinstance(out, Fill)
    tally.fills.append(out)
    tally.traded += out.notional
    scale = max(config.initial_capital, tally.traded)
    # price, slippage and fee
    slip = config.slippage_bps / 1e4
    assert close(out.price, price * (1 + slip) if out.side == "buy" else price * (1 - slip), price)
    assert (out.price >= price) if out.side == "buy" else (out.price <= price)
    assert close(out.notional, out.quantity * out.price, out.notional)
    assert close(out.fee, out.notional * config.fee_rate, out.notional)
    # netting: realised only on the closed part, average entry on adds, flips start at the fill price
    if order["action"] == "close":
        assert out.quantity == abs(held_before[0]) and out.side == ("sell" if held_before[0] > 0 else "buy")
    realised, (size_after, entry_after) = netting(held_before, out.side, out.quantity, out.price)
    assert close(out.realized_pnl, realised, scale)
    size_now, entry_now = signed(account, symbol)
    assert close(size_now, size_after, abs(held_before[0]) + out.quantity)
    if size_now:
        assert close(entry_now, entry_after, entry_after)
        held = account.positions[symbol]
        flipped_or_new = held_before[0] == 0 or (held_before[0] > 0) != (size_now > 0)
        if flipped_or_new:
            assert (held.take_profit, held.stop_loss) == (order.get("take_profit"), order.get("stop_loss"))
            assert held.opened_at == t
    if out.trade is not None:
        assert close(out.trade.size, out.closed_quantity, out.closed_quantity)
        assert out.closed_quantity > 0 and close(out.trade.pnl, out.realized_pnl - out.trade.fees, scale)
    else:
        assert out.closed_quantity == 0 and out.realized_pnl == 0
    # margin: an order that added exposure leaves the account within equity × leverage at the reference price
    adds = abs(size_now) > abs(held_before[0]) or (size_now * held_before[0] < 0)
    if adds:
        marks = {symbol: price}
        leverage = order.get("leverage") or config.leverage
        assert account.exposure(marks) <= account.equity(marks) * leverage * (1 + REL) + REL * scale
    return account


def check_bar(account: PaperAccount, symbol: str, candle: tuple[float, float, float, float], t: int, tally: Tally) -> None:
    open_, up, down, close_ = candle
    high, low = max(open_, close_) * (1 + up), min(open_, close_) * (1 - down)
    config = account.config
    held = account.positions.get(symbol)
    before = copy(account)
    liquidation = account.liquidation_price(symbol)
    out = account.check_exits(symbol, open_, high, low, t)
    account.mark(symbol, close_)
    if held is None:
        assert out is None
        return
    long = held.side == "long"
    stop, target = held.stop_loss, held.take_profit

    def reached(level: float | None, adverse: bool) -> bool:
        if level is None:
            return False
        return (low <= level) if long == adverse else (high >= level)

    stop_hit, liq_hit, target_hit = reached(stop, True), reached(liquidation, True), reached(target, False)
    if out is None:
        assert not (stop_hit or liq_hit or target_hit), "a level inside the candle was not filled"
        worst = low if long else high
        marks = {symbol: worst}
        assert before.equity(marks) >= config.maintenance_margin_rate * before.exposure(marks) * (1 - REL) - REL * config.initial_capital
        return
    tally.fills.append(out)
    tally.traded += out.notional
    assert symbol not in account.positions and out.quantity == held.size and out.closed_quantity == held.size
    assert out.side == ("sell" if long else "buy")
    assert close(out.fee, out.notional * config.fee_rate, out.notional)
    slip = config.slippage_bps / 1e4
    slipped = (lambda p: p * (1 - slip)) if long else (lambda p: p * (1 + slip))
    beyond = (lambda level: open_ <= level) if long else (lambda level: open_ >= level)
    if out.reason == "take_profit":
        assert target is not None and target_hit
        gapped = open_ >= target if long else open_ <= target
        assert close(out.price, open_ if gapped else target, target)  # a resting limit: no slippage
        if gapped:  # the open was past the target and not past a stop / the liquidation
            assert not any(level is not None and beyond(level) for level in (stop, liquidation))
        else:
            assert not stop_hit and not liq_hit, "the take-profit won over a stop inside the candle"
    elif out.reason == "stop_loss":
        assert stop is not None and stop_hit
        gapped = beyond(stop)
        assert close(out.price, slipped(open_ if gapped else stop), stop)
    else:
        assert out.reason == "liquidation" and liq_hit and liquidation is not None
        if beyond(liquidation):
            assert close(out.price, open_, open_)
        else:
            # exactly where equity falls to the maintenance margin (others at their marks)
            marks = {symbol: out.price}
            assert close(out.price, liquidation, liquidation)
            assert close(before.equity(marks), config.maintenance_margin_rate * before.exposure(marks), before.exposure(marks))
            # and no stop lay between the open and the liquidation price
            assert stop is None or not (stop >= liquidation if long else stop <= liquidation)


def check_totals(account: PaperAccount, tally: Tally) -> None:
    config = account.config
    scale = max(config.initial_capital, tally.traded)
    realised = math.fsum(f.realized_pnl for f in tally.fills)
    fees = math.fsum(f.fee for f in tally.fills)
    assert close(account.cash - config.initial_capital, realised - fees - account.funding_paid, scale)
    assert close(account.realized_pnl, realised, scale) and close(account.fees_paid, fees, scale)
    unrealised = sum(account.unrealized_pnl(s) for s in account.positions)
    assert close(account.equity(), account.cash + unrealised, scale)
    for symbol, held in account.positions.items():
        assert held.symbol == symbol and held.size > 0 and held.side in ("long", "short")
        assert math.isfinite(held.entry_price) and held.entry_price > 0 and held.entry_fees >= -REL * scale


def replay(config: AccountConfig, script: list[tuple[Any, ...]]) -> tuple[PaperAccount, Tally]:
    account = PaperAccount(config)
    tally = Tally()
    for t, step in enumerate(script):
        if step[0] == "order":
            account = check_order(account, dict(step[1]), step[2], t, tally)
        elif step[0] == "near_limit":  # a quantity near the most equity × leverage allows: the margin edge
            _, order, price, factor = step
            leverage = order.get("leverage") or config.leverage
            room = account.equity({order["symbol"]: price}) * leverage - account.exposure({order["symbol"]: price})
            order = {**order, "quantity": max(room, 0.0) / price * factor + 1e-6}
            account = check_order(account, order, price, t, tally)
        elif step[0] == "bar":
            check_bar(account, step[1], step[2], t, tally)
        elif step[0] == "funding":
            _, symbol, rate, price = step
            cash = account.cash
            paid = account.apply_funding(symbol, rate, price, t)
            assert account.cash == cash - paid
            held = account.positions.get(symbol)
            if held is None:
                assert paid == 0
            else:  # longs pay a positive rate, shorts receive it
                assert close(paid, rate * held.size * price * (1 if held.side == "long" else -1), held.size * price)
        else:
            account = copy(account)
        check_totals(account, tally)
    return account, tally


@settings(max_examples=400, deadline=None)
@given(configs, steps)
def test_every_step_follows_the_rules(config: AccountConfig, script: list[tuple[Any, ...]]) -> None:
    account, tally = replay(config, script)
    # Close everything: every fee now belongs to a closed trade, and the trades add up to the cash change.
    tally.fills.extend(account.close_all({}, len(script), "end_of_test"))
    assert account.positions == {}
    check_totals(account, tally)
    trades = [f.trade for f in tally.fills if f.trade is not None]
    scale = max(config.initial_capital, tally.traded)
    assert close(math.fsum(t.fees for t in trades), account.fees_paid, scale)
    assert close(math.fsum(t.pnl for t in trades), account.cash - config.initial_capital + account.funding_paid, scale)


@settings(max_examples=200, deadline=None)
@given(configs, steps, st.data())
def test_json_round_trip_at_any_step_changes_nothing(config: AccountConfig, script: list[tuple[Any, ...]], data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(script)))
    plain = PaperAccount(config)
    stored = PaperAccount(config)
    for t, step in enumerate(script):
        if t == cut:
            stored = copy(stored)
        if step[0] in ("order", "near_limit"):
            assert plain.execute(step[1], step[2], t, known_symbols=SYMBOLS) == stored.execute(step[1], step[2], t, known_symbols=SYMBOLS)
        elif step[0] == "bar":
            _, symbol, (open_, up, down, close_) = step
            high, low = max(open_, close_) * (1 + up), min(open_, close_) * (1 - down)
            assert plain.check_exits(symbol, open_, high, low, t) == stored.check_exits(symbol, open_, high, low, t)
            plain.mark(symbol, close_)
            stored.mark(symbol, close_)
        elif step[0] == "funding":
            assert plain.apply_funding(*step[1:], t) == stored.apply_funding(*step[1:], t)
        assert plain.to_doc() == stored.to_doc()
