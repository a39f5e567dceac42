"""Every builtin function and every method of arrays, maps and strings: results and errors."""

from __future__ import annotations

import math

import pytest

from tests.lang.support import error_in, evaluate

RESULTS = [
    ("abs(-3.5)", 3.5),
    ("abs(2)", 2.0),
    ("min(3, 1, 2)", 1.0),
    ("max(3, 1, 2)", 3.0),
    ("min([4, -1, 9])", -1.0),
    ("max([4, -1, 9])", 9.0),
    ("min([])", None),
    ("max([])", None),
    ("round(2.5)", 3.0),
    ("round(-2.5)", -3.0),
    ("round(2.4)", 2.0),
    ("round(1.005, 2)", 1.01),
    ("round(1234.5678, 1)", 1234.6),
    ("round(1234.5678, -2)", 1200.0),
    ("round(1e300, 2)", 1e300),
    ("floor(2.7)", 2.0),
    ("floor(-2.2)", -3.0),
    ("ceil(2.1)", 3.0),
    ("ceil(-2.7)", -2.0),
    ("sqrt(16)", 4.0),
    ("pow(2, 10)", 1024.0),
    ("pow(4, 0.5)", 2.0),
    ("log(1)", 0.0),
    ("log(8, 2)", 3.0),
    ("exp(0)", 1.0),
    ("clamp(5, 0, 3)", 3.0),
    ("clamp(-5, 0, 3)", 0.0),
    ("clamp(2, 0, 3)", 2.0),
    ("len([1, 2, 3])", 3.0),
    ("len(#{a: 1})", 1.0),
    ('len("héllo")', 5.0),
    ("str(12)", "12"),
    ("str(1.5)", "1.5"),
    ("str(true)", "true"),
    ("str(null)", "null"),
    ('str("x")', "x"),
    ("str([1, 2])", "[1, 2]"),
    ('num("12.5")', 12.5),
    ('num(" -3e2 ")', -300.0),
    ('num("abc")', None),
    ('num("inf")', None),
    ('num("1e999")', None),
    ('num("")', None),
    ("num(7)", 7.0),
    ("num(true)", 1.0),
    ("num(null)", None),
    ("is_null(null)", True),
    ("is_null(0)", False),
    # arrays
    ("[1, 2, 3].len()", 3.0),
    ("[1, 2].contains(2)", True),
    ("[1, 2].contains(3)", False),
    ("[1, 2].contains(true)", False),
    ("[true].contains(1)", False),
    ('["a", null].contains(null)', True),
    ("[[1], [2]].contains([2])", True),
    ("[#{a: 1}].contains(#{a: 1})", True),
    ("[1, 2, 3, 4].slice(1, 3)", [2.0, 3.0]),
    ("[1, 2, 3, 4].slice(2)", [3.0, 4.0]),
    ("[1, 2, 3, 4].slice(-2)", [3.0, 4.0]),
    ("[1, 2, 3, 4].slice(1, -1)", [2.0, 3.0]),
    ("[1, 2, 3].slice(5, 9)", []),
    ("[1, 2, 3].sum()", 6.0),
    ("[].sum()", 0.0),
    ("[0.1, 0.2, 0.3].sum()", 0.6),
    ("[3, 1, 2].min()", 1.0),
    ("[3, 1, 2].max()", 3.0),
    ("[1, 2, 3, 4].avg()", 2.5),
    ("[].min()", None),
    ("[].max()", None),
    ("[].avg()", None),
    # maps
    ("#{a: 1, b: 2}.len()", 2.0),
    ("#{b: 1, a: 2}.keys()", ["b", "a"]),
    ("#{b: 1, a: 2}.values()", [1.0, 2.0]),
    ('#{a: 1}.contains("a")', True),
    ('#{a: 1}.contains("b")', False),
    ('#{a: 1}.get("a", 5)', 1.0),
    ('#{a: 1}.get("b", 5)', 5.0),
    ('#{a: 1}.get("b")', None),
    ('#{a: null}.get("a", 5)', None),
    # strings
    ('"abc".len()', 3.0),
    ('"abc".upper()', "ABC"),
    ('"ABC".lower()', "abc"),
    ('"hello".contains("ell")', True),
    ('"hello".contains("xyz")', False),
    ('"hello".starts_with("he")', True),
    ('"hello".starts_with("lo")', False),
    ('"a,b,,c".split(",")', ["a", "b", "", "c"]),
    ('"abc".split("-")', ["abc"]),
]


@pytest.mark.parametrize(("expression", "expected"), RESULTS, ids=[row[0] for row in RESULTS])
def test_builtin_gives(expression: str, expected: object) -> None:
    value = evaluate(expression)
    if isinstance(expected, float):
        assert type(value) is float
        assert math.isclose(value, expected, rel_tol=1e-12)
    else:
        assert value == expected


def test_array_mutating_methods() -> None:
    assert evaluate("a", "let a = [1]; a.push(2); a.push([3]);") == [1.0, 2.0, [3.0]]
    assert evaluate("[a.pop(), a]", "let a = [1, 2];") == [2.0, [1.0]]
    assert evaluate("[].pop()") is None


def test_map_remove_returns_the_removed_value() -> None:
    assert evaluate('[m.remove("a"), m.remove("zz"), m]', "let m = #{a: 1, b: 2};") == [1.0, None, {"b": 2.0}]


def test_methods_work_on_values_of_unknown_type() -> None:
    from tests.lang.support import run

    result = run(
        'fn id(x) { x } fn run(ctx) { ctx.log([id([1, 2]).len(), id("abc").upper(), id(#{a: 1}).get("a", 0)]); }'
    )
    assert result.logs == ['[2, "ABC", 1]']


ERRORS = [
    ('abs("x")', "abs needs a number, got a string"),
    ('min(1, "a")', "`min` needs numbers, found a string"),
    ("min(1)", "`min` needs two or more numbers, or one array"),
    ('max(["a"])', "`max` needs numbers, found a string"),
    ("round(1.5, 0.5)", "the digits of round must be a whole number, got 0.5"),
    ("round(1, 99)", "round keeps between -15 and 15 digits"),
    ("sqrt(-1)", "sqrt of a negative number (-1)"),
    ("log(0)", "log needs a positive number, got 0"),
    ("log(8, 1)", "the base of log must be positive and not 1, got 1"),
    ("exp(1000)", "number too large (the result of exp overflows)"),
    ("pow(-8, 0.5)", "a negative number cannot be raised to a fractional power"),
    ("pow(0, -1)", "division by zero (0 raised to a negative power)"),
    ("pow(10, 400)", "number too large (the result of `**` overflows)"),
    ("clamp(1, 5, 0)", "clamp: the low bound 5 is above the high bound 0"),
    ("len(5)", "len needs an array, a map or a string, got a number"),
    ("num([1])", "num needs a string, a number or a bool, got an array"),
    ('[1, "a"].sum()', "sum needs numbers, found a string"),
    ("[null].avg()", "avg needs numbers, found null"),
    ("[1].slice(0.5)", "the start of slice must be a whole number, got 0.5"),
    ('[1].slice("a")', "the start of slice must be a number, got a string"),
    ("#{a: 1}.get(1)", "get on a map needs a string, got a number"),
    ("#{a: 1}.contains(1)", "contains on a map needs a string, got a number"),
    ('"abc".split("")', "split needs a non-empty separator"),
    ('"abc".contains(1)', "contains on a string needs a string, got a number"),
]


@pytest.mark.parametrize(("expression", "message"), ERRORS, ids=[row[0] for row in ERRORS])
def test_builtin_error_says(expression: str, message: str) -> None:
    assert error_in(expression).startswith(message)


DYNAMIC_ERRORS = [
    ("x.len()", "5", "a number has no method `len`"),
    ("x.push(1)", '"s"', "a string has no method `push`"),
    ("x.slice(1)", '"abc"', "a string has no method `slice`"),
    ('x.get("a")', "[1]", "an array has no method `get`"),
    ("x.len()", "null", "null has no method `len` — check for null first"),
    ("x.keys()", "[1]", "an array has no method `keys`"),
]


@pytest.mark.parametrize(
    ("call", "value", "message"), DYNAMIC_ERRORS, ids=[row[0] + " on " + row[1] for row in DYNAMIC_ERRORS]
)
def test_method_on_wrong_type_at_run_time_says(call: str, value: str, message: str) -> None:
    from tests.lang.support import run_error

    source = f"fn id(v) {{ v }} fn run(ctx) {{ let x = id({value}); ctx.log({call}); }}"
    assert run_error(source).message.startswith(message)
