"""What every construct computes: one row per expression or snippet, with the expected value."""

from __future__ import annotations

import pytest

from tests.lang.support import evaluate, run, shown

VALUES = [
    # literals
    ("42", 42.0),
    ("3.5", 3.5),
    ("1e-3", 0.001),
    ("2E3", 2000.0),
    ('"text"', "text"),
    ('"a\\nb\\t\\"q\\" \\\\"', 'a\nb\t"q" \\'),
    ('"héllo ✓"', "héllo ✓"),
    ("true", True),
    ("false", False),
    ("null", None),
    ('[1, "a", null]', [1.0, "a", None]),
    ("[1, 2,]", [1.0, 2.0]),
    ("[]", []),
    ('#{a: 1, "other key": [2]}', {"a": 1.0, "other key": [2.0]}),
    ("#{}", {}),
    # arithmetic and precedence
    ("1 + 2 * 3", 7.0),
    ("(1 + 2) * 3", 9.0),
    ("10 - 4 - 3", 3.0),
    ("2 ** 3 ** 2", 512.0),
    ("-2 ** 2", -4.0),
    ("2 ** -1", 0.5),
    ("7 / 2", 3.5),
    ("7 % 3", 1.0),
    ("-7 % 3", 2.0),
    ("7 % -3", -2.0),
    ("5.5 % 2", 1.5),
    ("-(3)", -3.0),
    ("- -3", 3.0),
    ("0.1 + 0.2", 0.30000000000000004),
    ('"ab" + "cd"', "abcd"),
    # comparison and equality never convert types
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 4", False),
    ("4 >= 5", False),
    ('"apple" < "banana"', True),
    ('"b" >= "a"', True),
    ("1 == 1", True),
    ("1 == true", False),
    ("0 == false", False),
    ('"1" == 1', False),
    ("null == false", False),
    ("null == null", True),
    ("1 != 2", True),
    ("[1, [2, 3]] == [1, [2, 3]]", True),
    ("[1] == [true]", False),
    ("[1, 2] == [2, 1]", False),
    ("#{a: 1, b: 2} == #{b: 2, a: 1}", True),
    ("#{a: 1} == #{a: 2}", False),
    ("#{a: 1} != #{a: 1, b: 1}", True),
    ("ctx == ctx", True),
    ("ctx == null", False),
    # logic
    ("true && false", False),
    ("true || false", True),
    ("!true", False),
    ("!(1 > 2)", True),
    ("false && (1 / 0 > 0)", False),
    ("true || (1 / 0 > 0)", True),
    ("1 < 2 && 2 < 3", True),
    ("false || false || true", True),
    # ranges outside `for` are arrays
    ("0..3", [0.0, 1.0, 2.0]),
    ("1..=3", [1.0, 2.0, 3.0]),
    ("3..1", []),
    ("-2..0", [-2.0, -1.0]),
    # if-expressions
    ('if 1 > 2 { "a" } else { "b" }', "b"),
    ("if false { 1 }", None),
    ("if false { 1 } else if true { 2 } else { 3 }", 2.0),
    ("if true { let x = 2; x * 10 } else { 0 }", 20.0),
    ("if true { }", None),
    # indexing and fields
    ("[10, 20, 30][0]", 10.0),
    ("[10, 20, 30][-1]", 30.0),
    ("[10, 20, 30][-3]", 10.0),
    ('#{a: 5}["a"]', 5.0),
    ("#{a: #{b: 7}}.a.b", 7.0),
    ('"hello"[1]', "e"),
    ('"hello"[-1]', "o"),
]


@pytest.mark.parametrize(("expression", "expected"), VALUES, ids=[row[0] for row in VALUES])
def test_expression_evaluates_to(expression: str, expected: object) -> None:
    value = evaluate(expression)
    assert value == expected
    assert type(value) is type(expected)


PRINTED = [
    ("3", "3"),
    ("-0", "0"),
    ("3.25", "3.25"),
    ("1e21", "1e+21"),
    ("1e20", "100000000000000000000"),
    ("0.1", "0.1"),
    ("1 / 3", "0.3333333333333333"),
    ('"plain"', "plain"),
    ("true", "true"),
    ("null", "null"),
    ('[1, "a", null, [true]]', '[1, "a", null, [true]]'),
    ('#{a: 1, "b c": "x", d: #{}}', '#{a: 1, "b c": "x", d: #{}}'),
    ('#{"if": 1}', '#{"if": 1}'),
    ('["q\\"uote"]', '["q\\"uote"]'),
    ("ctx", "<ctx>"),
    ("1e308 * 10", "inf"),
]


@pytest.mark.parametrize(("expression", "text"), PRINTED, ids=[row[0] for row in PRINTED])
def test_values_print_like(expression: str, text: str) -> None:
    assert shown(expression) == text
    assert shown(f"str({expression})") == text


STATEMENTS = [
    ("let x = 1; x = x + 1; x", 2.0),
    ("let x = 1; x += 2; x", 3.0),
    ("let x = 10; x -= 2; x", 8.0),
    ("let x = 3; x *= 4; x", 12.0),
    ("let x = 3; x /= 4; x", 0.75),
    ('let s = "a"; s += "b"; s', "ab"),
    ("let a = [1, 2]; a[0] = 9; a", [9.0, 2.0]),
    ("let a = [1, 2]; a[-1] += 5; a", [1.0, 7.0]),
    ("let m = #{}; m.k = 1; m", {"k": 1.0}),
    ('let m = #{}; m["k k"] = 1; m', {"k k": 1.0}),
    ("let m = #{k: 1}; m.k += 1; m.k", 2.0),
    ("let m = #{a: #{b: [0]}}; m.a.b[0] = 5; m", {"a": {"b": [5.0]}}),
    ("let x = 1; if true { let x = 2; x = 3; } x", 1.0),
    ("let x = 1; let x = x + 1; x", 2.0),
    ("let s = 0; for i in 0..5 { s += i; } s", 10.0),
    ("let s = 0; for i in 0..=5 { s += i; } s", 15.0),
    ("let s = 0; for i in 5..0 { s += 1; } s", 0.0),
    ("let n = 3; let s = 0; for i in 0..n * 2 { s += 1; } s", 6.0),
    ("let s = []; for x in [3, 4] { s.push(x * 2); } s", [6.0, 8.0]),
    ("let s = []; for k in #{b: 1, a: 2} { s.push(k); } s", ["b", "a"]),
    ("let a = [1, 2]; for x in a { a.push(x); } a", [1.0, 2.0, 1.0, 2.0]),
    ("let m = #{a: 1}; for k in m { m.remove(k); m.z = 1; } m", {"z": 1.0}),
    ("let i = 0; while i < 10 { i += 1; } i", 10.0),
    ("let i = 0; while true { i += 1; if i == 4 { break; } } i", 4.0),
    ("let s = 0; for i in 0..10 { if i % 2 == 1 { continue; } s += i; } s", 20.0),
    ("let s = 0; for i in 0..3 { for j in 0..3 { if j > i { break; } s += 1; } } s", 6.0),
    ("let i = 0; let n = 0; while i < 5 { i += 1; if i == 2 { continue; } n += 1; } n", 4.0),
    ("let x = if true { 1 } else { 2 }; x", 1.0),
    ("let t = 0; if t == 0 { t = 5 } t", 5.0),
    ("let v = 1; let r = v + (if v > 0 { v = 10; 5 } else { 0 }); [r, v]", [6.0, 10.0]),
    ("let i = 0; while (if i < 3 { let j = i; j < 3 } else { false }) { i += 1; } i", 3.0),
    ("let hits = 0; let ok = false && (if true { hits += 1; true } else { false }); [ok, hits]", [False, 0.0]),
    ("let hits = 0; let ok = true || (if true { hits += 1; true } else { false }); [ok, hits]", [True, 0.0]),
    ("let hits = 0; let ok = true && (if true { hits += 1; true } else { false }); [ok, hits]", [True, 1.0]),
]


@pytest.mark.parametrize(("body", "expected"), STATEMENTS, ids=[row[0] for row in STATEMENTS])
def test_statements_leave_value(body: str, expected: object) -> None:
    """`body` is statements followed by one final expression (after the last `;` or `}`)."""
    cut = max(body.rfind(";"), body.rfind("}")) + 1
    result = run(f"fn run(ctx) {{ {body[:cut]} ctx.state.value = {body[cut:].strip()}; }}")
    assert result.status == "ok", result.error
    assert result.state["value"] == expected


FUNCTIONS = [
    ("fn double(x) { x * 2 } fn run(ctx) { ctx.state.value = double(21); }", 42.0),
    ("fn f(x) { return x + 1; } fn run(ctx) { ctx.state.value = f(1); }", 2.0),
    ("fn f(x) { if x > 0 { return 1; } -1 } fn run(ctx) { ctx.state.value = [f(5), f(-5)]; }", [1.0, -1.0]),
    ("fn f() { } fn run(ctx) { ctx.state.value = f(); }", None),
    ("fn f() { return; } fn run(ctx) { ctx.state.value = f(); }", None),
    ("fn f() { let x = 1; } fn run(ctx) { ctx.state.value = f(); }", None),
    ("fn f(x) { if x { 1 } else { 2 } } fn run(ctx) { ctx.state.value = f(false); }", 2.0),
    ("fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } fn run(ctx) { ctx.state.value = fib(15); }", 610.0),
    (
        (
            "fn even(n) { if n == 0 { true } else { odd(n - 1) } } fn odd(n) { if n == 0 { false } else { even(n - 1) } }"
            " fn run(ctx) { ctx.state.value = odd(7); }"
        ),
        True,
    ),
    ("fn add(a) { a.push(1); } fn run(ctx) { let xs = []; add(xs); add(xs); ctx.state.value = xs; }", [1.0, 1.0]),
    ("fn f(x) { x = x + 1; x } fn run(ctx) { let y = 1; ctx.state.value = [f(y), y]; }", [2.0, 1.0]),
    ("fn price(c) { c.price } fn run(ctx) { ctx.state.value = price(ctx); }", 100.0),
    (
        (
            "fn loop_sum(n) { let s = 0; for i in 0..n { if i == 3 { return s; } s += i; } s }"
            " fn run(ctx) { ctx.state.value = [loop_sum(2), loop_sum(10)]; }"
        ),
        [1.0, 3.0],
    ),
    (
        (
            'const LIMIT = 3; const NAMES = ["a", "b"]; const BOTH = #{n: LIMIT * 2, first: NAMES[0]};'
            " fn run(ctx) { ctx.state.value = [LIMIT, NAMES, BOTH]; }"
        ),
        [3.0, ["a", "b"], {"n": 6.0, "first": "a"}],
    ),
    ("const BIG = if 2 > 1 { let x = 5; x * x } else { 0 }; fn run(ctx) { ctx.state.value = BIG; }", 25.0),
    ("const A = [1]; fn run(ctx) { A.push(2); ctx.state.value = A; }", [1.0, 2.0]),
    ("fn run(ctx) { ctx.state.value = 5 } fn later() { 1 }", 5.0),
]


@pytest.mark.parametrize(("source", "expected"), FUNCTIONS, ids=[row[0][:60] for row in FUNCTIONS])
def test_functions_and_constants(source: str, expected: object) -> None:
    result = run(source)
    assert result.status == "ok", result.error
    assert result.state["value"] == expected


def test_constant_collections_are_fresh_in_every_run() -> None:
    from shared.lang import compile_program
    from tests.lang.support import FakeView

    program = compile_program("const A = [1]; fn run(ctx) { A.push(2); ctx.log(A); }").program
    assert program is not None
    runner = program.runner(FakeView())
    assert runner.run().logs == ["[1, 2]"]
    assert runner.run().logs == ["[1, 2]"]


def test_comments_are_ignored() -> None:
    source = """
    // a line comment
    fn run(ctx) { /* a block
    comment */ ctx.log(1 /* inline */ + 1); // trailing
    }
    """
    assert run(source).logs == ["2"]


def test_semicolon_after_final_expression_may_be_omitted() -> None:
    assert run('fn run(ctx) { ctx.buy("BTC", 0.01) }').decision["action"] == "buy"
    assert run("fn run(ctx) { let x = 1; ctx.log(x) }").logs == ["1"]
    assert run("fn run(ctx) { let x = 1; x = 2 }").status == "ok"


def test_same_program_same_inputs_same_result() -> None:
    source = """
    fn run(ctx) {
        let m = #{};
        for i in 0..50 { m["k" + str(i % 7)] = i * 1.1; }
        ctx.log(m);
        ctx.log(m.keys());
        ctx.buy("BTC", m.values().sum() / 1000);
    }
    """
    first, second = run(source), run(source)
    assert first.logs == second.logs
    assert first.decision == second.decision


ORDER_OF_EVALUATION = [
    ("let x = 1; x += (if true { x = 10; 5 } else { 0 }); x", 6.0),
    ("let a = [1, 2]; let i = 0; a[i] += (if true { i = 1; 5 } else { 0 }); a", [6.0, 2.0]),
    (
        "let m = #{k: 1}; let n = m; m.k += (if true { m = #{k: 100}; 5 } else { 0 }); [n, m]",
        [{"k": 6.0}, {"k": 100.0}],
    ),
    ("let log = []; let r = [log.push(1), (if true { log.push(2); 0 } else { 0 }), log.push(3)]; log", [1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize(("body", "expected"), ORDER_OF_EVALUATION, ids=[row[0] for row in ORDER_OF_EVALUATION])
def test_evaluation_is_left_to_right_even_around_hoisted_blocks(body: str, expected: object) -> None:
    test_statements_leave_value(body, expected)
