"""Static types of expressions and variables, so the compiler can drop checks that cannot fail.

A type is a set of possible runtime types (`values.NUM | values.NULL`…). It must be *sound*: a value
an expression can really produce must be in its set, because the compiler emits a bare Python `a + b`
or `a < b` only when both sets are exactly `NUM`. Variables are sound by construction: a program has
no closures, so every assignment to a local is visible in its function, and a variable's set is the
union over all of them (computed to a fixpoint, since assignments can read other variables).
Parameters are `ANY`, except `run`'s, which always holds ctx.
"""

from __future__ import annotations

from . import nodes as n
from .checker import UNKNOWN, FunctionInfo, Symbol
from .library import BUILTINS, CTX_FIELDS, CTX_METHODS, VALUE_METHODS
from .values import ANY, ARR, BOOL, HOST, MAP, NULL, NUM, STR, static_type_of

ARITHMETIC = frozenset({"-", "*", "/", "%", "**"})
COMPARISON = frozenset({"<", "<=", ">", ">="})
EQUALITY = frozenset({"==", "!="})
RANGES = frozenset({"..", "..="})


def plus_type(left: int, right: int) -> int:
    """`+` gives a number when both sides may be numbers, a string when both may be strings."""
    return (NUM if left & right & NUM else 0) | (STR if left & right & STR else 0)


def binary_type(op: str, left: int, right: int) -> int:
    if op == "+":
        return plus_type(left, right) or NUM
    if op in ARITHMETIC:
        return NUM
    if op in RANGES:
        return ARR
    return BOOL


def is_range(expr: n.Expr) -> bool:
    return isinstance(expr, n.Binary) and expr.op in RANGES


class Typer:
    def __init__(self, info: FunctionInfo) -> None:
        self.info = info
        self.ctx = info.ctx if info.ctx is not None and info.ctx.writes == 0 else None

    def is_ctx(self, expr: n.Expr) -> bool:
        """True when `expr` is certainly ctx: the unassigned parameter of `run`."""
        return self.ctx is not None and isinstance(expr, n.Name) and expr.sym is self.ctx

    def of(self, expr: n.Expr) -> int:
        if isinstance(expr, n.Num):
            return NUM
        if isinstance(expr, n.Str):
            return STR
        if isinstance(expr, n.Bool):
            return BOOL
        if isinstance(expr, n.Null):
            return NULL
        if isinstance(expr, n.ArrayLit):
            return ARR
        if isinstance(expr, n.MapLit):
            return MAP
        if isinstance(expr, n.Name):
            return self.name(expr.sym)
        if isinstance(expr, n.Unary):
            return NUM if expr.op == "-" else BOOL
        if isinstance(expr, n.Binary):
            return binary_type(expr.op, self.of(expr.left), self.of(expr.right))
        if isinstance(expr, n.Logical):
            return BOOL
        if isinstance(expr, n.Call):
            return BUILTINS[expr.name].result if isinstance(expr.target, str) else ANY
        if isinstance(expr, n.MethodCall):
            return self.method(expr)
        if isinstance(expr, n.Field):
            if self.is_ctx(expr.receiver) and expr.name in CTX_FIELDS:
                return CTX_FIELDS[expr.name].result
            return ANY
        if isinstance(expr, n.IfExpr):
            result = 0 if expr.else_block is not None else NULL
            for block in [b for _, b in expr.branches] + ([expr.else_block] if expr.else_block else []):
                result |= self.of(block.tail) if block.tail is not None else NULL
            return result
        return ANY

    def name(self, sym: Symbol | None) -> int:
        if sym is None:
            return ANY
        if sym.kind == "const":
            return ANY if sym.value is UNKNOWN else static_type_of(sym.value)
        return sym.ty

    def method(self, expr: n.MethodCall) -> int:
        if self.is_ctx(expr.receiver):
            spec = CTX_METHODS.get(expr.name)
            return spec.result if spec is not None else ANY
        receiver = self.of(expr.receiver)
        table = VALUE_METHODS.get(receiver)
        if table is not None and expr.name in table:
            return table[expr.name].result
        return ANY

    def loop_var(self, stmt: n.For) -> int:
        if is_range(stmt.iterable):
            return NUM
        return STR if self.of(stmt.iterable) == MAP else ANY


def infer(info: FunctionInfo) -> Typer:
    """Fill `ty` of every local and loop variable of a function; return the typer to query it."""
    typer = Typer(info)
    for sym in info.symbols:
        sym.ty = HOST if sym is typer.ctx else (ANY if sym.kind == "param" else 0)
    changed = True
    while changed:
        changed = False
        for sym, ty in _assignments(info.decl.body, typer):
            if ty & ~sym.ty:
                sym.ty |= ty
                changed = True
    return typer


def _assignments(block: n.Block, typer: Typer) -> list[tuple[Symbol, int]]:
    """(variable, type assigned) for every assignment in `block`, nested blocks included."""
    out: list[tuple[Symbol, int]] = []
    stack: list[n.Block] = [block]
    while stack:
        current = stack.pop()
        for stmt in current.stmts:
            if isinstance(stmt, n.Let) and stmt.sym is not None:
                out.append((stmt.sym, typer.of(stmt.value)))
            elif isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name) and stmt.target.sym is not None:
                sym = stmt.target.sym
                value = typer.of(stmt.value)
                out.append((sym, value if stmt.op == "=" else binary_type(stmt.op[0], sym.ty, value)))
            elif isinstance(stmt, n.For):
                if stmt.sym is not None:
                    out.append((stmt.sym, typer.loop_var(stmt)))
                stack.append(stmt.body)
            elif isinstance(stmt, n.While):
                stack.append(stmt.body)
            for expr in _stmt_exprs(stmt):
                stack.extend(_blocks_in(expr))
        if current.tail is not None:
            stack.extend(_blocks_in(current.tail))
    return out


def _stmt_exprs(stmt: n.Stmt) -> list[n.Expr]:
    if isinstance(stmt, n.Let):
        return [stmt.value]
    if isinstance(stmt, n.Assign):
        return [stmt.target, stmt.value]
    if isinstance(stmt, n.ExprStmt):
        return [stmt.expr]
    if isinstance(stmt, n.For):
        return [stmt.iterable]
    if isinstance(stmt, n.While):
        return [stmt.cond]
    if isinstance(stmt, n.Return) and stmt.value is not None:
        return [stmt.value]
    return []


def _blocks_in(expr: n.Expr) -> list[n.Block]:
    """Blocks of if-expressions anywhere inside `expr` (they may hold assignments)."""
    blocks: list[n.Block] = []
    stack = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, n.IfExpr):
            blocks.extend(block for _, block in current.branches)
            if current.else_block is not None:
                blocks.append(current.else_block)
            stack.extend(cond for cond, _ in current.branches)  # tails are visited with their blocks
        else:
            stack.extend(n.children(current))
    return blocks
