"""Checked syntax tree → Python source, one `def` per program function.

The generated code is ordinary Python with these properties, which together make it both safe and
fast:
- It only names its own locals (program names are mangled to `<name>_<n>`, temporaries are `_t<n>`)
  and globals the runner provides (`_`-prefixed helpers, ctx members, the step counter `_S`). It
  never uses attribute syntax or subscription with a program-chosen name, so no program can reach a
  Python attribute. Its builtins are only `type`, `float`, `bool`, `abs`, `min`, `max`.
- Each operation is inlined with a type guard (`a - b if type(a) is type(b) is float else …`) and
  the guard is left out when static types (`infer.py`) prove it cannot fail; the slow branch calls a
  helper that handles the other types or raises the error.
- Every loop iteration and every function entry does `_S -= 1` and compares with zero (the step
  budget); function entry also checks the call depth, passed along as the hidden first argument `_d`.
- Expressions that contain statements (an `if` expression whose branches have `let`s, loops…) are
  "hoisted": computed into a temporary by statements emitted just before the statement that needs
  them, with any operand evaluated earlier spilled to a temporary first, so evaluation order is kept.

Static type errors found on the way (`"a" - 1`, `ctx.pricee`) are reported as compile errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import nodes as n
from .checker import UNKNOWN, FunctionInfo
from .diagnostics import Diagnostics
from .infer import ARITHMETIC, COMPARISON, EQUALITY, RANGES, Typer, is_range, plus_type
from .library import (
    ANY_METHOD,
    BUILTINS,
    CTX_FIELDS,
    CTX_METHODS,
    INDICATOR_DEFAULTS,
    INDICATOR_KEYS,
    VALUE_METHODS,
    arity_ok,
    arity_text,
    host_member_error,
)
from .positions import LineInfo, Mark
from .values import ANY, ARR, BOOL, HOST, MAP, NULL, NUM, STR

_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\(-?[0-9.e+-]+\)|-?[0-9.e+-]+|'[^'\\]*'|True|False|None")
RUNNER_CONSTANTS = {"symbol": "_SYMBOL", "timeframe": "_TIMEFRAME"}
"""ctx members read once per runner (a view's symbol and timeframe never change) into globals."""

STATIC_TYPES = True
"""Use static types to drop runtime checks. Tests turn this off to compare every inlined fast path
with the general helper path on the same programs."""

_FLAT_CHAIN = 48
"""`else if` chains longer than this compile to flat `if`s (see `flat_if`)."""
RETURN = "\0return"
"""Block sink: the block's value is the function's return value."""
_SCALAR_INDICATORS = frozenset(
    name for name in INDICATOR_DEFAULTS if name not in INDICATOR_KEYS and name != "volume_spike"
)
_EXACT = {NUM: "a number", STR: "a string", BOOL: "a bool", NULL: "null", ARR: "an array", MAP: "a map"}


def _described(ty: int) -> str:
    """`a number`, `a number or null`, `a value` (anything): a static type in an error message."""
    if ty == ANY:
        return "a value"
    exact = _EXACT.get(ty)
    if exact is not None:
        return exact
    return " or ".join(_EXACT.get(flag, "ctx") for flag in (NUM, STR, BOOL, NULL, ARR, MAP, HOST) if ty & flag)


class Frag:
    """A piece of generated Python expression, its static type, and its marks (see positions.py)."""

    __slots__ = ("const", "marks", "text", "ty")

    def __init__(self, text: str, ty: int = ANY, marks: tuple[Mark, ...] = (), const: bool = False) -> None:
        self.text = text
        self.ty = ty
        self.marks = marks
        self.const = const

    @property
    def simple(self) -> bool:
        """Can be evaluated again without side effects or cost (a name or a literal)."""
        return self.const or bool(_SIMPLE.fullmatch(self.text))


def join(parts: Sequence[str | Frag], ty: int = ANY, node: n.Node | None = None) -> Frag:
    texts: list[str] = []
    marks: list[Mark] = []
    offset = 0
    for part in parts:
        if isinstance(part, Frag):
            marks.extend((s + offset, e + offset, line, col) for s, e, line, col in part.marks)
            part = part.text
        texts.append(part)
        offset += len(part)
    if node is not None:
        marks.append((0, offset, node.line, node.col))
    return Frag("".join(texts), ty, tuple(marks))


def num_text(value: float) -> str:
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


class Emitter:
    """Lines of generated Python with their position info; one per compiled module."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.info: list[LineInfo] = []
        self.level = 0
        self.used: set[str] = set()

    def emit(self, code: str | Frag, node: n.Node, caller: bool = False) -> None:
        pad = "    " * self.level
        if isinstance(code, Frag):
            text, marks = code.text, tuple((s + len(pad), e + len(pad), line, col) for s, e, line, col in code.marks)
        else:
            text, marks = code, ()
        self.lines.append(pad + text)
        self.info.append(LineInfo(node.line, node.col, caller, marks))

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


class FunctionCompiler:
    def __init__(self, out: Emitter, info: FunctionInfo, typer: Typer, diag: Diagnostics, pyname: str) -> None:
        self.out = out
        self.info = info
        self.typer = typer
        self.diag = diag
        self.pyname = pyname
        self.temps = 0
        self.pre: dict[int, bool] = {}

    # ---- small tools -----------------------------------------------------------------------------

    def use(self, name: str) -> str:
        self.out.used.add(name)
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def emit(self, code: str | Frag, node: n.Node, caller: bool = False) -> None:
        self.out.emit(code, node, caller)

    def error(self, node: n.Node, message: str) -> Frag:
        self.diag.error(node.line, node.col, message)
        return Frag("None", ANY, const=True)

    def twice(self, frag: Frag) -> tuple[Frag | str, str]:
        """(text that evaluates `frag` once, text that reads the value again afterwards)."""
        if frag.simple:
            return frag, frag.text
        name = self.temp()
        return join(["(", name, " := ", frag, ")"], frag.ty), name

    def needs_pre(self, expr: n.Expr) -> bool:
        """Does compiling `expr` emit statements (because it holds an `if` with statements)?"""
        key = id(expr)
        known = self.pre.get(key)
        if known is None:
            known = False
            if isinstance(expr, n.IfExpr):
                blocks = [b for _, b in expr.branches] + ([expr.else_block] if expr.else_block else [])
                known = any(block.stmts for block in blocks)
            known = known or any(self.needs_pre(child) for child in n.children(expr))
            self.pre[key] = known
        return known

    def operands(self, exprs: Sequence[n.Expr]) -> list[Frag]:
        """Compile expressions evaluated left to right, keeping that order if a later one hoists."""
        last_hoisting = -1  # operands before the last one that hoists must be saved in temporaries
        for i, expr in enumerate(exprs):
            if self.needs_pre(expr):
                last_hoisting = i
        frags: list[Frag] = []
        for i, expr in enumerate(exprs):
            frag = self.expr(expr)
            if i < last_hoisting and not frag.const:
                name = self.temp()
                self.emit(join([name, " = ", frag]), expr)
                frag = Frag(name, frag.ty)
            frags.append(frag)
        return frags

    def guarded(self, fast: str, frags: Sequence[Frag], flag: int, slow: str, ty: int, node: n.Node) -> Frag:
        """`(fast if <operands have type flag> else slow)`; `{0}`, `{1}` in the templates stand for the
        operands. Every operand is evaluated exactly once, left to right, inside the check."""
        kind = "float" if flag == NUM else "bool"
        agains: list[str] = []
        evaluated: list[Frag | str] = []
        plain_checks: list[str] = []
        for frag in frags:
            if frag.simple:
                agains.append(frag.text)
                if frag.ty != flag:
                    plain_checks.append(f"type({frag.text}) is {kind}")
            else:
                first, again = self.twice(frag)
                agains.append(again)
                evaluated.append(first)
        checks: list[str | Frag] = []
        if len(evaluated) == 2:
            checks += ["type(", evaluated[0], ") is type(", evaluated[1], f") is {kind}"]
        elif evaluated:
            checks += ["type(", evaluated[0], f") is {kind}"]
        for check in plain_checks:
            checks += [" and " if checks else "", check]
        if not checks:
            return join(["(", fast.format(*agains), ")"], ty, node)
        return join(["(", fast.format(*agains), " if ", *checks, " else ", slow.format(*agains), ")"], ty, node)

    # ---- functions -------------------------------------------------------------------------------

    def function(self) -> None:
        decl = self.info.decl
        params = ["_d"] + [p.sym.pyname if p.sym is not None else f"_dup{i}" for i, p in enumerate(decl.params)]
        self.emit(f"def {self.pyname}({', '.join(params)}):", decl)
        self.out.level += 1
        self.emit("global _S", decl)
        self.emit("_S -= 1", decl, caller=True)
        self.emit(f"if _S < 0 or _d < 0: {self.use('_enter')}(_d)", decl, caller=True)
        self.block(decl.body, RETURN)
        self.emit("return None", decl)
        self.out.level -= 1

    # ---- statements ------------------------------------------------------------------------------

    def block(self, block: n.Block, sink: str | None) -> None:
        before = len(self.out.lines)
        for stmt in block.stmts:
            self.stmt(stmt)
        if block.tail is not None:
            self.tail(block.tail, sink)
        elif sink is not None and sink != RETURN:
            self.emit(f"{sink} = None", block)
        if len(self.out.lines) == before:
            self.emit("pass", block)

    def tail(self, expr: n.Expr, sink: str | None) -> None:
        if isinstance(expr, n.IfExpr):
            self.if_stmt(expr, sink)
            return
        frag = self.expr(expr)
        if sink is None:
            self.emit(frag, expr)
        elif sink == RETURN:
            self.emit(join(["return ", frag]), expr)
        else:
            self.emit(join([sink, " = ", frag]), expr)

    def stmt(self, stmt: n.Stmt) -> None:
        if isinstance(stmt, n.Let):
            self.emit(join([stmt.sym.pyname, " = ", self.expr(stmt.value)]), stmt)
        elif isinstance(stmt, n.Assign):
            self.assign(stmt)
        elif isinstance(stmt, n.ExprStmt):
            self.tail(stmt.expr, None)
        elif isinstance(stmt, n.For):
            self.for_loop(stmt)
        elif isinstance(stmt, n.While):
            self.while_loop(stmt)
        elif isinstance(stmt, n.Break):
            self.emit("break", stmt)
        elif isinstance(stmt, n.Continue):
            self.emit("continue", stmt)
        elif isinstance(stmt, n.Return):
            value = self.expr(stmt.value) if stmt.value is not None else Frag("None")
            self.emit(join(["return ", value]), stmt)

    def step(self, node: n.Node) -> None:
        self.emit("_S -= 1", node)
        self.emit(f"if _S < 0: {self.use('_refill')}()", node)

    def for_loop(self, stmt: n.For) -> None:
        iterable = stmt.iterable
        if is_range(iterable):
            assert isinstance(iterable, n.Binary)
            start, stop = self.operands([iterable.left, iterable.right])
            helper = self.use("_range_iter_incl" if iterable.op == "..=" else "_range_iter")
            source = join([helper, "(", start, ", ", stop, ")"], ARR, iterable)
        else:
            source = join([self.use("_iterate"), "(", self.expr(iterable), ")"], ARR, stmt)
        self.emit(join(["for ", stmt.sym.pyname, " in ", source, ":"]), stmt)
        self.out.level += 1
        self.step(stmt)
        self.block(stmt.body, None)
        self.out.level -= 1

    def while_loop(self, stmt: n.While) -> None:
        if self.needs_pre(stmt.cond):
            self.emit("while True:", stmt)
            self.out.level += 1
            self.step(stmt)
            cond = self.condition(stmt.cond)
            self.emit(join(["if not ", cond, ": break"]), stmt)
        else:
            cond = self.condition(stmt.cond)
            self.emit(join(["while ", cond, ":"]), stmt)
            self.out.level += 1
            self.step(stmt)
        self.block(stmt.body, None)
        self.out.level -= 1

    def if_stmt(self, expr: n.IfExpr, sink: str | None) -> None:
        later = expr.branches[1:]
        if len(later) > _FLAT_CHAIN or any(self.needs_pre(cond) for cond, _ in later):
            self.flat_if(expr, sink)
            return
        for i, (cond_expr, block) in enumerate(expr.branches):
            keyword = "if " if i == 0 else "elif "
            self.emit(join([keyword, self.condition(cond_expr), ":"]), cond_expr)
            self.indented(block, sink)
        if expr.else_block is not None:
            self.emit("else:", expr.else_block)
            self.indented(expr.else_block, sink)
        elif sink is not None and sink != RETURN:
            self.emit("else:", expr)
            self.out.level += 1
            self.emit(f"{sink} = None", expr)
            self.out.level -= 1

    def flat_if(self, expr: n.IfExpr, sink: str | None) -> None:
        """An `else if` chain as a flat run of `if`s guarded by a "no branch taken yet" flag.

        Python nests `elif` (and any `else:` needed to compute a condition first) in its syntax
        tree; long chains would exhaust the Python compiler's recursion or indentation limits.
        """
        pending = self.temp()
        self.emit(f"{pending} = True", expr)
        for i, (cond_expr, block) in enumerate(expr.branches):
            opened = 0
            if i and self.needs_pre(cond_expr):
                self.emit(f"if {pending}:", cond_expr)
                self.out.level += 1
                opened = 1
                self.emit(join(["if ", self.condition(cond_expr), ":"]), cond_expr)
            elif i:
                self.emit(join([f"if {pending} and ", self.condition(cond_expr), ":"]), cond_expr)
            else:
                self.emit(join(["if ", self.condition(cond_expr), ":"]), cond_expr)
            self.out.level += 1
            self.emit(f"{pending} = False", cond_expr)
            self.out.level -= 1
            self.indented(block, sink)
            self.out.level -= opened
        if expr.else_block is not None or (sink is not None and sink != RETURN):
            self.emit(f"if {pending}:", expr)
            if expr.else_block is not None:
                self.indented(expr.else_block, sink)
            else:
                self.out.level += 1
                self.emit(f"{sink} = None", expr)
                self.out.level -= 1

    def indented(self, block: n.Block, sink: str | None) -> None:
        self.out.level += 1
        self.block(block, sink)
        self.out.level -= 1

    def assign(self, stmt: n.Assign) -> None:
        """`place = value` and `place op= value`. The place's parts, and for `op=` its current value,
        are evaluated before the value (kept in temporaries when the value hoists statements)."""
        target = stmt.target
        hoists = self.needs_pre(stmt.value)
        if isinstance(target, n.Name):
            sym = target.sym
            if sym is None:
                self.expr(stmt.value)
                return
            if stmt.op == "=":
                value = self.expr(stmt.value)
            else:
                current = self.spill(Frag(sym.pyname, self.typer.name(sym)), stmt, hoists)
                value = self.binop(stmt.op[0], current, self.expr(stmt.value), stmt)
            self.emit(join([sym.pyname, " = ", value]), stmt)
        elif isinstance(target, n.Field):
            if self.typer.is_ctx(target.receiver):
                hint = "; set its keys instead, like `ctx.state.key = value`" if target.name == "state" else ""
                self.error(target, f"cannot change `ctx.{target.name}`; ctx is read-only{hint}")
                return
            if stmt.op == "=":
                receiver, value = self.operands([target.receiver, stmt.value])
            else:
                receiver = self.spill(self.expr(target.receiver), target.receiver, True)
                current = self.spill(self.field_of(receiver, target.name, target), target, hoists)
                value = self.binop(stmt.op[0], current, self.expr(stmt.value), stmt)
            helper = self.use("_map_set" if receiver.ty == MAP else "_set_field")
            self.emit(join([helper, "(", receiver, ", ", ascii(target.name), ", ", value, ")"], node=target), stmt)
        else:
            assert isinstance(target, n.Index)
            if stmt.op == "=":
                receiver, index, value = self.operands([target.receiver, target.index, stmt.value])
            else:
                receiver, index = (
                    self.spill(frag, target, True) for frag in self.operands([target.receiver, target.index])
                )
                current = join([self.use("_index"), "(", receiver, ", ", index, ")"], ANY, target)
                value = self.binop(stmt.op[0], self.spill(current, target, hoists), self.expr(stmt.value), stmt)
            self.emit(join([self.use("_set_index"), "(", receiver, ", ", index, ", ", value, ")"], node=target), stmt)

    def spill(self, frag: Frag, node: n.Node, always: bool = False) -> Frag:
        """`frag` as something that can be read again later: itself if it is a literal (or a name
        and not `always`), else a temporary assigned now."""
        if frag.const or (frag.simple and not always):
            return frag
        name = self.temp()
        self.emit(join([name, " = ", frag]), node)
        return Frag(name, frag.ty)

    # ---- conditions ------------------------------------------------------------------------------

    def condition(self, expr: n.Expr) -> Frag:
        frag = self.expr(expr)
        if frag.ty == BOOL or frag.text in ("True", "False"):
            return frag
        if not frag.ty & BOOL:
            return self.error(expr, f"a condition must be true or false, got {_described(frag.ty)}")
        if frag.const:  # a literal that is not a bool: always an error when reached
            return join([self.use("_cond"), "(", frag, ")"], BOOL, expr)
        first, again = self.twice(frag)
        return join(["(", first, " is True or ", self.use("_cond"), "(", again, "))"], BOOL, expr)

    def bool_operand(self, frag: Frag, op: str, node: n.Expr) -> Frag:
        if frag.ty == BOOL:
            return frag
        if not frag.ty & BOOL:
            return self.error(node, f"`{op}` needs true or false on both sides, got {_described(frag.ty)}")
        helper = self.use("_bool_error")
        return self.guarded("{0}", [frag], BOOL, helper + "(" + ascii(op) + ", {0})", BOOL, node)

    # ---- expressions -----------------------------------------------------------------------------

    def expr(self, expr: n.Expr) -> Frag:
        frag = self._expr(expr)
        if not STATIC_TYPES:
            frag.ty = ANY
        return frag

    def _expr(self, expr: n.Expr) -> Frag:
        if isinstance(expr, n.Num):
            return Frag(num_text(expr.value), NUM, const=True)
        if isinstance(expr, n.Str):
            return Frag(ascii(expr.value), STR, const=True)
        if isinstance(expr, n.Bool):
            return Frag("True" if expr.value else "False", BOOL, const=True)
        if isinstance(expr, n.Null):
            return Frag("None", NULL, const=True)
        if isinstance(expr, n.Name):
            return self.name(expr)
        if isinstance(expr, n.ArrayLit):
            if not expr.items:
                return Frag("[]", ARR)
            items = self.operands(expr.items)
            parts: list[str | Frag] = [self.use("_lit_array"), "(["]
            for i, item in enumerate(items):
                parts += [", " if i else "", item]
            return join([*parts, "])"], ARR, expr)
        if isinstance(expr, n.MapLit):
            if not expr.entries:
                return Frag("{}", MAP)
            values = self.operands([entry.value for entry in expr.entries])
            parts = [self.use("_lit_map"), "({"]
            for i, (entry, value) in enumerate(zip(expr.entries, values, strict=True)):
                parts += [", " if i else "", ascii(entry.key), ": ", value]
            return join([*parts, "})"], MAP, expr)
        if isinstance(expr, n.Unary):
            return self.unary(expr)
        if isinstance(expr, n.Binary):
            return self.binary(expr)
        if isinstance(expr, n.Logical):
            return self.logical(expr)
        if isinstance(expr, n.Call):
            return self.call(expr)
        if isinstance(expr, n.MethodCall):
            return self.method_call(expr)
        if isinstance(expr, n.Field):
            if self.typer.is_ctx(expr.receiver):
                return self.ctx_field(expr)
            return self.field_of(self.expr(expr.receiver), expr.name, expr)
        if isinstance(expr, n.Index):
            receiver, index = self.operands([expr.receiver, expr.index])
            return join([self.use("_index"), "(", receiver, ", ", index, ")"], ANY, expr)
        if isinstance(expr, n.IfExpr):
            return self.if_expr(expr)
        return Frag("None", ANY, const=True)  # an ErrorExpr: its syntax error is reported already

    def name(self, expr: n.Name) -> Frag:
        sym = expr.sym
        if sym is None:  # already reported by the checker; keep going to find more errors
            return Frag("None", ANY, const=True)
        if sym.kind == "const":
            value = sym.value
            ty = self.typer.name(sym)
            if value is UNKNOWN:
                return Frag(self.use(sym.pyname), ANY)
            if ty == NUM:
                return Frag(num_text(value), NUM, const=True)  # type: ignore[arg-type]
            if ty == STR:
                return Frag(ascii(value), STR, const=True)
            if ty in (BOOL, NULL):
                return Frag(repr(value), ty, const=True)
            return Frag(self.use(sym.pyname), ty)
        return Frag(sym.pyname, self.typer.name(sym))

    def unary(self, expr: n.Unary) -> Frag:
        operand = self.expr(expr.operand)
        if expr.op == "-":
            if operand.ty == NUM:
                return join(["(-", operand, ")"], NUM, expr)
            if not operand.ty & NUM:
                return self.error(expr, f"`-` needs a number, got {_described(operand.ty)}")
            return self.guarded("(-{0})", [operand], NUM, self.use("_neg_error") + "({0})", NUM, expr)
        if operand.ty == BOOL:
            return join(["(not ", operand, ")"], BOOL, expr)
        if not operand.ty & BOOL:
            return self.error(expr, f"`!` needs true or false, got {_described(operand.ty)}")
        return self.guarded("(not {0})", [operand], BOOL, self.use("_not_error") + "({0})", BOOL, expr)

    def binary(self, expr: n.Binary) -> Frag:
        if expr.op in EQUALITY:
            return self.equality(expr)
        left, right = self.operands([expr.left, expr.right])
        if expr.op in RANGES:
            inclusive = "True" if expr.op == "..=" else "False"
            return join([self.use("_range_list"), "(", left, ", ", right, f", {inclusive})"], ARR, expr)
        return self.binop(expr.op, left, right, expr)

    def binop(self, op: str, left: Frag, right: Frag, node: n.Node) -> Frag:
        """`left op right` for arithmetic and ordering operators (also used by `x op= y`)."""
        both = f"{{0}} {op} {{1}}"
        if op == "**":
            if not (left.ty & NUM and right.ty & NUM):
                return self.error(node, f"`**` needs two numbers, got {_described(left.ty)} and {_described(right.ty)}")
            return join([self.use("_pow"), "(", left, ", ", right, ")"], NUM, node)
        if op in ARITHMETIC:
            if left.ty == NUM and right.ty == NUM:
                return join(["(", left, f" {op} ", right, ")"], NUM, node)
            if not (left.ty & NUM and right.ty & NUM):
                return self.error(
                    node, f"`{op}` needs two numbers, got {_described(left.ty)} and {_described(right.ty)}"
                )
            slow = self.use("_arith_error") + f"({op!r}, {{0}}, {{1}})"
            return self.guarded(both, [left, right], NUM, slow, NUM, node)
        if op == "+":
            result = plus_type(left.ty, right.ty)
            if not result:
                hint = " — convert with str(x) to join text" if STR & (left.ty | right.ty) else ""
                return self.error(
                    node,
                    f"`+` needs two numbers or two strings, got {_described(left.ty)} and {_described(right.ty)}{hint}",
                )
            if left.ty == NUM and right.ty == NUM:
                return join(["(", left, " + ", right, ")"], NUM, node)
            if left.ty == STR and right.ty == STR:
                return join([self.use("_cat"), "(", left, ", ", right, ")"], STR, node)
            if not result & NUM:
                return join([self.use("_add"), "(", left, ", ", right, ")"], result, node)
            return self.guarded(both, [left, right], NUM, self.use("_add") + "({0}, {1})", result, node)
        assert op in COMPARISON
        if (left.ty == NUM and right.ty == NUM) or (left.ty == STR and right.ty == STR):
            return join(["(", left, f" {op} ", right, ")"], BOOL, node)
        if not (left.ty & right.ty & (NUM | STR)):
            return self.error(
                node, f"`{op}` needs two numbers or two strings, got {_described(left.ty)} and {_described(right.ty)}"
            )
        if not left.ty & right.ty & NUM:
            return join([self.use("_compare"), f"({op!r}, ", left, ", ", right, ")"], BOOL, node)
        slow = self.use("_compare") + f"({op!r}, {{0}}, {{1}})"
        return self.guarded(both, [left, right], NUM, slow, BOOL, node)

    def equality(self, expr: n.Binary) -> Frag:
        negate = expr.op == "!="
        literal, other_expr = (expr.left, expr.right) if _is_literal(expr.left) else (expr.right, expr.left)
        if _is_literal(literal):
            other = self.expr(other_expr)
            self.never_equal(expr, other.ty, _LITERAL_TYPES[type(literal)], negate)
            if isinstance(literal, n.Null | n.Bool):
                word = "None" if isinstance(literal, n.Null) else repr(literal.value)
                if other.const:  # both known now; also avoids Python's warning about `1.0 is None`
                    return Frag(repr((other.text == word) != negate), BOOL, const=True)
                return join(["(", other, " is not " if negate else " is ", word, ")"], BOOL, expr)
            if isinstance(literal, n.Str) or other.ty == NUM:
                constant = self.expr(literal).text
                return join(["(", other, " != " if negate else " == ", constant, ")"], BOOL, expr)
            constant = num_text(literal.value)  # type: ignore[union-attr]
            first, again = self.twice(other)
            if negate:
                return join(["(type(", first, f") is not float or {again} != {constant})"], BOOL, expr)
            return join(["(type(", first, f") is float and {again} == {constant})"], BOOL, expr)
        left, right = self.operands([expr.left, expr.right])
        op = " != " if negate else " == "
        if (left.ty == right.ty == NUM) or (left.ty == right.ty == STR):
            return join(["(", left, op, right, ")"], BOOL, expr)
        if left.ty == right.ty == BOOL:
            return join(["(", left, " is not " if negate else " is ", right, ")"], BOOL, expr)
        self.never_equal(expr, left.ty, right.ty, negate)
        helper = self.use("_ne" if negate else "_eq")
        return join([helper, "(", left, ", ", right, ")"], BOOL, expr)

    def never_equal(self, expr: n.Binary, left: int, right: int, negate: bool) -> None:
        if not left & right:
            always = "true" if negate else "false"
            self.diag.warning(
                expr.line, expr.col, f"comparing {_described(left)} with {_described(right)} is always {always}"
            )

    def logical(self, expr: n.Logical) -> Frag:
        left = self.bool_operand(self.expr(expr.left), expr.op, expr.left)
        word = " and " if expr.op == "&&" else " or "
        if self.needs_pre(expr.right):
            name = self.temp()
            self.emit(join([name, " = ", left]), expr)
            self.emit(f"if {'' if expr.op == '&&' else 'not '}{name}:", expr)
            self.out.level += 1
            right = self.bool_operand(self.expr(expr.right), expr.op, expr.right)
            self.emit(join([name, " = ", right]), expr)
            self.out.level -= 1
            return Frag(name, BOOL)
        right = self.bool_operand(self.expr(expr.right), expr.op, expr.right)
        return join(["(", left, word, right, ")"], BOOL, expr)

    def if_expr(self, expr: n.IfExpr) -> Frag:
        ty = self.typer.of(expr)
        if self.needs_pre(expr):
            name = self.temp()
            self.if_stmt(expr, name)
            return Frag(name, ty)
        rest = self.expr(expr.else_block.tail) if expr.else_block and expr.else_block.tail else Frag("None", NULL)
        for cond_expr, block in reversed(expr.branches):
            cond = self.condition(cond_expr)
            value = self.expr(block.tail) if block.tail is not None else Frag("None", NULL)
            rest = join(["(", value, " if ", cond, " else ", rest, ")"], ty)
        return join([rest], ty, expr)

    # ---- calls, fields, methods ------------------------------------------------------------------

    def call(self, expr: n.Call) -> Frag:
        args = self.operands(expr.args)
        target = expr.target
        if target is None:
            return Frag("None", ANY, const=True)
        if isinstance(target, n.FnDecl):
            parts: list[str | Frag] = [self.use(f"_f_{target.name}"), "(_d - 1"]
            for arg in args:
                parts += [", ", arg]
            return join([*parts, ")"], ANY, expr)
        spec = BUILTINS[expr.name]
        if expr.name == "is_null":
            if args[0].const:
                return Frag(repr(args[0].text == "None"), BOOL, const=True)
            return join(["(", args[0], " is None)"], BOOL, expr)
        enough = len(args) >= (1 if expr.name == "abs" else 2)
        if expr.name in ("abs", "min", "max") and enough and all(arg.ty == NUM for arg in args):
            return join([self._python_call(expr.name, args)], NUM, expr)
        return join([self._python_call(self.use("_" + spec.helper), args)], spec.result, expr)

    @staticmethod
    def _python_call(callee: str, args: Sequence[Frag], first: str = "") -> Frag:
        parts: list[str | Frag] = [callee, "(", first]
        for i, arg in enumerate(args):
            parts += [", " if i or first else "", arg]
        return join([*parts, ")"])

    def method_call(self, expr: n.MethodCall) -> Frag:
        if self.typer.is_ctx(expr.receiver):
            return self.ctx_method(expr)
        receiver, *args = self.operands([expr.receiver, *expr.args])
        table = VALUE_METHODS.get(receiver.ty)
        if table is not None:
            spec = table.get(expr.name)
            if spec is None:
                if expr.name not in ANY_METHOD:  # the checker said so already
                    return Frag("None", ANY, const=True)
                return self.error(expr, f"{_described(receiver.ty)} has no method `{expr.name}`")
            if not arity_ok(spec, len(args)):
                return self.error(expr, arity_text(expr.name, spec))
            if receiver.ty == MAP and expr.name == "get" and isinstance(expr.args[0], n.Str):
                default = args[1] if len(args) == 2 else Frag("None", NULL, const=True)
                if default.simple:  # evaluating it only when the key is missing cannot be told apart
                    first, again = self.twice(receiver)
                    key = args[0].text
                    text = [f"({again}[{key}] if {key} in ", first, " else ", default, ")"]
                    return join(text, ANY, expr)
            return join([self._python_call(self.use("_" + spec.helper), [receiver, *args])], spec.result, expr)
        if receiver.ty in (NUM, BOOL, NULL) and expr.name in ANY_METHOD:
            return self.error(expr, f"{_described(receiver.ty)} has no method `{expr.name}`")
        call = self._python_call(self.use("_meth"), [receiver, Frag(ascii(expr.name), STR, const=True), *args])
        return join([call], ANY, expr)

    def field_of(self, receiver: Frag, name: str, node: n.Node) -> Frag:
        key = ascii(name)
        if receiver.ty == MAP:
            first, again = self.twice(receiver)
            missing = self.use("_missing_key")
            return join([f"({again}[{key}] if {key} in ", first, f" else {missing}({again}, {key}))"], ANY, node)
        if receiver.ty in _EXACT and receiver.ty != MAP:
            table = VALUE_METHODS.get(receiver.ty, {})
            hint = f" — `{name}` is a method: `.{name}()`" if name in table else ""
            return self.error(node, f"cannot read field `{name}` of {_described(receiver.ty)}{hint}")
        return join([self.use("_field"), "(", receiver, f", {key})"], ANY, node)

    def ctx_field(self, expr: n.Field) -> Frag:
        spec = CTX_FIELDS.get(expr.name)
        if spec is None:
            return self.error(expr, host_member_error("ctx", CTX_FIELDS, CTX_METHODS, expr.name, called=False))
        if expr.name in RUNNER_CONSTANTS:
            return Frag(self.use(RUNNER_CONSTANTS[expr.name]), spec.result)
        return join([self.use(f"_cf_{expr.name}"), "()"], spec.result, expr)

    def ctx_method(self, expr: n.MethodCall) -> Frag:
        spec = CTX_METHODS.get(expr.name)
        if spec is None:
            return self.error(expr, host_member_error("ctx", CTX_FIELDS, CTX_METHODS, expr.name, called=True))
        if not arity_ok(spec, len(expr.args)):
            return self.error(expr, arity_text(f"ctx.{expr.name}", spec))
        if expr.name in INDICATOR_DEFAULTS and all(isinstance(arg, n.Num) for arg in expr.args):
            return self.indicator(expr)
        args = self.operands(expr.args)
        return join([self._python_call(self.use(f"_cm_{expr.name}"), args)], spec.result, expr)

    def indicator(self, expr: n.MethodCall) -> Frag:
        """`ctx.sma(10)` with literal arguments: call the view directly with a constant tuple."""
        given = tuple(arg.value for arg in expr.args)  # type: ignore[attr-defined]
        args = given + INDICATOR_DEFAULTS[expr.name][len(given) :]
        call = f"{self.use('_VI')}({expr.name!r}, {args!r})"
        norm = self.use("_norm_ind")
        if expr.name in _SCALAR_INDICATORS:
            value = self.temp()
            fast = f"type({value} := {call}) is float and {value} == {value}"  # a float that is not NaN
            return join([f"({value} if {fast} else {norm}({expr.name!r}, {value}))"], NUM | NULL, expr)
        return join([f"{norm}({expr.name!r}, {call})"], CTX_METHODS[expr.name].result, expr)


_LITERAL_TYPES = {n.Null: NULL, n.Bool: BOOL, n.Str: STR, n.Num: NUM}


def _is_literal(expr: n.Expr) -> bool:
    return isinstance(expr, n.Null | n.Bool | n.Str | n.Num)


def compile_function(out: Emitter, info: FunctionInfo, typer: Typer, diag: Diagnostics, pyname: str) -> None:
    FunctionCompiler(out, info, typer, diag, pyname).function()
