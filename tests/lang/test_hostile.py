"""Hostile programs: each is contained, with the right error, and the host is left undisturbed.

A program can reach nothing but values and `ctx`: every attempt at Python internals, through every
syntax form the language has, must end in a compile error or a runtime error — never in an attribute
of a Python object, never in an exception escaping to the host.
"""

from __future__ import annotations

import ast
import re
import sys

import pytest

from shared.lang import RunLimits, compile_program
from shared.lang.library import CTX_FIELDS, CTX_METHODS
from shared.lang.program import SAFE_BUILTINS
from shared.lang.runtime import PURE_HELPERS, RUNTIME_HELPERS
from tests.lang.support import FakeView

# (program, where it is stopped: "compile" or an error kind, message fragment)
HOSTILE = [
    # ---- resource exhaustion -------------------------------------------------------------------
    ("fn run(ctx) { while true { } }", "limit", "step limit exceeded"),
    ("fn run(ctx) { for i in 0..1e15 { } }", "limit", "step limit exceeded"),
    ("fn run(ctx) { loop(); } fn loop() { while true { } }", "limit", "step limit exceeded"),
    ("fn f(n) { f(n + 1) } fn run(ctx) { f(0); }", "limit", "call depth limit exceeded"),
    ("fn a() { b() } fn b() { a() } fn run(ctx) { a(); }", "limit", "call depth limit exceeded"),
    ("fn f() { f(); f(); } fn run(ctx) { f(); }", "limit", "exceeded"),
    ("fn run(ctx) { let x = 0..1e12; }", "limit", "array too large"),
    ("fn run(ctx) { let x = 0..=1e300; }", "limit", "array too large"),
    ("fn run(ctx) { ctx.candles(1e12); }", "limit", "array too large"),
    ("fn run(ctx) { let a = [0]; while true { a.push(a.len()); } }", "limit", "array too large"),
    ("fn run(ctx) { let m = #{}; let i = 0; while true { m[str(i)] = i; i += 1; } }", "limit", "map too large"),
    ('fn run(ctx) { let s = "bomb"; while true { s += s; } }', "limit", "string too long"),
    ('fn run(ctx) { let s = "x"; for i in 0..40 { s = s + s; } }', "limit", "string too long"),
    ('fn run(ctx) { let s = ","; for i in 0..17 { s += s; } s.split(","); }', "limit", "array too large"),
    ('fn run(ctx) { let s = "a"; for i in 0..19 { s += s; } s = s.upper(); ctx.log(s); ctx.log(s); }', "ok", ""),
    ("fn run(ctx) { let a = []; for i in 0..30 { a = [a, a]; } ctx.log(a); }", "limit", "string too long"),
    ("fn run(ctx) { let a = []; for i in 0..1000 { a = [a]; } ctx.log(a); }", "limit", "nested too deeply"),
    ("fn run(ctx) { let a = []; a.push(a); ctx.log(a); }", "limit", "nested too deeply"),
    ("fn run(ctx) { let a = #{}; a.me = a; ctx.state.x = a; }", "runtime", "nested too deeply"),
    (
        (
            "fn run(ctx) { let big = []; for i in 0..100000 { big.push(i); } let all = [];"
            " for i in 0..100000 { all.push(big.slice(0)); } }"
        ),
        "limit",
        "memory limit exceeded",
    ),
    (
        (
            'fn run(ctx) { let s = "x"; for i in 0..19 { s += s; } let keep = [];'
            " for i in 0..100000 { keep.push(s + str(i)); } }"
        ),
        "limit",
        "memory limit exceeded",
    ),
    ("fn run(ctx) { let x = 10 ** 1000; }", "runtime", "number too large"),
    ("fn run(ctx) { let x = 1e308 * 1e308 * 0; ctx.log(x); }", "ok", ""),
    ('fn run(ctx) { for i in 0..1000000 { ctx.buy("BTC", 1); } }', "limit", "too many orders"),
    ("fn run(ctx) { for i in 0..1000000 { ctx.log(i); } }", "limit", "step limit exceeded"),
    # ---- Python internals, through every syntax form -------------------------------------------
    ("fn run(ctx) { ctx.__class__; }", "compile", "names may not start with `_`"),
    ('fn run(ctx) { "".__class__; }', "compile", "names may not start with `_`"),
    ("fn run(ctx) { [].__class__.__mro__; }", "compile", "names may not start with `_`"),
    ("fn run(ctx) { ctx.candles.__self__; }", "compile", "names may not start with `_`"),
    ("fn run(ctx) { ctx.__init__(); }", "compile", "names may not start with `_`"),
    ('fn run(ctx) { ctx.__getattribute__("view"); }', "compile", "names may not start with `_`"),
    ("fn run(ctx) { let __builtins__ = 1; }", "compile", "names may not start with `_`"),
    ('fn run(ctx) { __import__("os"); }', "compile", "names may not start with `_`"),
    ("fn run(ctx) { let x = _S; }", "compile", "names may not start with `_`"),
    ("fn run(ctx) { _refill(); }", "compile", "names may not start with `_`"),
    ("fn run(ctx) { let m = #{__class__: 1}; }", "compile", "names may not start with `_`"),
    ('fn run(ctx) { let m = #{"__class__": 1}; ctx.log(m["__class__"]); }', "ok", ""),
    ('fn run(ctx) { let m = #{}; m["__dict__"]; }', "runtime", "map has no key `__dict__`"),
    ('fn run(ctx) { ctx.state["__class__"]; }', "runtime", "map has no key `__class__`"),
    ('fn run(ctx) { ctx["__dict__"]; }', "runtime", "cannot index ctx with `[...]`"),
    ('fn run(ctx) { ctx["view"]; }', "runtime", "cannot index ctx with `[...]`"),
    ('fn run(ctx) { "abc"["__len__"]; }', "runtime", "an index must be a number"),
    ('fn run(ctx) { let a = [1]; a["__class__"] = 2; }', "runtime", "an index must be a number"),
    ('fn run(ctx) { [1]["__class__"] = 2; }', "compile", "can only assign to a variable"),
    ('fn run(ctx) { ctx.params.get("__builtins__", 1); }', "ok", ""),
    # attributes of the Python objects behind ctx are not members
    ("fn run(ctx) { ctx.view; }", "compile", "unknown ctx member `view`"),
    ("fn run(ctx) { ctx.account; }", "compile", "unknown ctx member `account`"),
    ("fn run(ctx) { ctx.orders; }", "compile", "unknown ctx member `orders`"),
    ("fn run(ctx) { ctx.rt; }", "compile", "unknown ctx member `rt`"),
    ('fn run(ctx) { ctx.field("view"); }', "compile", "unknown ctx member `field`"),
    ("fn run(ctx) { ctx.describe(); }", "compile", "unknown ctx member `describe`"),
    ("fn g(c) { c.view } fn run(ctx) { g(ctx); }", "runtime", "unknown ctx member `view`"),
    ("fn g(c) { c.account.balance } fn run(ctx) { g(ctx); }", "runtime", "unknown ctx member `account`"),
    ("fn g(c) { c.reset() } fn run(ctx) { g(ctx); }", "compile", "unknown method `reset`"),
    ('fn g(c) { c.call("buy", []) } fn run(ctx) { g(ctx); }', "compile", "unknown method `call`"),
    ('fn run(ctx) { let m = ctx.market("ETH"); m.view; }', "runtime", "unknown market member `view`"),
    ('fn run(ctx) { let m = ctx.market("ETH"); m.rt; }', "runtime", "unknown market member `rt`"),
    ("fn run(ctx) { ctx.log.x; }", "compile", "`ctx.log` is a method"),
    ("fn run(ctx) { let f = ctx.buy; }", "compile", "`ctx.buy` is a method"),
    # Python methods of the values behind arrays, maps and strings are not methods
    ("fn run(ctx) { [].append(1); }", "compile", "unknown method `append`"),
    ("fn run(ctx) { #{}.items(); }", "compile", "unknown method `items`"),
    ('fn run(ctx) { "{}".format(1); }', "compile", "unknown method `format`"),
    ('fn run(ctx) { ",".join([]); }', "compile", "unknown method `join`"),
    ("fn run(ctx) { #{}.setdefault(1); }", "compile", "unknown method `setdefault`"),
    ("fn run(ctx) { #{}.update(#{}); }", "compile", "unknown method `update`"),
    ("fn run(ctx) { [].clear(); }", "compile", "unknown method `clear`"),
    ("fn id(x) { x } fn run(ctx) { id(#{}).len.x; }", "runtime", "map has no key `len`"),
    # Python builtins and statements do not exist
    ('fn run(ctx) { eval("1"); }', "compile", "unknown function `eval`"),
    ('fn run(ctx) { exec("1"); }', "compile", "unknown function `exec`"),
    ('fn run(ctx) { open("/etc/passwd"); }', "compile", "unknown function `open`"),
    ("fn run(ctx) { print(1); }", "compile", "unknown function `print`"),
    ("fn run(ctx) { type(1); }", "compile", "unknown function `type`"),
    ("fn run(ctx) { getattr(ctx, 1); }", "compile", "unknown function `getattr`"),
    ("fn run(ctx) { globals(); }", "compile", "unknown function `globals`"),
    ("fn run(ctx) { let x = float; }", "compile", "unknown variable `float`"),
    ("import os\nfn run(ctx) { }", "compile", "expected `fn` or `const` at the top level"),
    ("fn run(ctx) { import os; }", "compile", "missing `;`"),
    ("fn run(ctx) { let f = fn() { 1 }; }", "compile", "expected a value, found `fn`"),
    ("fn run(ctx) { let f = |x| x; }", "compile", "unexpected character `|`"),
    ("fn run(ctx) { let x = `ls`; }", "compile", "unexpected character `"),
    ("fn run(ctx) { let x = 1; x.y.z = 2; }", "compile", "cannot read field `y` of a number"),
    # program names never become Python names
    (
        (
            "fn run(ctx) { let import = 1; let class = 2; let lambda = 3; let None = 4; let True = 5; let self = 6;"
            " let print = 7; let type = 8; let float = 9; let S = 10; let d = 11; let t1 = 12;"
            " ctx.log(import + class + lambda + None + True + self + print + type + float + S + d + t1); }"
        ),
        "ok",
        "",
    ),
    ("fn run(ctx) { let s = \"'); import os; ('\"; ctx.log(s); }", "ok", ""),
    ('fn run(ctx) { let s = "\\"\\"\\"; __import__(\'os\') #"; ctx.log(s); }', "ok", ""),
    ("fn None() { 1 } fn lambda() { 2 } fn run(ctx) { ctx.log(None() + lambda()); }", "ok", ""),
    # lookalikes and junk bytes are not identifiers
    ("fn run(ctx) { let рrice = 1; }", "compile", "unexpected character `р`"),
    ("fn run(ctx) { let x = 1;\x00 }", "compile", "unexpected character"),
    ("fn run(ctx) { let x\u200b = 1; }", "compile", "unexpected character"),
    ('fn run(ctx) { ctx.market("../../etc/passwd"); }', "runtime", "no market data for symbol `../../etc/passwd`"),
]


@pytest.mark.parametrize(("source", "stopped", "fragment"), HOSTILE, ids=[row[0][:70] for row in HOSTILE])
def test_hostile_program_is_contained(source: str, stopped: str, fragment: str) -> None:
    recursion_limit = sys.getrecursionlimit()
    compiled = compile_program(source)
    if stopped == "compile":
        assert not compiled.ok
        assert any(fragment in error.message for error in compiled.errors), compiled.errors
        return
    assert compiled.ok, compiled.errors
    assert compiled.program is not None
    view = FakeView(markets={("ETH", None): FakeView(symbol="ETH")})
    result = compiled.program.run(view, limits=RunLimits())
    assert sys.getrecursionlimit() == recursion_limit
    if stopped == "ok":
        assert result.status == "ok", result.error
        return
    assert result.status == "error"
    assert result.error is not None
    assert result.error.kind == stopped, result.error
    assert fragment in result.error.message, result.error.message


_ALLOWED_GLOBALS = (
    set(PURE_HELPERS)
    | set(RUNTIME_HELPERS)
    | set(SAFE_BUILTINS)
    | {f"_cf_{name}" for name in CTX_FIELDS}
    | {f"_cm_{name}" for name in CTX_METHODS}
    | {"_VI", "_refill", "_enter", "_S", "_d", "_SYMBOL", "_TIMEFRAME"}
)
_MANGLED = re.compile(r"[A-Za-z][A-Za-z0-9_]*_\d+|_t\d+|_dup\d+|_f_[A-Za-z][A-Za-z0-9_]*|_k_[A-Za-z][A-Za-z0-9_]*")


def assert_generated_code_is_confined(python_source: str) -> None:
    """The shape every generated module must have: no attribute access, no imports, no lambdas or
    classes, subscripts only with constant keys, and every name either mangled or a known helper."""
    tree = ast.parse(python_source)
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Attribute | ast.Import | ast.ImportFrom | ast.Lambda | ast.ClassDef), ast.dump(
            node
        )
        assert not isinstance(node, ast.Try | ast.With | ast.Raise | ast.Delete | ast.Yield | ast.Await), ast.dump(node)
        if isinstance(node, ast.Subscript):
            assert isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
        if isinstance(node, ast.Name):
            assert node.id in _ALLOWED_GLOBALS or _MANGLED.fullmatch(node.id), node.id
        if isinstance(node, ast.FunctionDef):
            assert node.name.startswith("_f_")


@pytest.mark.parametrize(("source", "stopped", "fragment"), [row for row in HOSTILE if row[1] != "compile"])
def test_generated_code_of_hostile_programs_is_confined(source: str, stopped: str, fragment: str) -> None:
    program = compile_program(source).program
    assert program is not None
    assert_generated_code_is_confined(program.python_source)


def test_host_exceptions_from_the_view_are_not_swallowed() -> None:
    class BrokenView(FakeView):
        @property
        def price(self) -> float:  # type: ignore[override]
            raise ConnectionError("market data source down")

        @price.setter
        def price(self, value: float) -> None:
            pass

    program = compile_program("fn run(ctx) { ctx.log(ctx.price); }").program
    assert program is not None
    with pytest.raises(ConnectionError):
        program.run(BrokenView())
