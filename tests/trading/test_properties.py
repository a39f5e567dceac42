"""Properties of the paper broker over random order sequences and candles (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.trading import AccountConfig, Fill, PaperAccount, Rejection

prices = st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False, allow_infinity=False)
levels = st.one_of(st.none(), st.floats(min_value=0.5, max_value=1_500.0))

orders = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["buy", "sell", "close"]),
        "symbol": st.sampled_from(["BTC", "ETH"]),
        "quantity": st.floats(min_value=0.001, max_value=200.0),
        "reason": st.none(),
    },
    optional={"take_profit": levels, "stop_loss": levels, "leverage": st.floats(min_value=0.5, max_value=5.0)},
)
candles = st.tuples(prices, st.floats(min_value=0.0, max_value=0.3), st.floats(min_value=0.0, max_value=0.3), prices)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("order"), orders, prices),
        st.tuples(st.just("bar"), st.sampled_from(["BTC", "ETH"]), candles),
        st.tuples(st.just("funding"), st.sampled_from(["BTC", "ETH"]), st.floats(min_value=-0.001, max_value=0.001), prices),
    ),
    max_size=60,
)
configs = st.builds(
    AccountConfig,
    initial_capital=st.floats(min_value=100.0, max_value=1e6),
    fee_rate=st.floats(min_value=0.0, max_value=0.01),
    slippage_bps=st.floats(min_value=0.0, max_value=50.0),
    leverage=st.floats(min_value=1.0, max_value=20.0),
    maintenance_margin_rate=st.floats(min_value=0.0, max_value=0.05),
)


def replay(config: AccountConfig, script: list[tuple]) -> tuple[PaperAccount, list[Fill], list[Rejection]]:
    account = PaperAccount(config)
    fills: list[Fill] = []
    rejections: list[Rejection] = []
    for time_ms, step in enumerate(script):
        if step[0] == "order":
            out = account.execute(step[1], step[2], time_ms, known_symbols={"BTC", "ETH"})
            (fills if isinstance(out, Fill) else rejections).append(out)  # type: ignore[arg-type]
        elif step[0] == "bar":
            _, symbol, (open_, up, down, close) = step
            high, low = max(open_, close) * (1 + up), min(open_, close) * (1 - down)
            fill = account.check_exits(symbol, open_, high, low, time_ms)
            if fill is not None:
                fills.append(fill)
            account.mark(symbol, close)
        else:
            _, symbol, rate, price = step
            account.apply_funding(symbol, rate, price, time_ms)
    return account, fills, rejections


@settings(max_examples=300, deadline=None)
@given(configs, steps)
def test_cash_change_is_realized_minus_fees_minus_funding(config: AccountConfig, script: list[tuple]) -> None:
    account, fills, _ = replay(config, script)
    expected = sum(f.realized_pnl for f in fills) - sum(f.fee for f in fills) - account.funding_paid
    scale = max(config.initial_capital, sum(f.notional for f in fills), 1.0)
    assert math.isclose(account.cash - config.initial_capital, expected, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(account.realized_pnl, sum(f.realized_pnl for f in fills), rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(account.fees_paid, sum(f.fee for f in fills), rel_tol=1e-9, abs_tol=1e-9 * scale)


@settings(max_examples=200, deadline=None)
@given(configs, steps)
def test_positions_stay_well_formed_and_trades_add_up(config: AccountConfig, script: list[tuple]) -> None:
    account, fills, _ = replay(config, script)
    for symbol, position in account.positions.items():
        assert position.symbol == symbol and position.size > 0 and position.entry_price > 0
        assert position.side in ("long", "short")
    for fill in fills:
        assert fill.fee >= 0 and fill.quantity > 0 and 0 <= fill.closed_quantity <= fill.quantity
        assert math.isclose(fill.notional, fill.quantity * fill.price, rel_tol=1e-12)
        if fill.trade is not None:
            trade = fill.trade
            assert math.isclose(trade.size, fill.closed_quantity, rel_tol=1e-12)
            assert math.isclose(trade.pnl, fill.realized_pnl - trade.fees, rel_tol=1e-9, abs_tol=1e-9)
    # Closing everything at the marks turns equity into cash, less the closing fees and slippage.
    marks = dict(account.marks)
    equity = account.equity(marks)
    closing = account.close_all(marks, len(script), "end_of_test")
    assert account.positions == {}
    slip_cost = sum(abs(f.price - marks[f.symbol]) * f.quantity for f in closing)
    expected = equity - sum(f.fee for f in closing) - slip_cost
    assert math.isclose(account.cash, expected, rel_tol=1e-9, abs_tol=1e-9 * max(equity, 1.0))


@settings(max_examples=200, deadline=None)
@given(configs, steps)
def test_doc_round_trip_then_same_future(config: AccountConfig, script: list[tuple]) -> None:
    half = len(script) // 2
    account, _, _ = replay(config, script[:half])
    again = PaperAccount.from_doc(account.to_doc())
    for time_ms, step in enumerate(script[half:]):
        if step[0] == "order":
            a = account.execute(step[1], step[2], time_ms, known_symbols={"BTC", "ETH"})
            b = again.execute(step[1], step[2], time_ms, known_symbols={"BTC", "ETH"})
            assert a == b
    assert account.to_doc() == again.to_doc()
