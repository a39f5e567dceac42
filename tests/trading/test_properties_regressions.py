"""The cases the property tests (`test_properties_broker.py`) found, pinned as plain examples."""

from __future__ import annotations

from typing import Any

import pytest

from shared.trading import AccountConfig, Fill, PaperAccount, Rejection


def order(action: str, quantity: float, symbol: str = "BTC", **options: Any) -> dict[str, Any]:
    return {"action": action, "symbol": symbol, "quantity": quantity, "reason": None, **options}


def test_margin_check_counts_slippage_against_the_leveraged_account() -> None:
    # 10,000 cash, leverage 10, 1 % slippage: buying 990 @ 100 fills at 101. Marked at the price (100)
    # the account then holds 99,000 of exposure on 9,010 of equity (10.99×): above its leverage. The
    # check used to value everything at the slipped price and let it through.
    config = AccountConfig(fee_rate=0.0, slippage_bps=100, leverage=10)
    account = PaperAccount(config)
    assert isinstance(account.execute(order("buy", 990), 100.0, 1), Rejection)
    assert account.positions == {} and account.cash == 10_000
    # the most it may buy: 100 q ≤ (10,000 − q × 1) × 10  →  q ≤ 909.09…
    filled = account.execute(order("buy", 909), 100.0, 2)
    assert isinstance(filled, Fill) and filled.price == pytest.approx(101.0)
    assert account.exposure({"BTC": 100.0}) <= account.equity({"BTC": 100.0}) * 10


def test_margin_check_without_slippage_is_unchanged() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.0, leverage=10))
    assert isinstance(account.execute(order("buy", 1000), 100.0, 1), Fill)  # exactly 10× equity
    assert isinstance(account.execute(order("buy", 0.001), 100.0, 2), Rejection)


def test_a_short_is_liquidated_when_other_positions_took_the_account_below_maintenance() -> None:
    # Cross margin: a long BTC loses more than the account has; the ETH short's liquidation price
    # solves to ≤ 0 (every price liquidates it). It used to be None: the short was never liquidated.
    account = PaperAccount(AccountConfig(initial_capital=100.0, fee_rate=0.0, leverage=3, maintenance_margin_rate=0.0))
    assert isinstance(account.execute(order("buy", 100, "BTC"), 2.0, 1), Fill)
    assert isinstance(account.execute(order("sell", 1, "ETH"), 1.0, 2), Fill)
    account.mark("BTC", 0.5)  # −150 on BTC: equity −50
    assert account.liquidation_price("ETH") == 0.0
    fill = account.check_exits("ETH", 1.0, 1.01, 0.99, 3)
    assert fill is not None and (fill.reason, fill.price, fill.side) == ("liquidation", 1.0, "buy")


def test_a_long_that_no_price_liquidates_has_no_liquidation_price() -> None:
    account = PaperAccount(AccountConfig(fee_rate=0.0))
    account.execute(order("buy", 50), 100.0, 1)  # leverage 1, half the cash
    assert account.liquidation_price("BTC") is None
    assert account.check_exits("BTC", 100.0, 101.0, 1.0, 2) is None


def test_a_bracket_on_the_wrong_side_of_the_fill_is_rejected_and_changes_nothing() -> None:
    from shared.trading import AccountConfig, PaperAccount, Rejection

    account = PaperAccount(AccountConfig(initial_capital=10_000.0, fee_rate=0.001))
    long_stop_above = {"action": "buy", "symbol": "BTC", "quantity": 1.0, "reason": None, "stop_loss": 110.0}
    short_target_above = {"action": "sell", "symbol": "BTC", "quantity": 1.0, "reason": None, "take_profit": 105.0}
    for order in (long_stop_above, short_target_above):
        result = account.execute(order, 100.0, 0)
        assert isinstance(result, Rejection) and "must be" in result.reason
    assert account.cash == 10_000.0 and not account.positions
    ok = account.execute({**long_stop_above, "stop_loss": 90.0, "take_profit": 120.0}, 100.0, 0)
    assert not isinstance(ok, Rejection) and account.positions["BTC"].stop_loss == 90.0
