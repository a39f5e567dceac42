"""Static checks on a parsed program, and name resolution for the compiler.

Checks: exactly one `fn run(ctx)`; no duplicate functions, constants or parameters; names declared
before use (block scoping, `let` may shadow); calls name a known function with the right number of
arguments; methods exist on some value with a plausible arity; `break`/`continue` inside a loop body;
assignments only to variables, fields and elements of declared variables; constants built only from
values, operators, builtins and earlier constants. Warnings: unused variables, functions and
constants; unreachable statements; a `let` hiding another in the same block.

Every name that resolves gets a `Symbol`, which also carries the Python identifier the compiler will
emit for it: `<name>_<n>`, unique per function, so block scoping maps onto Python's function scoping
and no program name can collide with a helper (helpers start with `_`, program names cannot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import nodes as n
from .diagnostics import Diagnostics, did_you_mean
from .library import ANY_METHOD, BUILTINS, CTX_FIELDS, arity_ok, arity_text

UNKNOWN = object()
"""The value of a constant that could not be computed (the program has errors)."""

MAX_LOOP_NESTING = 16
"""Python refuses more than 20 nested loops in one function; keep well clear of it."""


@dataclass(slots=True, eq=False)
class Symbol:
    name: str
    kind: str
    """`local`, `param`, `loop` or `const`."""
    line: int
    col: int
    pyname: str
    reads: int = 0
    writes: int = 0
    ty: int = 0
    """Static type (a `values` flag set), filled by `infer.py`."""
    value: object = None
    """A constant's value, filled by the compiler after evaluating it (`UNKNOWN` until then)."""


@dataclass(slots=True)
class FunctionInfo:
    decl: n.FnDecl
    symbols: list[Symbol] = field(default_factory=list)
    ctx: Symbol | None = None
    """For `run`: its parameter, which always holds ctx (the program cannot call `run`)."""


@dataclass(slots=True)
class Checked:
    program: n.Program
    functions: dict[str, FunctionInfo]
    consts: list[n.ConstDecl]
    const_infos: dict[str, FunctionInfo]
    """Constants are compiled like functions without parameters; their local symbols live here."""


class Checker:
    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diag = diagnostics
        self.functions: dict[str, n.FnDecl] = {}
        self.consts: dict[str, Symbol] = {}
        self.const_order: dict[str, int] = {}
        self.scopes: list[dict[str, Symbol]] = []
        self.info: FunctionInfo | None = None
        self.counters: dict[str, int] = {}
        self.loop_depth = 0
        self.const_index: int | None = None
        """While checking constant number i: only constants before it are visible."""

    def error(self, node: n.Node, message: str) -> None:
        self.diag.error(node.line, node.col, message)

    def warn(self, node: n.Node, message: str) -> None:
        self.diag.warning(node.line, node.col, message)

    # ---- program ---------------------------------------------------------------------------------

    def check(self, program: n.Program) -> Checked:
        for fn in program.functions:
            self.declare_function(fn)
        for index, const in enumerate(program.consts):
            if const.name in self.consts:
                first = self.consts[const.name]
                self.error(const, f"constant `{const.name}` is already defined at line {first.line}")
                continue
            const.sym = Symbol(const.name, "const", const.line, const.col, f"_k_{const.name}", value=UNKNOWN)
            self.consts[const.name] = const.sym
            self.const_order[const.name] = index
        run = self.functions.get("run")
        if run is None:
            self.diag.error(1, 1, "a program needs a `fn run(ctx) { ... }` — it is what the platform calls")
        elif len(run.params) != 1:
            self.error(run, "`run` must take exactly one parameter: `fn run(ctx)`")
        const_infos: dict[str, FunctionInfo] = {}
        for index, const in enumerate(program.consts):
            if const.sym is not None:
                self.const_index = index
                self.info = FunctionInfo(n.FnDecl(const.line, const.col, const.name, [], n.Block(0, 0, [], None)))
                self.counters = {}
                self.scopes = [{}]
                self.expr(const.value)
                const_infos[const.name] = self.info
        self.const_index = None
        infos: dict[str, FunctionInfo] = {}
        for fn in program.functions:
            if self.functions.get(fn.name) is fn:
                infos[fn.name] = self.function(fn)
        for fn in program.functions:
            if fn.name != "run" and fn.calls == 0 and self.functions.get(fn.name) is fn:
                self.warn(fn, f"function `{fn.name}` is never called")
        for const in program.consts:
            if const.sym is not None and const.sym.reads == 0:
                self.warn(const, f"constant `{const.name}` is never used")
        return Checked(program, infos, [c for c in program.consts if c.sym is not None], const_infos)

    def declare_function(self, fn: n.FnDecl) -> None:
        if fn.name in BUILTINS:
            self.error(fn, f"`{fn.name}` is a builtin function; choose another name")
        elif fn.name in self.functions:
            self.error(fn, f"function `{fn.name}` is already defined at line {self.functions[fn.name].line}")
        else:
            self.functions[fn.name] = fn

    def function(self, fn: n.FnDecl) -> FunctionInfo:
        self.info = FunctionInfo(fn)
        self.counters = {}
        self.scopes = [{}]
        for param in fn.params:
            if param.name in self.scopes[0]:
                self.error(param, f"parameter `{param.name}` appears twice")
                continue
            param.sym = self.declare(param.name, "param", param)
        if fn.name == "run" and fn.params and fn.params[0].sym is not None:
            self.info.ctx = fn.params[0].sym
        self.block(fn.body)
        self.scopes = []
        return self.info

    # ---- scopes ----------------------------------------------------------------------------------

    def declare(self, name: str, kind: str, node: n.Node) -> Symbol:
        count = self.counters.get(name, 0)
        self.counters[name] = count + 1
        sym = Symbol(name, kind, node.line, node.col, f"{name}_{count}")
        self.scopes[-1][name] = sym
        assert self.info is not None
        self.info.symbols.append(sym)
        return sym

    def lookup(self, name: str) -> Symbol | None:
        for scope in reversed(self.scopes):
            sym = scope.get(name)
            if sym is not None:
                return sym
        const = self.consts.get(name)
        if const is not None and (self.const_index is None or self.const_order[name] < self.const_index):
            return const
        return None

    def visible_names(self) -> list[str]:
        names = [name for scope in self.scopes for name in scope]
        return names + [
            name for name in self.consts if self.const_index is None or self.const_order[name] < self.const_index
        ]

    def unknown_name(self, node: n.Node, name: str, assigning: bool = False) -> None:
        if name in self.functions or name in BUILTINS:
            self.error(node, f"`{name}` is a function; call it like `{name}(...)`")
        elif name in self.consts and self.const_index is not None:
            self.error(node, f"constant `{name}` is used before it is declared")
        elif assigning:
            self.error(
                node,
                f"cannot assign to `{name}`: no such variable — declare it first with `let {name} = ...;`"
                + did_you_mean(name, self.visible_names()),
            )
        else:
            self.error(node, f"unknown variable `{name}`{did_you_mean(name, self.visible_names())}")

    def close_scope(self) -> None:
        for sym in self.scopes.pop().values():
            if sym.kind == "local" and sym.reads == 0:
                self.diag.warning(sym.line, sym.col, f"unused variable `{sym.name}`")

    # ---- statements ------------------------------------------------------------------------------

    def block(self, block: n.Block, scope: dict[str, Symbol] | None = None) -> None:
        self.scopes.append(scope if scope is not None else {})
        ended = False
        for stmt in block.stmts:
            if ended:
                self.warn(stmt, "unreachable code")
                ended = False
            self.stmt(stmt)
            if isinstance(stmt, n.Return | n.Break | n.Continue):
                ended = True
        if block.tail is not None:
            if ended:
                self.diag.warning(*block.tail_start, "unreachable code")
            self.expr(block.tail)
        self.close_scope()

    def stmt(self, stmt: n.Stmt) -> None:
        if isinstance(stmt, n.Let):
            self.expr(stmt.value)
            earlier = self.scopes[-1].get(stmt.name)
            if earlier is not None and earlier.kind == "local":
                self.warn(stmt, f"`{stmt.name}` is declared again; the one from line {earlier.line} is hidden")
            stmt.sym = self.declare(stmt.name, "local", stmt)
        elif isinstance(stmt, n.Assign):
            self.assign(stmt)
        elif isinstance(stmt, n.ExprStmt):
            self.expr(stmt.expr)
        elif isinstance(stmt, n.For):
            self.expr(stmt.iterable)
            self.loop(stmt, stmt.body, lambda scope: self.declare_loop_var(stmt, scope))
        elif isinstance(stmt, n.While):
            outer, self.loop_depth = self.loop_depth, 0
            self.expr(stmt.cond)
            self.loop_depth = outer
            self.loop(stmt, stmt.body, None)
        elif isinstance(stmt, n.Break | n.Continue):
            if self.loop_depth == 0:
                word = "break" if isinstance(stmt, n.Break) else "continue"
                self.error(stmt, f"`{word}` can only be used inside a loop body")
        elif isinstance(stmt, n.Return):
            if self.const_index is not None:
                self.error(stmt, "`return` cannot be used in a constant")
            if stmt.value is not None:
                self.expr(stmt.value)

    def declare_loop_var(self, stmt: n.For, scope: dict[str, Symbol]) -> None:
        self.scopes.append(scope)
        stmt.sym = self.declare(stmt.var, "loop", n.Node(stmt.var_line, stmt.var_col))
        self.scopes.pop()

    def loop(self, stmt: n.Stmt, body: n.Block, prepare: object) -> None:
        if self.loop_depth == MAX_LOOP_NESTING:
            self.error(stmt, f"loops nested too deeply (more than {MAX_LOOP_NESTING})")
        scope: dict[str, Symbol] = {}
        if callable(prepare):
            prepare(scope)
        self.loop_depth += 1
        self.block(body, scope)
        self.loop_depth -= 1

    def assign(self, stmt: n.Assign) -> None:
        target = stmt.target
        if isinstance(target, n.Name):
            sym = self.lookup(target.name)
            if sym is None:
                self.unknown_name(target, target.name, assigning=True)
            elif sym.kind == "const":
                self.error(target, f"cannot assign to constant `{target.name}`")
            else:
                target.sym = sym
                sym.writes += 1
                if stmt.op != "=":
                    sym.reads += 1
        else:
            root = target
            while isinstance(root, n.Field | n.Index):
                root = root.receiver
            if isinstance(root, n.Name):
                sym = self.lookup(root.name)
                if sym is not None and sym.kind == "const":
                    self.error(root, f"cannot change constant `{root.name}`")
            self.expr(target)
        self.expr(stmt.value)

    # ---- expressions -----------------------------------------------------------------------------

    def expr(self, expr: n.Expr) -> None:
        if isinstance(expr, n.Name):
            sym = self.lookup(expr.name)
            if sym is None:
                self.unknown_name(expr, expr.name)
            else:
                expr.sym = sym
                sym.reads += 1
            return
        if isinstance(expr, n.Call):
            self.call(expr)
        elif isinstance(expr, n.MethodCall):
            spec = ANY_METHOD.get(expr.name)
            if expr.name.startswith("_") or self.is_run_param(expr.receiver):
                pass  # already reported by the parser / checked exactly by the compiler
            elif spec is None and expr.name in CTX_FIELDS:
                self.error(expr, f"`{expr.name}` is a value, not a method — write `.{expr.name}` without `()`")
            elif spec is None:
                self.error(expr, f"unknown method `{expr.name}`{did_you_mean(expr.name, ANY_METHOD)}")
            elif not arity_ok(spec, len(expr.args)):
                self.error(expr, arity_text(expr.name, spec))
        elif isinstance(expr, n.IfExpr):
            for cond, block in expr.branches:
                self.expr(cond)
                self.block(block)
            if expr.else_block is not None:
                self.block(expr.else_block)
            return
        for child in n.children(expr):
            self.expr(child)

    def is_run_param(self, expr: n.Expr) -> bool:
        if not isinstance(expr, n.Name) or self.info is None or self.info.ctx is None:
            return False
        return self.lookup(expr.name) is self.info.ctx

    def call(self, call: n.Call) -> None:
        spec = BUILTINS.get(call.name)
        if spec is not None:
            call.target = call.name
            if not arity_ok(spec, len(call.args)):
                self.error(call, arity_text(call.name, spec))
            return
        fn = self.functions.get(call.name)
        if fn is None:
            if self.lookup(call.name) is not None:
                self.error(call, f"`{call.name}` is a variable, not a function")
            else:
                names = [*self.functions, *BUILTINS]
                self.error(call, f"unknown function `{call.name}`{did_you_mean(call.name, names)}")
            return
        if self.const_index is not None:
            self.error(call, "a constant can only use values, operators, builtins and earlier constants")
            return
        if fn.name == "run":
            self.error(call, "`run` is called by the platform; a program cannot call it")
            return
        fn.calls += 1
        call.target = fn
        if len(call.args) != len(fn.params):
            expected = len(fn.params)
            self.error(
                call,
                f"`{fn.name}` takes {expected} argument{'s' if expected != 1 else ''} "
                f"but {len(call.args)} {'were' if len(call.args) != 1 else 'was'} given",
            )


def check(program: n.Program, diagnostics: Diagnostics) -> Checked:
    return Checker(diagnostics).check(program)
