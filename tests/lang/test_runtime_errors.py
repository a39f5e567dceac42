"""Errors a running program hits stop it with a clear message at the right line and column."""

from __future__ import annotations

import pytest

from tests.lang.support import FakeView, run_error

# Each row: a run body (the untyped value `x` comes through a function, so the check happens at run
# time), the expected message start, and the (line, column) of the failing operation, counted in the
# full source `fn id(v) { v }\nfn run(ctx) {\n<body>\n}`: the body is on line 3.
ERRORS = [
    ('let x = id("a"); x - 1;', "`-` needs two numbers, got a string and a number", 20),
    ('let x = id("a"); x * 1;', "`*` needs two numbers, got a string and a number", 20),
    ("let x = id(null); 2 / x;", "`/` needs two numbers, got a number and null — check for null first", 21),
    ('let x = id("a"); x + 1;', "`+` needs two numbers or two strings, got a string and a number — convert", 20),
    ("let x = id([1]); x + x;", "`+` needs two numbers or two strings, got an array and an array", 20),
    ('let x = id(1); x < "a";', "`<` needs two numbers or two strings, got a number and a string", 18),
    ("let x = id(null); x >= 1;", "`>=` needs two numbers or two strings, got null and a number — check for null", 21),
    ('let x = id("a"); -x;', "`-` needs a number, got a string", 18),
    ("let x = id(1); !x;", "`!` needs true or false, got a number", 16),
    ("let x = id(1); x && true;", "`&&` needs true or false on both sides, got a number", 16),
    ("let x = id(null); false || x;", "`||` needs true or false on both sides, got null", 28),
    ("let x = id(1); if x { }", "a condition must be true or false, got a number", 19),
    ("let x = id(null); while x { }", "a condition must be true or false, got null — check for null first", 25),
    ("let x = id(0); let y = if x { 1 } else { 2 };", "a condition must be true or false, got a number", 27),
    ("let x = id(0); 1 / x;", "division by zero", 18),
    ("let x = id(0); 1 % x;", "division by zero", 18),
    ("let x = id(0); x ** -1;", "division by zero (0 raised to a negative power)", 18),
    ("let x = id(10); x ** 400;", "number too large", 19),
    ("let x = id(-8); x ** 0.5;", "a negative number cannot be raised to a fractional power", 19),
    ("let a = id([1, 2]); a[2];", "index 2 is out of range for an array of length 2", 22),
    ("let a = id([1, 2]); a[-3];", "index -3 is out of range for an array of length 2", 22),
    ("let a = id([1, 2]); a[0.5];", "an index must be a whole number, got 0.5", 22),
    ('let a = id([1, 2]); a["0"];', "an index must be a number, got a string", 22),
    ("let a = id([]); a[0] = 1;", "index 0 is out of range for an array of length 0", 18),
    ('let s = id("ab"); s[5];', "index 5 is out of range for a string of length 2", 20),
    ('let s = id("ab"); s[0] = "x";', "strings cannot be changed", 20),
    ("let n = id(5); n[0];", "cannot index a number with `[...]`", 17),
    ("let m = id(#{last_fill: 1}); m.lastfill;", "map has no key `lastfill` — did you mean `last_fill`?", 32),
    ('let m = id(#{a: 1}); m["b"];', "map has no key `b`", 23),
    ("let m = id(#{a: 1}); m[1];", "map keys are strings, got a number", 23),
    ("let m = id(#{}); m[1] = 2;", "a map key needs a string, got a number", 19),
    ("let n = id(5); n.foo;", "cannot read field `foo` of a number", 18),
    ("let n = id(5); n.foo = 1;", "cannot set field `foo` of a number", 18),
    ("let n = id(5); n[0] = 1;", "cannot assign into a number with `[...]`", 17),
    ("let c = id(ctx); c.nope;", "unknown ctx member `nope`", 20),
    ("let c = id(ctx); c.pricee;", "unknown ctx member `pricee` — did you mean `price`?", 20),
    ("let c = id(ctx); c.rsi;", "`ctx.rsi` is a method — call it", 20),
    ("let c = id(ctx); c.price = 1;", "cannot change `ctx.price`; it is read-only", 20),
    ("let c = id(ctx); c.state = 1;", "cannot change `ctx.state`; it is read-only", 20),
    ('let m = id(ctx.market("ETH")); m.buy("ETH", 1);', "unknown market member `buy`", 34),
    ("let x = id(5); for i in x { }", "cannot loop over a number; loop over a range", 16),
    ('let x = id("abc"); for i in x { }', "cannot loop over a string", 20),
    ("let x = id(0.5); for i in 0..x { }", "the end of a range must be a whole number, got 0.5", 28),
    ('let x = id("a"); for i in x..3 { }', "a range needs two numbers, got a string and a number", 28),
    ("let x = id(1.5); let r = 0..x;", "the end of a range must be a whole number, got 1.5", 27),
]


@pytest.mark.parametrize(("body", "message", "column"), ERRORS, ids=[row[0] for row in ERRORS])
def test_runtime_error_message_and_position(body: str, message: str, column: int) -> None:
    view = FakeView(markets={("ETH", None): FakeView(symbol="ETH")})
    error = run_error(f"fn id(v) {{ v }}\nfn run(ctx) {{\n{body}\n}}", view=view)
    assert error.kind == "runtime"
    assert error.message.startswith(message), error.message
    assert (error.line, error.column) == (3, column)


def test_error_inside_a_called_function_points_into_that_function() -> None:
    source = "fn inner(x) {\n    x / 0\n}\nfn run(ctx) {\n    inner(1);\n}"
    error = run_error(source)
    assert (error.line, error.column, error.message) == (2, 7, "division by zero")


def test_error_in_a_nested_expression_points_at_the_failing_operator() -> None:
    source = 'fn id(v) { v }\nfn run(ctx) {\n    let total = 1 + 2 * (3 - id("x"));\n}'
    error = run_error(source)
    assert (error.line, error.column) == (3, 28)


def test_error_inside_a_hoisted_if_expression_points_into_its_block() -> None:
    source = (
        "fn id(v) { v }\nfn run(ctx) {\n  let y = 1 + (if true {\n    let z = id(null);\n    z + 1\n  } else { 0 });\n}"
    )
    error = run_error(source)
    assert (error.line, error.column) == (5, 7)


def test_a_run_that_fails_keeps_the_state_it_started_with_and_places_no_order() -> None:
    from tests.lang.support import run

    result = run('fn run(ctx) { ctx.state.n = 5; ctx.buy("BTC", 1); ctx.log("before"); 1 / 0; }', state={"n": 1})
    assert result.status == "error"
    assert result.state == {"n": 1}
    assert result.orders == []
    assert result.logs == ["before"]
    assert result.decision["action"] == "hold"
    assert result.decision["reason"].startswith("run failed: division by zero")
