"""`ctx` as LANGUAGE.md's table describes it, backed by a MarketView and an AccountView.

Most rows run twice: once on `run`'s own `ctx` (which the compiler calls directly) and once through a
helper function's parameter (which goes through run-time dispatch); both must agree.
"""

from __future__ import annotations

import math

import pytest

from shared.lang import AccountSnapshot
from shared.market.view import IndicatorError
from tests.lang.support import FakeView, run, run_error

INDICATORS = {
    ("rsi", (14.0,)): 55.5,
    ("rsi", (7.0,)): 60.0,
    ("sma", (20.0,)): 101.0,
    ("sma", (10.0,)): 102.0,
    ("ema", (20.0,)): 99.0,
    ("ema", (50.0,)): None,
    ("atr", (14.0,)): 2.5,
    ("vwap", ()): 100.5,
    ("obv", ()): 12345.0,
    ("macd", (12.0, 26.0, 9.0)): {"value": 1.5, "signal": 1.0, "histogram": 0.5},
    ("macd", (5.0, 26.0, 9.0)): {"value": None, "signal": None, "histogram": None},
    ("bbands", (20.0, 2.0)): {"upper": 110.0, "middle": 100.0, "lower": 90.0},
    ("stoch", (14.0, 3.0)): {"k": 80.0, "d": 75.0},
    ("volume_spike", (20.0, 2.0)): True,
    ("volume_spike", (10.0, 3.0)): False,
}


def make_view(**overrides: object) -> FakeView:
    eth = FakeView(symbol="ETH", timeframe="4h", price=2000.0, indicators={("rsi", (14.0,)): 30.0})
    return FakeView(indicators=dict(INDICATORS), markets={("ETH", "4h"): eth, ("ETH", None): eth}, **overrides)  # type: ignore[arg-type]


ACCOUNT = AccountSnapshot(
    balance=5_000,
    equity=5_250.5,
    positions={"BTC": {"side": "long", "size": 0.5, "entry_price": 95, "unrealized_pnl": 2.5}},
)

MEMBERS = [
    ("C.symbol", "BTC"),
    ("C.timeframe", "1h"),
    ("C.price", 100.0),
    ("C.time", "2024-01-01T00:00:00Z"),
    ("C.timestamp", 1_704_067_200_000.0),
    ("C.rsi()", 55.5),
    ("C.rsi(14)", 55.5),
    ("C.rsi(7)", 60.0),
    ("C.sma()", 101.0),
    ("C.sma(10)", 102.0),
    ("C.ema()", 99.0),
    ("C.ema(50)", None),
    ("C.atr()", 2.5),
    ("C.vwap()", 100.5),
    ("C.obv()", 12345.0),
    ("C.macd()", {"value": 1.5, "signal": 1.0, "histogram": 0.5}),
    ("C.macd(5)", {"value": None, "signal": None, "histogram": None}),
    ("C.macd().histogram", 0.5),
    ("C.bbands(20, 2)", {"upper": 110.0, "middle": 100.0, "lower": 90.0}),
    ("C.stoch()", {"k": 80.0, "d": 75.0}),
    ("C.volume_spike()", True),
    ("C.volume_spike(10, 3)", False),
    (
        "C.candles(2)",
        [
            {"time": "2024-01-01T22:00:00Z", "open": 23.0, "high": 24.0, "low": 22.5, "close": 23.5, "volume": 220.0},
            {"time": "2024-01-01T23:00:00Z", "open": 24.0, "high": 25.0, "low": 23.5, "close": 24.5, "volume": 230.0},
        ],
    ),
    ("C.candles(0)", []),
    ("C.candles(3).len()", 3.0),
    ("C.candles(5)[-1].close", 24.5),
    ("C.balance", 5000.0),
    ("C.equity", 5250.5),
    ("C.position()", {"side": "long", "size": 0.5, "entry_price": 95.0, "unrealized_pnl": 2.5}),
    ('C.position("BTC").size', 0.5),
    ('C.position("ETH")', None),
    ('C.params.get("spacing", 100)', 250.0),
    ('C.params.get("missing", 100)', 100.0),
    ("C.params.nested.list", [1.0, 2.0]),
    ("C.state.last_fill", 99.0),
    ("C.state.keys()", ["last_fill"]),
    ("C.trigger.type", "signal"),
    ("C.trigger", {"type": "signal", "pool": 3.0, "signals": ["rsi_low"]}),
    ('C.market("ETH", "4h").price', 2000.0),
    ('C.market("ETH").rsi()', 30.0),
    ('C.market("ETH", "4h").symbol', "ETH"),
    ('C.market("ETH", "4h").timeframe', "4h"),
    ('str(C.market("ETH"))', "<market ETH 4h>"),
]


@pytest.mark.parametrize("through_helper", [False, True], ids=["run-ctx", "helper-param"])
@pytest.mark.parametrize(("expression", "expected"), MEMBERS, ids=[row[0] for row in MEMBERS])
def test_ctx_member_gives(expression: str, expected: object, through_helper: bool) -> None:
    if through_helper:
        source = f"fn get(C) {{ {expression} }} fn run(ctx) {{ ctx.state.value = get(ctx); }}"
    else:
        source = f"fn run(C) {{ C.state.value = {expression}; }}"
    result = run(
        source,
        view=make_view(),
        account=ACCOUNT,
        params={"spacing": 250, "nested": {"list": [1, 2]}},
        state={"last_fill": 99},
        trigger={"type": "signal", "pool": 3, "signals": ["rsi_low"]},
    )
    assert result.status == "ok", result.error
    assert result.state["value"] == expected


@pytest.mark.parametrize(
    ("call", "name", "args"),
    [
        ("ctx.rsi()", "rsi", (14.0,)),
        ("ctx.sma()", "sma", (20.0,)),
        ("ctx.ema()", "ema", (20.0,)),
        ("ctx.atr()", "atr", (14.0,)),
        ("ctx.vwap()", "vwap", ()),
        ("ctx.obv()", "obv", ()),
        ("ctx.macd()", "macd", (12.0, 26.0, 9.0)),
        ("ctx.macd(5)", "macd", (5.0, 26.0, 9.0)),
        ("ctx.bbands()", "bbands", (20.0, 2.0)),
        ("ctx.stoch()", "stoch", (14.0, 3.0)),
        ("ctx.volume_spike()", "volume_spike", (20.0, 2.0)),
        ("ctx.sma(x)", "sma", (10.0,)),
        ("ctx.bbands(x, 3)", "bbands", (10.0, 3.0)),
    ],
)
def test_indicators_always_get_explicit_arguments(call: str, name: str, args: tuple[float, ...]) -> None:
    view = FakeView(indicators={name: {} if name in ("macd", "bbands", "stoch") else 1.0})
    result = run(f"fn run(ctx) {{ let x = 10; ctx.log({call}); }}", view=view)
    assert result.status == "ok", result.error
    assert view.calls == [(name, args)]
    assert all(type(arg) is float for arg in view.calls[0][1])


def test_indicator_values_from_numpy_like_hosts_become_plain_numbers() -> None:
    class Float64(float):
        """Stands in for numpy.float64, a float subclass."""

    view = FakeView(indicators={"rsi": Float64(42.0), "sma": float("nan"), "ema": 7, "macd": {"value": Float64(1.0)}})
    result = run("fn run(ctx) { ctx.state.v = [ctx.rsi(), ctx.sma(), ctx.ema(), ctx.macd()]; }", view=view)
    assert result.state["v"] == [42.0, None, 7.0, {"value": 1.0, "signal": None, "histogram": None}]
    assert type(result.state["v"][0]) is float


def test_indicator_error_stops_the_run_with_its_message() -> None:
    view = FakeView(indicators={"rsi": IndicatorError("rsi period must be at least 2")})
    error = run_error("fn run(ctx) {\n  let r = ctx.rsi(1);\n}", view=view)
    assert (error.kind, error.message, error.line, error.column) == ("runtime", "rsi period must be at least 2", 2, 15)


def test_indicator_argument_must_be_a_number() -> None:
    error = run_error('fn run(ctx) { let p = "x"; ctx.sma(p); }', view=FakeView(indicators={"sma": 1.0}))
    assert error.message == 'ctx.sma needs numbers, got "x"'


def test_unknown_market_names_the_symbol() -> None:
    assert run_error('fn run(ctx) { ctx.market("DOGE"); }').message == "no market data for symbol `DOGE`"
    assert run_error('fn run(ctx) { ctx.market("DOGE", "1d"); }').message == (
        "no market data for symbol `DOGE` with timeframe `1d`"
    )
    assert run_error("fn run(ctx) { ctx.market(1); }").message.startswith("ctx.market needs a symbol string")


def test_candles_count_is_checked_before_asking_the_view() -> None:
    assert run_error("fn run(ctx) { ctx.candles(-1); }").message == "the number of candles cannot be negative, got -1"
    assert run_error("fn run(ctx) { ctx.candles(1.5); }").message.startswith("the number of candles must be a whole")
    assert run_error("fn run(ctx) { ctx.candles(1e9); }").message.startswith("array too large")


def test_market_view_of_ctx_is_not_ctx() -> None:
    view = make_view()
    assert run_error('fn run(ctx) { ctx.market("ETH").balance; }', view=view).message == (
        "unknown market member `balance`"
    )
    assert run_error('fn run(ctx) { ctx.market("ETH").market("BTC"); }', view=view).message == (
        "unknown market member `market`"
    )


# ---- decisions -------------------------------------------------------------------------------------

DECISIONS = [
    ('ctx.buy("BTC", 0.01)', {"action": "buy", "symbol": "BTC", "quantity": 0.01, "reason": None}),
    (
        'ctx.sell("ETH", 2, "take profit")',
        {"action": "sell", "symbol": "ETH", "quantity": 2.0, "reason": "take profit"},
    ),
    (
        'ctx.buy("BTC", 1, #{reason: "breakout", take_profit: 120, stop_loss: 90, leverage: 3})',
        {
            "action": "buy",
            "symbol": "BTC",
            "quantity": 1.0,
            "reason": "breakout",
            "take_profit": 120.0,
            "stop_loss": 90.0,
            "leverage": 3.0,
        },
    ),
    ('ctx.buy("BTC", 1, #{stop_loss: null})', {"action": "buy", "symbol": "BTC", "quantity": 1.0, "reason": None}),
    ('ctx.close("BTC")', {"action": "close", "symbol": "BTC", "quantity": 0.5, "reason": None}),
    ('ctx.close("ETH", "flat")', {"action": "close", "symbol": "ETH", "quantity": 0.0, "reason": "flat"}),
    ('ctx.hold("waiting")', {"action": "hold", "symbol": "BTC", "quantity": 0.0, "reason": "waiting"}),
    ("ctx.hold()", {"action": "hold", "symbol": "BTC", "quantity": 0.0, "reason": "no order"}),
    ("1", {"action": "hold", "symbol": "BTC", "quantity": 0.0, "reason": "no order"}),
]


@pytest.mark.parametrize(("call", "decision"), DECISIONS, ids=[row[0] for row in DECISIONS])
def test_decision_is_the_first_order_or_hold(call: str, decision: dict[str, object]) -> None:
    result = run(f"fn run(ctx) {{ {call}; }}", account=ACCOUNT)
    assert result.status == "ok", result.error
    assert result.decision == decision
    assert result.orders == ([] if decision["action"] == "hold" else [decision])


def test_all_orders_and_logs_come_back_and_the_first_order_decides() -> None:
    result = run('fn run(ctx) { ctx.hold("first"); ctx.log("a"); ctx.sell("BTC", 1); ctx.log(2); ctx.buy("ETH", 3); }')
    assert result.decision["action"] == "sell"
    assert [order["action"] for order in result.orders] == ["sell", "buy"]
    assert result.logs == ["a", "2"]


ORDER_ERRORS = [
    ("ctx.buy(1, 1)", 'ctx.buy needs a symbol string like "BTC" first, got 1'),
    ('ctx.buy("", 1)', 'ctx.buy needs a symbol string like "BTC" first, got ""'),
    ('ctx.buy("BTC", 0)', "ctx.buy needs a positive quantity, got 0"),
    ('ctx.sell("BTC", -1)', "ctx.sell needs a positive quantity, got -1"),
    ('ctx.buy("BTC", "1")', 'ctx.buy needs a positive quantity, got "1"'),
    ('ctx.buy("BTC", null)', "ctx.buy needs a positive quantity, got null"),
    ('ctx.buy("BTC", 1e308 * 10)', "ctx.buy needs a positive quantity, got inf"),
    ('ctx.buy("BTC", 1, 5)', "ctx.buy: the reason must be a string, got a number"),
    ('ctx.buy("BTC", 1, #{size: 2})', "ctx.buy: unknown option `size` (use reason, take_profit, stop_loss, leverage)"),
    ('ctx.buy("BTC", 1, #{stop_loss: -5})', "ctx.buy: `stop_loss` must be a positive number, got -5"),
    ('ctx.buy("BTC", 1, #{reason: 1})', "ctx.buy: the reason must be a string, got a number"),
    ("ctx.close(null)", 'ctx.close needs a symbol string like "BTC" first, got null'),
    ('ctx.close("BTC", 1)', "ctx.close: the reason must be a string, got a number"),
    ("ctx.hold(1)", "ctx.hold: the reason must be a string, got a number"),
    ("ctx.position(1)", "ctx.position needs a symbol string, got a number"),
]


@pytest.mark.parametrize(("call", "message"), ORDER_ERRORS, ids=[row[0] for row in ORDER_ERRORS])
def test_invalid_order_is_a_runtime_error(call: str, message: str) -> None:
    error = run_error(f"fn run(ctx) {{ {call}; }}")
    assert error.kind == "runtime"
    assert error.message == message


def test_log_shows_values_like_str() -> None:
    result = run('fn run(ctx) { ctx.log(3); ctx.log(0.5); ctx.log("text"); ctx.log([1, "a"]); ctx.log(#{a: null}); }')
    assert result.logs == ["3", "0.5", "text", '[1, "a"]', "#{a: null}"]


# ---- params, state and trigger ---------------------------------------------------------------------


def test_params_and_state_arrive_as_language_values() -> None:
    result = run(
        "fn run(ctx) { ctx.state.types = [ctx.params.n + 1, ctx.params.flag, ctx.params.items.len()]; }",
        params={"n": 1, "flag": True, "items": (1, 2)},
    )
    assert result.state["types"] == [2.0, True, 2.0]


def test_state_is_written_back_only_on_success() -> None:
    good = run('fn run(ctx) { ctx.state.count = ctx.state.get("count", 0) + 1; }', state={"count": 1})
    assert good.state == {"count": 2.0}
    bad = run("fn run(ctx) { ctx.state.count = 5; ctx.state.zzz; }", state={"count": 1})
    assert bad.status == "error"
    assert bad.state == {"count": 1}


def test_the_callers_params_and_state_are_never_mutated() -> None:
    params, state = {"list": [1]}, {"list": [1]}
    run("fn run(ctx) { ctx.params.list.push(2); ctx.state.list.push(2); }", params=params, state=state)
    assert params == {"list": [1]}
    assert state == {"list": [1]}


def test_state_can_only_hold_json_values() -> None:
    assert run_error("fn run(ctx) { ctx.state.me = ctx; }").message == (
        "ctx.state can only hold numbers, strings, bools, null, arrays and maps, not ctx"
    )
    assert run_error("fn run(ctx) { ctx.state.x = 1e308 * 10; }").message == "ctx.state can only hold finite numbers"


def test_state_comes_back_as_plain_json_data() -> None:
    import json

    result = run('fn run(ctx) { ctx.state.v = [1, "a", true, null, #{k: 2.5}]; }')
    assert json.loads(json.dumps(result.state)) == {"v": [1.0, "a", True, None, {"k": 2.5}]}


def test_bad_params_are_an_error_result_not_an_exception() -> None:
    result = run("fn run(ctx) { }", params={"x": object()})
    assert result.status == "error"
    assert result.error is not None and "params" in result.error.message
    nan = run("fn run(ctx) { }", state={"x": math.nan})
    assert nan.status == "error"


def test_missing_params_state_and_trigger_default_to_empty_maps() -> None:
    from shared.lang import compile_program

    program = compile_program(
        "fn run(ctx) { ctx.log([ctx.params, ctx.state, ctx.trigger.type, ctx.balance]); }"
    ).program
    assert program is not None
    assert program.run(FakeView()).logs == ['[#{}, #{}, "manual", 10000]']


class _Ambiguous:
    """Like a numpy array: has no single truth value."""

    def __bool__(self) -> bool:
        raise ValueError("ambiguous")


HOST_FAULTS = [
    ('ctx.market("ETH", 4)', FakeView(), None, 'ctx.market needs a timeframe string like "4h", got a number'),
    ("ctx.macd()", FakeView(indicators={"macd": 1.5}), None, "indicator `macd` returned float, not a map"),
    (
        "ctx.volume_spike()",
        FakeView(indicators={"volume_spike": _Ambiguous()}),
        None,
        "indicator `volume_spike` did not return a bool",
    ),
    ("ctx.rsi()", FakeView(indicators={"rsi": "high"}), None, "indicator `rsi` is not a number"),
    ("ctx.price", FakeView(price=None), None, "the price of BTC is not available"),  # type: ignore[arg-type]
    ("ctx.balance", FakeView(), AccountSnapshot(balance="lots"), "the account balance is not a number"),  # type: ignore[arg-type]
    ("ctx.equity", FakeView(), AccountSnapshot(equity=None), "the account equity is not available"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("expression", "view", "account", "message"), HOST_FAULTS, ids=[row[3] for row in HOST_FAULTS])
def test_unusable_host_data_is_a_runtime_error(
    expression: str, view: FakeView, account: AccountSnapshot | None, message: str
) -> None:
    assert run_error(f"fn run(ctx) {{ ctx.log({expression}); }}", view=view, account=account).message == message


def test_host_numbers_of_other_numeric_types_are_accepted() -> None:
    result = run(
        "fn run(ctx) { ctx.log([ctx.price, ctx.balance, ctx.equity]); }",
        view=FakeView(price=7),
        account=AccountSnapshot(balance=3, equity=4),
    )  # type: ignore[arg-type]
    assert result.logs == ["[7, 3, 4]"]


def test_reassigning_run_parameter_makes_member_access_checked_at_run_time() -> None:
    result = run("fn run(ctx) { let keep = ctx; ctx = #{price: 5}; ctx.price = 6; keep.log(ctx.price); }")
    assert result.logs == ["6"]
    assert run_error("fn run(ctx) { ctx = 1; ctx.log(1); }").message == "a number has no method `log`"
