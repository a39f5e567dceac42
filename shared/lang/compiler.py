"""Source text → `Program`: parse, check, evaluate constants, generate Python, compile it.

`compile_program` never raises: every problem, including input too large or too deep for the
compiler, becomes a diagnostic. Compile once per program version and keep the `Program`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from time import perf_counter
from types import CodeType

from shared.limits import CODE_MAX_BYTES

from . import nodes as n
from .checker import Checked, FunctionInfo, check
from .codegen import Emitter, compile_function
from .diagnostics import Diagnostic, Diagnostics
from .errors import LangError
from .infer import infer
from .limits import Budget, RunLimits
from .parser import parse
from .positions import PositionMap
from .program import Failure, Program, build_globals
from .references import market_references
from .runtime import Runtime
from .values import ARR, MAP, check_storable, static_type_of

MAX_SOURCE_BYTES = CODE_MAX_BYTES
"""UTF-8 bytes of source accepted: the platform's one program size limit (a trading program is a few
hundred lines). Compiling is linear in the source size (`tests/lang/test_compile_scaling.py`)."""

CONST_LIMITS = RunLimits(steps=100_000, wall_clock_s=1.0, memory=1_000_000)
"""Limits for computing all of a program's constants while compiling: one budget per program, so
many constants cannot add up to more than one constant may use."""

_serial = itertools.count(1)


@dataclass(frozen=True, slots=True)
class CompileResult:
    ok: bool
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    program: Program | None = None


def compile_program(source: str, *, max_bytes: int = MAX_SOURCE_BYTES) -> CompileResult:
    """Compile a program's source. Never raises; `ok` is False when there are errors.

    `max_bytes` exists for measuring the compiler on larger inputs; callers keep the default."""
    diag = Diagnostics()
    if not isinstance(source, str):
        diag.error(1, 1, "the program must be text")
        return _failed(diag)
    if len(source) > max_bytes or len(source.encode("utf-8", "surrogatepass")) > max_bytes:
        diag.error(1, 1, f"the program is too long (more than {max_bytes // 1024:,} KiB)")
        return _failed(diag)
    try:
        program = _compile(source, diag)
    except (RecursionError, MemoryError):
        diag.error(1, 1, "the program is too complex to compile; split deep expressions and blocks up")
        return _failed(diag)
    except Exception as exc:  # noqa: BLE001 - a compiler bug must still come back as a diagnostic
        diag.error(1, 1, f"internal compiler error ({type(exc).__name__}) — please report this program")
        return _failed(diag)
    if program is None or diag.has_errors:
        return _failed(diag)
    return CompileResult(True, [], diag.warnings(), program)


def _failed(diag: Diagnostics) -> CompileResult:
    return CompileResult(False, diag.errors(), diag.warnings(), None)


def _compile(source: str, diag: Diagnostics) -> Program | None:
    tree = parse(source, diag)
    checked = check(tree, diag)
    consts = _evaluate_consts(checked, diag) if not diag.has_errors else None
    out = Emitter()
    names: list[str] = []
    for name, info in checked.functions.items():
        compile_function(out, info, infer(info), diag, f"_f_{name}")
        names.append(f"_f_{name}")
    if diag.has_errors or consts is None:
        return None
    filename = f"<program {next(_serial)}>"
    code = _python_compile(out, filename, diag)
    if code is None:
        return None
    functions = _code_objects(code, names)
    positions = PositionMap(filename, out.info)
    used = frozenset(out.used)
    kept = {name: value for name, value in consts.items() if name in used}
    return Program(functions, used, kept, positions, source, out.source(), market_references(tree))


def _python_compile(out: Emitter, filename: str, diag: Diagnostics) -> CodeType | None:
    try:
        return compile(out.source(), filename, "exec", dont_inherit=True, optimize=2)
    except (SyntaxError, RecursionError, MemoryError, ValueError, OverflowError):
        diag.error(1, 1, "the program is too complex to compile; split deep expressions and blocks up")
        return None


def _code_objects(module: CodeType, names: list[str]) -> dict[str, CodeType]:
    found = {const.co_name: const for const in module.co_consts if isinstance(const, CodeType)}
    return {name: found[name] for name in names}


def _evaluate_consts(checked: Checked, diag: Diagnostics) -> dict[str, object] | None:
    """Compute every constant now, in order, under one budget; returns the array/map ones by global name."""
    collections: dict[str, object] = {}
    budget = Budget(CONST_LIMITS, {"_S": 0})
    budget.start()
    evaluating_s = 0.0  # the wall clock runs only while constants are evaluated, not compiled
    for const in checked.consts:
        info: FunctionInfo = checked.const_infos[const.name]
        info.decl.body = n.Block(const.line, const.col, [], const.value)
        out = Emitter()
        compile_function(out, info, infer(info), diag, "_f_run")
        if diag.has_errors:
            return None
        filename = f"<program {next(_serial)}>"
        code = _python_compile(out, filename, diag)
        if code is None:
            return None
        functions = _code_objects(code, ["_f_run"])
        steps_left = budget.globals["_S"]  # the step counter moves on to this constant's globals
        program_globals = build_globals(frozenset(out.used), functions, budget, Runtime(budget), None, None)
        program_globals["_S"] = steps_left
        program_globals.update(collections)
        began = perf_counter()
        budget.deadline = began + CONST_LIMITS.wall_clock_s - evaluating_s
        try:
            value = program_globals["_f_run"](CONST_LIMITS.call_depth - 1)
            evaluating_s += perf_counter() - began
        except Exception as exc:  # noqa: BLE001 - reported as a diagnostic
            error = Failure(PositionMap(filename, out.info)).error(exc)
            diag.error(
                error.line or const.line, error.column or const.col, f"in constant `{const.name}`: {error.message}"
            )
            return None
        const.sym.value = value
        if static_type_of(value) in (ARR, MAP):
            try:
                check_storable(value, f"constant `{const.name}`", RunLimits().max_collection)
            except LangError as exc:
                diag.error(const.line, const.col, exc.message)
                return None
            collections[const.sym.pyname] = value
    return collections
