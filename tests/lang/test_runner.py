"""Runs over time: a runner per backtest, one `run()` per bar, and results the services can store."""

from __future__ import annotations

import msgspec

from shared.lang import (
    AccountSnapshot,
    RunLimits,
    RunResult,
    compile_program,
    format_value,
)
from tests.lang.support import FakeView

COUNTER = """
fn run(ctx) {
    let n = ctx.state.get("n", 0) + 1;
    ctx.state.n = n;
    ctx.log(n);
    if ctx.price > 100 { ctx.buy(ctx.symbol, 1, "up"); }
    if n == ctx.params.get("fail_at", -1) { ctx.state.n = 999; ctx.state.missing_key_read = ctx.state.nope; }
}
"""


def program(source: str = COUNTER):  # type: ignore[no-untyped-def]
    result = compile_program(source)
    assert result.ok, result.errors
    return result.program


def test_state_persists_from_bar_to_bar_in_a_runner() -> None:
    view = FakeView(price=100.0)
    runner = program().runner(view, AccountSnapshot(), params={}, state={"n": 10}, limits=RunLimits.backtest())
    results = []
    for price in (99.0, 101.0, 102.0):
        view.price = price
        results.append(runner.run())
    assert [r.logs for r in results] == [["11"], ["12"], ["13"]]
    assert [r.decision["action"] for r in results] == ["hold", "buy", "buy"]
    assert runner.state == {"n": 13.0}


def test_a_failed_bar_leaves_the_state_of_the_last_good_bar() -> None:
    runner = program().runner(FakeView(), params={"fail_at": 2})
    assert runner.run().status == "ok"
    failed = runner.run()
    assert failed.status == "error"
    assert failed.error is not None and failed.error.message.startswith("map has no key `nope`")
    assert runner.state == {"n": 1.0}
    assert failed.state == {"n": 1.0}
    assert runner.run().logs == ["2"]


def test_each_run_starts_with_fresh_orders_logs_steps_params_and_constants() -> None:
    source = """
    const SEEN = [];
    fn run(ctx) {
        SEEN.push(1);
        ctx.params.list.push(1);
        ctx.log([SEEN.len(), ctx.params.list.len()]);
        for i in 0..10 { }
        ctx.sell("BTC", 1);
    }
    """
    runner = program(source).runner(FakeView(), params={"list": []})
    first, second = runner.run(), runner.run()
    assert first.logs == second.logs == ["[1, 1]"]
    assert len(first.orders) == len(second.orders) == 1
    assert first.steps == second.steps == 11


def test_runners_of_one_program_are_independent() -> None:
    compiled = program()
    one = compiled.runner(FakeView(), state={"n": 0})
    two = compiled.runner(FakeView(), state={"n": 100})
    assert one.run().logs == ["1"]
    assert two.run().logs == ["101"]
    assert one.run().logs == ["2"]
    assert compiled.run(FakeView(), state={"n": 5}).logs == ["6"]


def test_a_runner_sees_the_view_move_on() -> None:
    view = FakeView(indicators={"sma": 1.0})
    runner = program("fn run(ctx) { ctx.log([ctx.timestamp, ctx.sma(5)]); }").runner(view)
    logs = []
    for step in range(3):
        view.timestamp = 1_000 * step
        view.indicators = {"sma": float(step)}
        logs += runner.run().logs
    assert logs == ["[0, 0]", "[1000, 1]", "[2000, 2]"]


def test_run_result_encodes_as_json() -> None:
    result = program().run(FakeView(price=150.0), AccountSnapshot(), {}, {}, {"type": "manual"}, RunLimits())
    encoded = msgspec.json.decode(msgspec.json.encode(result))
    assert encoded["status"] == "ok"
    assert encoded["decision"] == {"action": "buy", "symbol": "BTC", "quantity": 1.0, "reason": "up"}
    assert encoded["state"] == {"n": 1.0}
    assert encoded["error"] is None
    assert set(encoded) == {"status", "decision", "orders", "logs", "steps", "duration_ms", "error", "state"}
    failed = program("fn run(ctx) { 1 / 0; }").run(FakeView())
    assert msgspec.json.decode(msgspec.json.encode(failed))["error"] == {
        "kind": "runtime", "message": "division by zero", "line": 1, "column": 17,
    }  # fmt: skip
    assert isinstance(result, RunResult)
    assert result.duration_ms >= 0.0


def test_format_value_is_how_programs_print() -> None:
    assert format_value(3.0) == "3"
    assert format_value([1.0, "a", None, True]) == '[1, "a", null, true]'
    assert format_value({"a": 0.5, "b c": {}}) == '#{a: 0.5, "b c": #{}}'


def test_compile_once_run_many_times() -> None:
    compiled = program("fn run(ctx) { ctx.log(ctx.price * 2); }")
    assert [compiled.run(FakeView(price=p)).logs[0] for p in (1.0, 2.5, 10.0)] == ["2", "5", "20"]
