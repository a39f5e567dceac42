"""The typed syntax tree: node kinds, precedence and positions."""

from __future__ import annotations

import pytest

from shared.lang import nodes as n
from shared.lang.diagnostics import Diagnostics
from shared.lang.lexer import tokenize
from shared.lang.parser import parse


def tree(source: str) -> n.Program:
    diag = Diagnostics()
    program = parse(source, diag)
    assert not diag.has_errors, diag.errors()
    return program


def expression(text: str) -> n.Expr:
    body = tree(f"fn run(ctx) {{ let v = {text}; }}").functions[0].body
    let = body.stmts[0]
    assert isinstance(let, n.Let)
    return let.value


def shape(expr: n.Expr) -> object:
    """A compact form of an expression tree: ("+", left, right), numbers, names."""
    if isinstance(expr, n.Num):
        return expr.value
    if isinstance(expr, n.Name):
        return expr.name
    if isinstance(expr, n.Binary | n.Logical):
        return (expr.op, shape(expr.left), shape(expr.right))
    if isinstance(expr, n.Unary):
        return (expr.op, shape(expr.operand))
    if isinstance(expr, n.Field):
        return (".", shape(expr.receiver), expr.name)
    if isinstance(expr, n.MethodCall):
        return ("call", shape(expr.receiver), expr.name, [shape(a) for a in expr.args])
    if isinstance(expr, n.Index):
        return ("[]", shape(expr.receiver), shape(expr.index))
    return type(expr).__name__


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", ("+", 1.0, ("*", 2.0, 3.0))),
        ("1 - 2 - 3", ("-", ("-", 1.0, 2.0), 3.0)),
        ("2 ** 3 ** 2", ("**", 2.0, ("**", 3.0, 2.0))),
        ("-a ** 2", ("-", ("**", "a", 2.0))),
        ("-2", -2.0),
        ("!a && b || c", ("||", ("&&", ("!", "a"), "b"), "c")),
        ("a || b && c", ("||", "a", ("&&", "b", "c"))),
        ("a < b == c > d", ("==", ("<", "a", "b"), (">", "c", "d"))),
        ("0..n + 1", ("..", 0.0, ("+", "n", 1.0))),
        ("a..=b", ("..=", "a", "b")),
        ("x % 2 == 0 && y", ("&&", ("==", ("%", "x", 2.0), 0.0), "y")),
        ("ctx.state.last", (".", (".", "ctx", "state"), "last")),
        ("a.b(1)[2].c", (".", ("[]", ("call", "a", "b", [1.0]), 2.0), "c")),
        ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
    ],
)
def test_precedence_and_associativity(text: str, expected: object) -> None:
    assert shape(expression(text)) == expected


def test_nodes_carry_positions_of_their_operator_or_name() -> None:
    expr = expression("a +\n  b.c(1)")
    assert isinstance(expr, n.Binary)
    assert (expr.line, expr.col) == (1, 25)
    assert isinstance(expr.right, n.MethodCall)
    assert (expr.right.line, expr.right.col) == (2, 5)


def test_block_tail_and_statements() -> None:
    fn = tree("fn f(x, y) { let z = x; z = z + y; if z > 0 { z } else { 0 } }\nfn run(ctx) { }").functions[0]
    assert [p.name for p in fn.params] == ["x", "y"]
    assert [type(s).__name__ for s in fn.body.stmts] == ["Let", "Assign"]
    assert isinstance(fn.body.tail, n.IfExpr)
    assert fn.body.tail_start == (1, 36)


def test_program_collects_functions_and_constants() -> None:
    program = tree("const A = 1;\nfn run(ctx) { }\nconst B = [A];\nfn g() { }")
    assert [f.name for f in program.functions] == ["run", "g"]
    assert [c.name for c in program.consts] == ["A", "B"]


def test_loops_and_jumps() -> None:
    body = tree("fn run(ctx) { for i in 0..3 { continue; } while true { break; } return 1; }").functions[0].body
    loop, spin, ret = body.stmts
    assert isinstance(loop, n.For) and loop.var == "i" and isinstance(loop.body.stmts[0], n.Continue)
    assert isinstance(spin, n.While) and isinstance(spin.body.stmts[0], n.Break)
    assert isinstance(ret, n.Return) and isinstance(ret.value, n.Num)


def test_tokens_know_where_they_are() -> None:
    tokens = tokenize('fn run(ctx) {\n  "a\\"b" 1.5e2 ..= #{ }', Diagnostics())
    text = [(t.kind, t.value if t.kind in ("num", "str") else t.text, t.line, t.col) for t in tokens]
    assert text[:4] == [("kw", "fn", 1, 1), ("name", "run", 1, 4), ("op", "(", 1, 7), ("name", "ctx", 1, 8)]
    assert text[6:] == [
        ("str", 'a"b', 2, 3),
        ("num", 150.0, 2, 10),
        ("op", "..=", 2, 16),
        ("op", "#{", 2, 20),
        ("op", "}", 2, 23),
        ("eof", "", 2, 24),
    ]


def test_number_followed_by_range_is_not_a_decimal_point() -> None:
    assert shape(expression("1..5")) == ("..", 1.0, 5.0)
    assert shape(expression("1.5..2")) == ("..", 1.5, 2.0)
