"""The typed syntax tree. Every node knows where it starts in the source (1-based line and column).

Names that are resolved by the checker (`Name`, `Let`, `For`, `Call`) carry a slot the checker fills,
so the compiler never resolves a name a second time. Expression nodes carry `depth` (height of the
subtree) so the parser can refuse expressions too deep for the compiler before recursing into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class Node:
    line: int
    col: int


@dataclass(slots=True, eq=False)
class Expr(Node):
    depth: int = field(default=1, kw_only=True)


@dataclass(slots=True, eq=False)
class Num(Expr):
    value: float


@dataclass(slots=True, eq=False)
class Str(Expr):
    value: str


@dataclass(slots=True, eq=False)
class Bool(Expr):
    value: bool


@dataclass(slots=True, eq=False)
class Null(Expr):
    pass


@dataclass(slots=True, eq=False)
class ErrorExpr(Expr):
    """Stands in for an expression that failed to parse, so checking can go on without cascades."""


@dataclass(slots=True, eq=False)
class ArrayLit(Expr):
    items: list[Expr]


@dataclass(slots=True, eq=False)
class MapEntry(Node):
    key: str
    value: Expr


@dataclass(slots=True, eq=False)
class MapLit(Expr):
    entries: list[MapEntry]


@dataclass(slots=True, eq=False)
class Name(Expr):
    name: str
    sym: Any = None
    """The `checker.Symbol` this name refers to."""


@dataclass(slots=True, eq=False)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(slots=True, eq=False)
class Binary(Expr):
    """Arithmetic, comparison, equality and ranges (`..`, `..=`); the position is the operator's."""

    op: str
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Logical(Expr):
    """`&&` and `||`, which short-circuit; the position is the operator's."""

    op: str
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Call(Expr):
    name: str
    args: list[Expr]
    target: Any = None
    """The called `FnDecl`, or the builtin's name for builtins."""


@dataclass(slots=True, eq=False)
class MethodCall(Expr):
    """`receiver.name(args)`; the position is the method name's."""

    receiver: Expr
    name: str
    args: list[Expr]


@dataclass(slots=True, eq=False)
class Field(Expr):
    """`receiver.name`; the position is the field name's."""

    receiver: Expr
    name: str


@dataclass(slots=True, eq=False)
class Index(Expr):
    """`receiver[index]`; the position is the `[`."""

    receiver: Expr
    index: Expr


@dataclass(slots=True, eq=False)
class Block(Node):
    stmts: list[Stmt]
    tail: Expr | None
    """A final expression without `;`: the block's value."""
    tail_start: tuple[int, int] = (0, 0)
    """Line and column where the tail expression starts."""


@dataclass(slots=True, eq=False)
class IfExpr(Expr):
    branches: list[tuple[Expr, Block]]
    else_block: Block | None


@dataclass(slots=True, eq=False)
class Stmt(Node):
    pass


@dataclass(slots=True, eq=False)
class Let(Stmt):
    name: str
    value: Expr
    sym: Any = None


@dataclass(slots=True, eq=False)
class Assign(Stmt):
    """`target op value` with op one of `= += -= *= /=`; the position is the operator's."""

    target: Expr
    op: str
    value: Expr


@dataclass(slots=True, eq=False)
class ExprStmt(Stmt):
    expr: Expr


@dataclass(slots=True, eq=False)
class For(Stmt):
    var: str
    var_line: int
    var_col: int
    iterable: Expr
    body: Block
    sym: Any = None


@dataclass(slots=True, eq=False)
class While(Stmt):
    cond: Expr
    body: Block


@dataclass(slots=True, eq=False)
class Break(Stmt):
    pass


@dataclass(slots=True, eq=False)
class Continue(Stmt):
    pass


@dataclass(slots=True, eq=False)
class Return(Stmt):
    value: Expr | None


@dataclass(slots=True, eq=False)
class Param(Node):
    name: str
    sym: Any = None


@dataclass(slots=True, eq=False)
class FnDecl(Node):
    name: str
    params: list[Param]
    body: Block
    calls: int = 0
    """How many call sites name this function (filled by the checker, for warnings)."""


@dataclass(slots=True, eq=False)
class ConstDecl(Node):
    name: str
    value: Expr
    sym: Any = None


@dataclass(slots=True, eq=False)
class Program(Node):
    functions: list[FnDecl]
    consts: list[ConstDecl]


def children(expr: Expr) -> list[Expr]:
    """The direct sub-expressions of `expr` in evaluation order (blocks' statements excluded)."""
    if isinstance(expr, ArrayLit):
        return list(expr.items)
    if isinstance(expr, MapLit):
        return [entry.value for entry in expr.entries]
    if isinstance(expr, Unary):
        return [expr.operand]
    if isinstance(expr, Binary | Logical):
        return [expr.left, expr.right]
    if isinstance(expr, Call):
        return list(expr.args)
    if isinstance(expr, MethodCall):
        return [expr.receiver, *expr.args]
    if isinstance(expr, Field):
        return [expr.receiver]
    if isinstance(expr, Index):
        return [expr.receiver, expr.index]
    if isinstance(expr, IfExpr):
        out: list[Expr] = []
        for cond, block in expr.branches:
            out.append(cond)
            if block.tail is not None:
                out.append(block.tail)
        if expr.else_block is not None and expr.else_block.tail is not None:
            out.append(expr.else_block.tail)
        return out
    return []
