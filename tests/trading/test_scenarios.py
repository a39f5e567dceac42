"""The paper broker, scenario by scenario: a few steps (orders at a price, candles) and the fills,
exit reasons and rejections they must give. One comment per row says what the row proves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.trading import AccountConfig, Fill, PaperAccount, Rejection


def order(action: str, quantity: float = 1.0, **options: Any) -> dict[str, Any]:
    return {"action": action, "symbol": "BTC", "quantity": quantity, "reason": options.pop("reason", None), **options}


@dataclass
class Scenario:
    steps: list[tuple[Any, ...]]
    """("order", order, price) or ("bar", open, high, low, close)."""
    expected: list[tuple[Any, ...]]
    """One entry per step that produced something: ("fill", side, quantity, price, reason) or ("reject", substring)."""
    config: AccountConfig = field(default_factory=lambda: AccountConfig(fee_rate=0.0))
    position: tuple[str, float, float] | None = None
    """(side, size, entry_price) left at the end, or None when flat."""


SCENARIOS: dict[str, Scenario] = {
    # A buy opens a long at the reference price.
    "buy_opens_long": Scenario([("order", order("buy", 2), 100.0)], [("fill", "buy", 2, 100.0, "signal")], position=("long", 2, 100.0)),
    # A second buy averages the entry price.
    "buy_adds_and_averages": Scenario(
        [("order", order("buy", 1), 100.0), ("order", order("buy", 1), 110.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "buy", 1, 110.0, "signal")], position=("long", 2, 105.0)),
    # A sell smaller than the long reduces it and keeps the entry price.
    "sell_reduces_long": Scenario(
        [("order", order("buy", 3), 100.0), ("order", order("sell", 1), 120.0)],
        [("fill", "buy", 3, 100.0, "signal"), ("fill", "sell", 1, 120.0, "signal")], position=("long", 2, 100.0)),
    # A sell larger than the long flips it into a short at the fill price, in one fill.
    "sell_flips_long": Scenario(
        [("order", order("buy", 1), 100.0), ("order", order("sell", 3), 90.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 3, 90.0, "signal")], position=("short", 2, 90.0)),
    # A buy on a short of the same size closes it.
    "buy_closes_short": Scenario(
        [("order", order("sell", 2), 100.0), ("order", order("buy", 2), 95.0)],
        [("fill", "sell", 2, 100.0, "signal"), ("fill", "buy", 2, 95.0, "signal")]),
    # close() closes the whole position whatever quantity the order carries.
    "close_closes_everything": Scenario(
        [("order", order("sell", 2), 100.0), ("order", order("close", 0.0), 95.0)],
        [("fill", "sell", 2, 100.0, "signal"), ("fill", "buy", 2, 95.0, "signal")]),
    # close() with nothing open is rejected, not an error.
    "close_when_flat_rejected": Scenario([("order", order("close", 0.0), 95.0)], [("reject", "no open position")]),
    # Quantity 0 is rejected.
    "zero_quantity_rejected": Scenario([("order", order("buy", 0.0), 100.0)], [("reject", "positive")]),
    # A symbol the run does not trade is rejected.
    "unknown_symbol_rejected": Scenario(
        [("order", {"action": "buy", "symbol": "DOGE", "quantity": 1.0, "reason": None}, 1.0)], [("reject", "unknown symbol DOGE")]),
    # Notional above equity × leverage is rejected (10,000 cash, 101 × 100 = 10,100).
    "over_margin_rejected": Scenario([("order", order("buy", 101), 100.0)], [("reject", "exceed equity")]),
    # The same notional passes with leverage 2.
    "leverage_allows_more": Scenario(
        [("order", order("buy", 101), 100.0)], [("fill", "buy", 101, 100.0, "signal")],
        config=AccountConfig(fee_rate=0.0, leverage=2), position=("long", 101, 100.0)),
    # An order asking for more leverage than the account allows is rejected.
    "order_leverage_above_max": Scenario([("order", order("buy", 1, leverage=5.0), 100.0)], [("reject", "above the account's maximum")]),
    # Reducing a position is never refused for margin, even when equity has shrunk.
    "reduce_never_rejected": Scenario(
        [("order", order("buy", 99), 100.0), ("order", order("sell", 50), 60.0)],
        [("fill", "buy", 99, 100.0, "signal"), ("fill", "sell", 50, 60.0, "signal")], position=("long", 49, 100.0)),
    # Slippage makes a buy dearer and a sell cheaper (10 bps).
    "slippage_against_trader": Scenario(
        [("order", order("buy", 1), 100.0), ("order", order("sell", 1), 100.0)],
        [("fill", "buy", 1, 100.1, "signal"), ("fill", "sell", 1, 99.9, "signal")],
        config=AccountConfig(fee_rate=0.0, slippage_bps=10)),
    # A long's stop-loss inside the candle fills at the stop.
    "long_stop_in_candle": Scenario(
        [("order", order("buy", 1, stop_loss=95.0), 100.0), ("bar", 100.0, 101.0, 94.0, 96.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 1, 95.0, "stop_loss")]),
    # A long's take-profit inside the candle fills at the target.
    "long_target_in_candle": Scenario(
        [("order", order("buy", 1, take_profit=110.0), 100.0), ("bar", 100.0, 111.0, 99.0, 105.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 1, 110.0, "take_profit")]),
    # Both levels inside one candle: the stop-loss wins (pessimistic).
    "both_in_candle_stop_wins": Scenario(
        [("order", order("buy", 1, take_profit=110.0, stop_loss=95.0), 100.0), ("bar", 100.0, 112.0, 90.0, 100.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 1, 95.0, "stop_loss")]),
    # Both levels for a short: the stop (above) still wins.
    "short_both_in_candle_stop_wins": Scenario(
        [("order", order("sell", 1, take_profit=90.0, stop_loss=105.0), 100.0), ("bar", 100.0, 106.0, 89.0, 100.0)],
        [("fill", "sell", 1, 100.0, "signal"), ("fill", "buy", 1, 105.0, "stop_loss")]),
    # A gap down through the stop fills at the open, not at the stop.
    "gap_through_stop_fills_at_open": Scenario(
        [("order", order("buy", 1, stop_loss=95.0), 100.0), ("bar", 90.0, 92.0, 88.0, 91.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 1, 90.0, "stop_loss")]),
    # A gap up through the target fills at the (better) open.
    "gap_through_target_fills_at_open": Scenario(
        [("order", order("buy", 1, take_profit=110.0, stop_loss=95.0), 100.0), ("bar", 115.0, 116.0, 94.0, 100.0)],
        [("fill", "buy", 1, 100.0, "signal"), ("fill", "sell", 1, 115.0, "take_profit")]),
    # A short's take-profit is below the price.
    "short_target": Scenario(
        [("order", order("sell", 1, take_profit=90.0), 100.0), ("bar", 99.0, 100.0, 89.0, 92.0)],
        [("fill", "sell", 1, 100.0, "signal"), ("fill", "buy", 1, 90.0, "take_profit")]),
    # A candle that touches neither level leaves the position open.
    "no_level_touched": Scenario(
        [("order", order("buy", 1, take_profit=110.0, stop_loss=95.0), 100.0), ("bar", 100.0, 109.0, 96.0, 105.0)],
        [("fill", "buy", 1, 100.0, "signal")], position=("long", 1, 100.0)),
    # The stop-loss gets slippage (a stop-market order); the take-profit does not (a resting limit).
    "stop_slips_target_does_not": Scenario(
        [("order", order("buy", 1, stop_loss=95.0), 100.0), ("bar", 100.0, 100.0, 94.0, 96.0),
         ("order", order("buy", 1, take_profit=110.0), 100.0), ("bar", 100.0, 111.0, 99.0, 105.0)],
        [("fill", "buy", 1, 100.1, "signal"), ("fill", "sell", 1, 95.0 * 0.999, "stop_loss"),
         ("fill", "buy", 1, 100.1, "signal"), ("fill", "sell", 1, 110.0, "take_profit")],
        config=AccountConfig(fee_rate=0.0, slippage_bps=10)),
    # Leverage 10 long: equity hits the maintenance margin on the way down and the position is
    # liquidated at the liquidation price (cash 10,000, 900 @ 100 → p = (900·100 − 10,000) / (900·0.995)).
    "leveraged_long_liquidated": Scenario(
        [("order", order("buy", 900), 100.0), ("bar", 99.0, 99.5, 80.0, 85.0)],
        [("fill", "buy", 900, 100.0, "signal"), ("fill", "sell", 900, (900 * 100 - 10_000) / (900 * 0.995), "liquidation")],
        config=AccountConfig(fee_rate=0.0, leverage=10)),
    # A stop-loss above the liquidation price fills first.
    "stop_before_liquidation": Scenario(
        [("order", order("buy", 900, stop_loss=95.0), 100.0), ("bar", 99.0, 99.5, 80.0, 85.0)],
        [("fill", "buy", 900, 100.0, "signal"), ("fill", "sell", 900, 95.0, "stop_loss")],
        config=AccountConfig(fee_rate=0.0, leverage=10)),
    # A short at leverage 1 is liquidated only when the price nearly doubles.
    "short_liquidated_on_spike": Scenario(
        [("order", order("sell", 100), 100.0), ("bar", 100.0, 250.0, 100.0, 240.0)],
        [("fill", "sell", 100, 100.0, "signal"), ("fill", "buy", 100, (10_000 + 100 * 100) / (100 * 1.005), "liquidation")]),
}


def run_scenario(scenario: Scenario) -> tuple[PaperAccount, list[Fill | Rejection]]:
    account = PaperAccount(scenario.config)
    out: list[Fill | Rejection] = []
    for time_ms, step in enumerate(scenario.steps):
        if step[0] == "order":
            out.append(account.execute(step[1], step[2], time_ms, known_symbols={"BTC"}))
        else:
            _, open_, high, low, close = step
            fill = account.check_exits("BTC", open_, high, low, time_ms)
            if fill is not None:
                out.append(fill)
            account.mark("BTC", close)
    return account, out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    scenario = SCENARIOS[name]
    account, out = run_scenario(scenario)
    assert len(out) == len(scenario.expected), out
    for got, want in zip(out, scenario.expected, strict=True):
        if want[0] == "reject":
            assert isinstance(got, Rejection), got
            assert want[1] in got.reason
        else:
            assert isinstance(got, Fill), got
            _, side, quantity, price, reason = want
            assert (got.side, got.quantity, got.reason) == (side, quantity, reason)
            assert got.price == pytest.approx(price, rel=1e-12)
    if scenario.position is None:
        assert account.positions == {}
    else:
        held = account.positions["BTC"]
        assert (held.side, held.size, held.entry_price) == pytest.approx(scenario.position)  # type: ignore[arg-type]


def test_flip_splits_fee_between_closed_trade_and_new_position() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.001))
    account.execute(order("buy", 1), 100.0, 1)  # fee 0.1
    fill = account.execute(order("sell", 3), 110.0, 2)  # fee 0.33: 0.11 closes, 0.22 opens
    assert isinstance(fill, Fill) and fill.trade is not None
    assert fill.closed_quantity == 1 and fill.realized_pnl == pytest.approx(10.0)
    assert fill.trade.fees == pytest.approx(0.1 + 0.11)
    assert fill.trade.pnl == pytest.approx(10.0 - 0.21)
    assert fill.trade.return_pct == pytest.approx((0.1 - 0.21 / 100) * 100)
    assert account.positions["BTC"].entry_fees == pytest.approx(0.22)
    assert account.cash == pytest.approx(10_000 - 0.1 + 10 - 0.33)


def test_partial_close_prorates_entry_fees() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.001))
    account.execute(order("sell", 4), 100.0, 1)  # short 4, fee 0.4
    fill = account.execute(order("buy", 1), 90.0, 2)
    assert isinstance(fill, Fill) and fill.trade is not None
    assert fill.trade.side == "short" and fill.trade.size == 1
    assert fill.trade.fees == pytest.approx(0.1 + 0.09)
    assert fill.trade.pnl == pytest.approx(10 - 0.19)
    assert account.positions["BTC"].entry_fees == pytest.approx(0.3)


def test_view_reads_account_and_prices_live() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.0))
    prices = {"BTC": 100.0}
    view = account.view(prices)
    assert view.position("BTC") is None and view.equity == 10_000
    account.execute(order("sell", 2), 100.0, 1)
    prices["BTC"] = 90.0
    assert view.position("BTC") == {"side": "short", "size": 2.0, "entry_price": 100.0, "unrealized_pnl": 20.0}
    assert view.balance == 10_000 and view.equity == 10_020


def test_funding_moves_cash_and_is_counted() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.0))
    account.execute(order("buy", 2), 100.0, 1)
    assert account.apply_funding("BTC", 0.0001, 100.0, 2) == pytest.approx(0.02)
    account.execute(order("sell", 4), 100.0, 3)
    assert account.apply_funding("BTC", 0.0001, 100.0, 4) == pytest.approx(-0.02)
    assert account.funding_paid == pytest.approx(0.0) and account.cash == pytest.approx(10_000)


def test_to_doc_round_trip_keeps_everything() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.001, leverage=3))
    account.execute(order("buy", 5, take_profit=120.0, stop_loss=90.0), 100.0, 1)
    account.execute(order("sell", 2), 105.0, 2)
    import json

    doc = json.loads(json.dumps(account.to_doc()))
    again = PaperAccount.from_doc(doc)
    assert again.to_doc() == account.to_doc()
    assert again.positions["BTC"].stop_loss == 90.0 and again.config.leverage == 3
