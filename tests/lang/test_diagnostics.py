"""Compile errors and warnings: what each says and where, and that all of them are reported."""

from __future__ import annotations

import msgspec
import pytest

from shared.lang import Diagnostic, compile_program
from tests.lang.support import compile_errors, compile_warnings

# (source, line, column, message start). Sources are one line unless they say otherwise.
ERRORS = [
    # lexical
    ("fn run(ctx) { let x = 1 @ 2; }", 1, 25, "unexpected character `@`"),
    ('fn run(ctx) { let s = "abc; }', 1, 23, 'unterminated text — add a closing `"`'),
    ('fn run(ctx) { let s = "a\\qb"; }', 1, 25, "unknown escape `\\q` in text"),
    ("fn run(ctx) { } /* never closed", 1, 17, "unterminated comment — add `*/`"),
    ("fn run(ctx) { let x = 1e999; }", 1, 23, "number `1e999` is too large"),
    ("fn run(ctx) { let x = 12abc; }", 1, 23, "invalid number `12abc`"),
    ("fn run(ctx) { let x = # 1; }", 1, 23, "unexpected character `#`"),
    # syntax
    ("fn run(ctx) { let x = 1 let y = 2; }", 1, 24, "missing `;` (found `let` next)"),
    ("fn run(ctx) { let x = ; }", 1, 23, "expected a value, found `;`"),
    ("fn run(ctx) { let = 1; }", 1, 19, "expected a variable name, found `=`"),
    ("fn run(ctx) { let x; }", 1, 20, "`let x` needs a value: `let x = ...;`"),
    ("fn run(ctx) { let if = 1; }", 1, 19, "`if` is a reserved word and cannot be used as a variable name"),
    ('fn run(ctx) { ctx.buy("BTC", 1 }', 1, 32, "expected `,` between arguments, found `}`"),
    ("fn run(ctx) { let a = [1, 2; }", 1, 28, "expected `,` between array elements, found `;`"),
    ("fn run(ctx) { let m = #{a 1}; }", 1, 27, "expected `:` after the key `a`"),
    ("fn run(ctx) { let m = #{1: 2}; }", 1, 25, 'expected a key (a name or "text"), found number `1`'),
    ("fn run(ctx) { let m = #{a: 1, a: 2}; }", 1, 31, "duplicate key `a` in map"),
    ("fn run(ctx) { let a = [" + "0, " * 100_001 + "]; }", 1, 1, "the program is too long (more than 64 KiB)"),
    ("fn run(ctx) { let m = {a: 1}; }", 1, 23, "unexpected `{` — a map literal is written `#{ key: value }`"),
    ("fn run(ctx) { if 1 < 2 < 3 { } }", 1, 24, "comparisons cannot be chained; combine them with `&&`"),
    ("fn run(ctx) { let a = 1 == 1 == 1; }", 1, 30, "comparisons cannot be chained"),
    ("fn run(ctx) { let r = 0..1..2; }", 1, 27, "ranges cannot be chained"),
    ("fn run(ctx) { 1 = 2; }", 1, 15, "can only assign to a variable, a field (`m.key`) or an element (`a[i]`)"),
    ("fn run(ctx) { ctx.position().x = 2; }", 1, 19, "can only assign to a variable, a field"),
    ("fn run(ctx) { f(x)[0] = 2; }", 1, 15, "can only assign to a variable, a field"),
    ("fn run(ctx) { let f = 1; (f)(2); }", 1, 29, "only functions can be called"),
    ("fn run(ctx) { if true ctx.hold(); }", 1, 23, "expected `{` after the `if` condition, found name `ctx`"),
    ("fn run(ctx) { while true ctx.hold(); }", 1, 26, "expected `{` to start the loop body"),
    ("fn run(ctx) { for 1 in x { } }", 1, 19, "expected a loop variable name, found number `1`"),
    ("fn run(ctx) { for i of x { } }", 1, 21, "expected `in` after `for i`"),
    ("fn run(ctx) { fn inner() { } }", 1, 15, "functions can only be declared at the top level — is a `}` missing"),
    ("fn run(ctx) { const X = 1; }", 1, 15, "constants can only be declared at the top level"),
    ("let x = 1; fn run(ctx) { }", 1, 1, "expected `fn` or `const` at the top level, found `let`"),
    ("fn run(ctx) {", 1, 14, "expected `}` to close the block opened at line 1"),
    ("fn run(ctx { }", 1, 12, "expected `,` between parameters, found `{`"),
    ("fn (ctx) { }", 1, 4, "expected a function name, found `(`"),
    ("const X 1; fn run(ctx) { }", 1, 9, "expected `=` after `const X`"),
    ("const X = 1 fn run(ctx) { }", 1, 12, "missing `;`"),
    # names and structure
    ("fn main(ctx) { }", 1, 1, "a program needs a `fn run(ctx) { ... }`"),
    ("", 1, 1, "a program needs a `fn run(ctx) { ... }`"),
    ("fn run() { }", 1, 1, "`run` must take exactly one parameter: `fn run(ctx)`"),
    ("fn run(ctx, extra) { }", 1, 1, "`run` must take exactly one parameter"),
    ("fn run(ctx) { }\nfn run(ctx) { }", 2, 1, "function `run` is already defined at line 1"),
    ("fn abs(x) { x } fn run(ctx) { }", 1, 1, "`abs` is a builtin function; choose another name"),
    ("const A = 1; const A = 2; fn run(ctx) { }", 1, 20, "constant `A` is already defined at line 1"),
    ("fn f(a, a) { } fn run(ctx) { f(1, 2); }", 1, 9, "parameter `a` appears twice"),
    ("fn run(ctx) { let price = 1; ctx.log(pricee); }", 1, 38, "unknown variable `pricee` — did you mean `price`?"),
    ("fn run(ctx) { ctx.log(zzz); }", 1, 23, "unknown variable `zzz`"),
    ("fn run(ctx) { if true { let x = 1; } ctx.log(x); }", 1, 46, "unknown variable `x`"),
    ("fn run(ctx) { ctx.log(y); let y = 1; }", 1, 23, "unknown variable `y`"),
    ("fn run(ctx) { let x = x + 1; }", 1, 23, "unknown variable `x`"),
    ("fn run(ctx) { for i in 0..3 { } ctx.log(i); }", 1, 41, "unknown variable `i`"),
    ("fn helper() { ctx.price } fn run(ctx) { helper(); }", 1, 15, "unknown variable `ctx`"),
    ("fn run(ctx) { x = 1; }", 1, 15, "cannot assign to `x`: no such variable — declare it first with `let x = ...;`"),
    ("fn run(ctx) { let total = 0; totl = 1; }", 1, 30, "cannot assign to `totl`: no such variable"),
    ("const K = 1; fn run(ctx) { K = 2; }", 1, 28, "cannot assign to constant `K`"),
    ("const K = [1]; fn run(ctx) { K[0] = 2; }", 1, 30, "cannot change constant `K`"),
    ("fn run(ctx) { fooo(1); } fn foo(x) { x }", 1, 15, "unknown function `fooo` — did you mean `foo`?"),
    ("fn run(ctx) { let f = 1; f(2); }", 1, 26, "`f` is a variable, not a function"),
    ("fn helper() { 1 } fn run(ctx) { let x = helper; }", 1, 41, "`helper` is a function; call it like `helper(...)`"),
    ("fn run(ctx) { let x = abs; }", 1, 23, "`abs` is a function; call it like `abs(...)`"),
    ("fn f(a, b) { a } fn run(ctx) { f(1); }", 1, 32, "`f` takes 2 arguments but 1 was given"),
    ("fn f(a) { a } fn run(ctx) { f(1, 2); }", 1, 29, "`f` takes 1 argument but 2 were given"),
    ("fn run(ctx) { abs(1, 2); }", 1, 15, "`abs` takes 1 argument"),
    ("fn run(ctx) { clamp(1); }", 1, 15, "`clamp` takes 3 arguments"),
    ("fn run(ctx) { round(); }", 1, 15, "`round` takes 1 or 2 arguments"),
    ("fn run(ctx) { max(); }", 1, 15, "`max` takes at least 1 argument"),
    ("fn run(ctx) { run(ctx); }", 1, 15, "`run` is called by the platform; a program cannot call it"),
    ("fn run(ctx) { break; }", 1, 15, "`break` can only be used inside a loop body"),
    ("fn run(ctx) { if true { continue; } }", 1, 25, "`continue` can only be used inside a loop body"),
    ("fn run(ctx) { while (if true { break; } else { true }) { } }", 1, 32, "`break` can only be used inside"),
    ("const X = f(); fn f() { 1 } fn run(ctx) { }", 1, 11, "a constant can only use values, operators, builtins"),
    ("const X = Y; const Y = 1; fn run(ctx) { }", 1, 11, "constant `Y` is used before it is declared"),
    ("const X = ctx.price; fn run(ctx) { }", 1, 11, "unknown variable `ctx`"),
    ("const X = 1 / 0; fn run(ctx) { }", 1, 13, "in constant `X`: division by zero"),
    ("const X = [1][5]; fn run(ctx) { }", 1, 14, "in constant `X`: index 5 is out of range"),
    (
        "const X = if true { while true { } 1 } else { 2 }; fn run(ctx) { }",
        1,
        21,
        "in constant `X`: step limit exceeded",
    ),
    # identifiers may not start with `_`
    ("fn run(ctx) { let _x = 1; }", 1, 19, "names may not start with `_`: `_x`"),
    ("fn _f() { } fn run(ctx) { }", 1, 4, "names may not start with `_`: `_f`"),
    ("fn run(_ctx) { }", 1, 8, "names may not start with `_`: `_ctx`"),
    ("fn run(ctx) { ctx.__class__; }", 1, 19, "names may not start with `_`: `__class__`"),
    ('fn run(ctx) { "".__class__; }', 1, 18, "names may not start with `_`: `__class__`"),
    ("fn run(ctx) { ctx.log.__self__; }", 1, 23, "names may not start with `_`: `__self__`"),
    ("fn run(ctx) { [].__init__(); }", 1, 18, "names may not start with `_`: `__init__`"),
    ("fn run(ctx) { let m = #{__proto__: 1}; }", 1, 25, "names may not start with `_`: `__proto__`"),
    ("fn run(ctx) { for _i in 0..2 { } }", 1, 19, "names may not start with `_`: `_i`"),
    ("fn run(ctx) { __import__(1); }", 1, 15, "names may not start with `_`: `__import__`"),
    # static types
    ('fn run(ctx) { let x = "a" - 1; }', 1, 27, "`-` needs two numbers, got a string and a number"),
    (
        'fn run(ctx) { let x = "a" + 1; }',
        1,
        27,
        "`+` needs two numbers or two strings, got a string and a number — convert",
    ),
    ("fn run(ctx) { let x = [1] < 2; }", 1, 27, "`<` needs two numbers or two strings, got an array and a number"),
    ("fn run(ctx) { let x = true > false; }", 1, 28, "`>` needs two numbers or two strings, got a bool and a bool"),
    ("fn run(ctx) { if 1 { } }", 1, 18, "a condition must be true or false, got a number"),
    ("fn run(ctx) { while null { } }", 1, 21, "a condition must be true or false, got null"),
    ("fn run(ctx) { let x = !3; }", 1, 23, "`!` needs true or false, got a number"),
    ('fn run(ctx) { let x = -"a"; }', 1, 23, "`-` needs a number, got a string"),
    ("fn run(ctx) { let x = 1 && true; }", 1, 23, "`&&` needs true or false on both sides, got a number"),
    ('fn run(ctx) { let x = "a" ** 2; }', 1, 27, "`**` needs two numbers, got a string and a number"),
    ("fn run(ctx) { let n = 5; n.len(); }", 1, 28, "a number has no method `len`"),
    ('fn run(ctx) { "s".push(1); }', 1, 19, "a string has no method `push`"),
    ("fn run(ctx) { [1].get(0); }", 1, 19, "an array has no method `get`"),
    ("fn run(ctx) { [1].slice(); }", 1, 19, "`slice` takes 1 or 2 arguments"),
    ("fn run(ctx) { [1].len; }", 1, 19, "cannot read field `len` of an array — `len` is a method: `.len()`"),
    ("fn run(ctx) { let x = 5; x.foo; }", 1, 28, "cannot read field `foo` of a number"),
    ("fn run(ctx) { [1].pushh(2); }", 1, 19, "unknown method `pushh` — did you mean `push`?"),
    ("fn run(ctx) { let x = 1; x.price(); }", 1, 28, "`price` is a value, not a method"),
    ("fn run(ctx) { let x = 1; x.buy(); }", 1, 28, "`buy` takes 2 or 3 arguments"),
    # ctx members, checked exactly on `run`'s parameter
    ("fn run(ctx) { ctx.pricee; }", 1, 19, "unknown ctx member `pricee` — did you mean `price`?"),
    ("fn run(ctx) { ctx.foo(1); }", 1, 19, "unknown ctx member `foo`"),
    ("fn run(ctx) { ctx.price(); }", 1, 19, "`ctx.price` is a value, not a method — write `ctx.price` without `()`"),
    ("fn run(ctx) { ctx.rsi; }", 1, 19, "`ctx.rsi` is a method — call it, like `ctx.rsi(...)`"),
    ("fn run(ctx) { ctx.sma(1, 2); }", 1, 19, "`ctx.sma` takes 0 or 1 arguments"),
    ("fn run(ctx) { ctx.macd(1, 2, 3, 4); }", 1, 19, "`ctx.macd` takes 0 to 3 arguments"),
    ('fn run(ctx) { ctx.buy("BTC"); }', 1, 19, "`ctx.buy` takes 2 or 3 arguments"),
    ("fn run(ctx) { ctx.candles(); }", 1, 19, "`ctx.candles` takes 1 argument"),
    ("fn run(ctx) { ctx.log(); }", 1, 19, "`ctx.log` takes 1 argument"),
    ("fn run(ctx) { ctx.price = 1; }", 1, 19, "cannot change `ctx.price`; ctx is read-only"),
    ("fn run(ctx) { ctx.state = #{}; }", 1, 19, "cannot change `ctx.state`; ctx is read-only; set its keys instead"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), ERRORS, ids=[row[0][:70] for row in ERRORS])
def test_compile_error_message_and_position(source: str, line: int, column: int, message: str) -> None:
    errors = compile_errors(source)
    matching = [e for e in errors if e[2].startswith(message)]
    assert matching, f"no error starting with {message!r} in {errors}"
    assert matching[0][:2] == (line, column), errors


WARNINGS = [
    ("fn run(ctx) { let unused = 1; }", 1, 19, "unused variable `unused`"),
    ("fn helper() { } fn run(ctx) { }", 1, 1, "function `helper` is never called"),
    ("const K = 1; fn run(ctx) { }", 1, 7, "constant `K` is never used"),
    ("fn run(ctx) { return; ctx.hold(); }", 1, 23, "unreachable code"),
    ("fn run(ctx) { return; ctx.hold() }", 1, 23, "unreachable code"),
    ("fn run(ctx) { let x = true; if x == 1 { } }", 1, 34, "comparing a bool with a number is always false"),
    ("fn run(ctx) { let x = true; if x != null { } }", 1, 34, "comparing a bool with null is always true"),
    ("fn run(ctx) { for i in 0..2 { break; ctx.log(i); } }", 1, 38, "unreachable code"),
    (
        "fn run(ctx) { let x = 1; let x = 2; ctx.log(x); }",
        1,
        30,
        "`x` is declared again; the one from line 1 is hidden",
    ),
    ('fn run(ctx) { let x = 1; if x == "1" { } }', 1, 31, "comparing a number with a string is always false"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), WARNINGS, ids=[row[4 - 1] for row in WARNINGS])
def test_warning_message_and_position(source: str, line: int, column: int, message: str) -> None:
    result = compile_program(source)
    assert result.ok, result.errors
    assert (line, column, message) in compile_warnings(source)


def test_no_warnings_for_a_clean_program() -> None:
    assert compile_warnings('fn run(ctx) { let p = ctx.price; if p > 1 { ctx.buy("BTC", 1); } }') == []


def test_all_errors_are_reported_not_just_the_first() -> None:
    source = """
fn run(ctx) {
    let a = ;
    let b = a + pricee;
    ctx.byu("BTC", 1);
    let c = "x" - 1;
    break;
}
fn extra(x) { y }
"""
    errors = compile_errors(source)
    assert [(line, message.split(" ")[0]) for line, _, message in errors] == [
        (3, "expected"),
        (4, "unknown"),
        (5, "unknown"),
        (6, "`-`"),
        (7, "`break`"),
        (9, "unknown"),
    ]


def test_a_broken_let_still_declares_its_name() -> None:
    errors = compile_errors("fn run(ctx) { let price = ctx.price +; ctx.log(price); }")
    assert len(errors) == 1
    assert "expected a value" in errors[0][2]


def test_diagnostics_encode_as_json_with_line_column_message() -> None:
    result = compile_program("fn run(ctx) { zzz; }")
    assert msgspec.json.decode(msgspec.json.encode(result.errors)) == [
        {"line": 1, "column": 15, "message": "unknown variable `zzz`"}
    ]
    assert isinstance(result.errors[0], Diagnostic)


def test_errors_are_capped_for_hopeless_input() -> None:
    result = compile_program("fn run(ctx) { " + "let = ; " * 500 + "}")
    assert not result.ok
    assert 0 < len(result.errors) <= 50


def test_non_text_source_is_an_error_not_an_exception() -> None:
    result = compile_program(b"fn run(ctx) {}")  # type: ignore[arg-type]
    assert not result.ok
    assert result.errors[0].message == "the program must be text"
