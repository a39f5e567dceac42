"""Property tests: the compiler survives any input, and compiled programs behave consistently.

- Any text, and any soup of the language's tokens, compiles to a result with diagnostics (never an
  exception), every diagnostic pointing into the source.
- Random programs built from the grammar run to "ok" or to a runtime/limit error (never an
  exception), deterministically, with generated Python of the confined shape; and they behave exactly
  the same when compiled without static types, so every guard the compiler drops is one that could
  not have failed.
"""

from __future__ import annotations

import json
import os
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.lang import RunLimits, codegen, compile_program
from shared.lang.library import ARRAY_METHODS, BUILTINS, MAP_METHODS, STRING_METHODS
from tests.lang.support import FakeView
from tests.lang.test_hostile import assert_generated_code_is_confined

EXAMPLES = int(os.environ.get("LANG_PROPERTY_EXAMPLES", "300"))
"""Random programs per property test; raise it (e.g. 5000) for a longer hunt."""

TOKENS = [
    "fn", "run", "(", "ctx", ")", "{", "}", "let", "x", "y", "=", ";", "if", "else", "for", "in", "while",
    "break", "continue", "return", "const", "true", "false", "null", "1", "2.5", "1e3", '"s"', '"', "[", "]",
    "#{", ":", ",", ".", "..", "..=", "+", "-", "*", "/", "%", "**", "<", "<=", ">", ">=", "==", "!=", "&&",
    "||", "!", "+=", "-=", "*=", "/=", "ctx.buy", "ctx.price", "ctx.sma", "len", "abs", "push", "_x", "//",
    "/*", "*/", "\n", " ", "fn run(ctx) {", "@", "\\", "é", "1..", "..1",
]  # fmt: skip


def assert_diagnostics_point_into(source: str, result: object) -> None:
    lines = source.split("\n")
    for diagnostic in [*result.errors, *result.warnings]:  # type: ignore[attr-defined]
        assert diagnostic.line >= 1 and diagnostic.column >= 1, diagnostic
        assert diagnostic.line <= len(lines) + 1, diagnostic
        assert diagnostic.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_compiles_to_diagnostics_not_exceptions(source: str) -> None:
    result = compile_program(source)
    assert result.ok == (not result.errors)
    assert_diagnostics_point_into(source, result)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join))
def test_any_token_soup_compiles_to_diagnostics_not_exceptions(source: str) -> None:
    result = compile_program(source)
    assert_diagnostics_point_into(source, result)
    if result.ok:
        assert result.program is not None
        outcome = result.program.run(FakeView(indicators={"sma": 1.0}), limits=RunLimits(steps=2_000))
        assert outcome.status in ("ok", "error")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet='fn run(ctx){}[]#:;,.=+-*/%<>!&|"\\ \nletifelsewhileforinreturn0123456789xyz_', max_size=400))
def test_text_made_of_language_characters_compiles_to_diagnostics(source: str) -> None:
    assert_diagnostics_point_into(source, compile_program(source))


# ---- random programs from the grammar --------------------------------------------------------------

VARIABLES = ["a", "b", "c", "d", "e", "f"]
PRELUDE = 'let a = 1; let b = "s"; let c = [1, 2, 3]; let d = #{k: 1, j: "x"}; let e = null; let f = true;'
BINARY = ["+", "-", "*", "/", "%", "**", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "..", "..="]
METHODS = sorted(set(ARRAY_METHODS) | set(MAP_METHODS) | set(STRING_METHODS))
FUNCTIONS = sorted(BUILTINS)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0, names: tuple[str, ...] = tuple(VARIABLES)) -> str:
    leaf = depth >= 3 or draw(st.integers(0, 3)) == 0
    if leaf:
        return draw(
            st.one_of(
                st.sampled_from(names),
                st.sampled_from(names),
                st.sampled_from(["0", "1", "2", "-1", "0.5", "3", "100", "1e300"]),
                st.sampled_from(['"s"', '""', '"k"', '"1.5"', '","']),
                st.sampled_from(["true", "false", "null"]),
                st.sampled_from(["ctx.price", "ctx.sma(10)", "ctx.rsi()", "ctx.position()", "ctx.params", "ctx.state"])
                if "ctx" in names
                else st.sampled_from(names),
            )
        )
    sub = expressions(depth + 1, names)
    kind = draw(st.integers(0, 11))
    if kind in (0, 1):
        return f"({draw(sub)} {draw(st.sampled_from(BINARY))} {draw(sub)})"
    if kind == 2:
        return f"{draw(st.sampled_from(['-', '!']))}({draw(sub)})"
    if kind == 3:
        name = draw(st.sampled_from(FUNCTIONS))
        spec = BUILTINS[name]
        count = draw(st.integers(spec.min_args, spec.max_args or 3))
        return f"{name}({', '.join(draw(sub) for _ in range(count))})"
    if kind == 4:
        name = draw(st.sampled_from(METHODS))
        count = min(
            (table[name].max_args or 0) for table in (ARRAY_METHODS, MAP_METHODS, STRING_METHODS) if name in table
        )
        return f"({draw(sub)}).{name}({', '.join(draw(sub) for _ in range(count))})"
    if kind == 5:
        return f"({draw(sub)})[{draw(sub)}]"
    if kind == 6:
        return f"({draw(sub)}).{draw(st.sampled_from(['k', 'j', 'len', 'price']))}"
    if kind == 7:
        return f"[{', '.join(draw(st.lists(sub, max_size=3)))}]"
    if kind == 8:
        return f"#{{k: {draw(sub)}, z: {draw(sub)}}}"
    if kind == 9:
        inner = draw(statements(depth + 1, names=names))
        return f"(if {draw(conditions(depth + 1, names))} {{ {inner} {draw(sub)} }} else {{ {draw(sub)} }})"
    if kind == 10:
        return f"g({draw(sub)})"
    return f"(if {draw(conditions(depth + 1, names))} {{ {draw(sub)} }})"


@st.composite
def conditions(draw: st.DrawFn, depth: int, names: tuple[str, ...]) -> str:
    sub = expressions(depth + 1, names)
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(sub)
    if kind == 1:
        return f"({draw(sub)} {draw(st.sampled_from(['==', '!=']))} {draw(sub)})"
    if kind == 2:
        return f"is_null({draw(sub)})"
    return f"({draw(sub)} {draw(st.sampled_from(['<', '>=', '==']))} {draw(st.sampled_from(['1', '0', 'a']))})"


@st.composite
def statements(
    draw: st.DrawFn, depth: int = 0, in_loop: bool = False, names: tuple[str, ...] = tuple(VARIABLES)
) -> str:
    count = draw(st.integers(0, 3 if depth < 2 else 1))
    out: list[str] = []
    for _ in range(count):
        kind = draw(st.integers(0, 9 if depth < 2 else 4))
        target = draw(st.sampled_from([name for name in names if name != "ctx"] or ["x"]))
        value = expressions(depth + 1, names)
        if kind == 0:
            out.append(f"{target} = {draw(value)};")
        elif kind == 1:
            out.append(f"{target} {draw(st.sampled_from(['+=', '-=', '*=', '/=']))} {draw(value)};")
        elif kind == 2:
            out.append(f"ctx.log({draw(value)});" if "ctx" in names else f"{target} = {draw(value)};")
        elif kind == 3:
            out.append(f"{target}[{draw(value)}] = {draw(value)};")
        elif kind == 4:
            out.append(f"{target}.{draw(st.sampled_from(['k', 'new']))} = {draw(value)};")
        elif kind == 5:
            body = draw(statements(depth + 1, in_loop, names))
            other = draw(statements(depth + 1, in_loop, names))
            out.append(f"if {draw(conditions(depth + 1, names))} {{ {body} }} else {{ {other} }}")
        elif kind == 6:
            body = draw(statements(depth + 1, True, names))
            source = draw(st.sampled_from(["0..3", "0..=2", target, target]))
            out.append(f"for v{depth} in {source} {{ {body} }}")
        elif kind == 7:
            body = draw(statements(depth + 1, True, names))
            out.append(f"let n{depth} = 0; while n{depth} < 3 {{ n{depth} += 1; {body} }}")
        elif kind == 8 and in_loop:
            out.append(draw(st.sampled_from(["break;", "continue;"])))
        elif kind == 9 and "ctx" in names:
            out.append(draw(st.sampled_from(['ctx.buy("BTC", 1);', 'ctx.hold("h");', "return;", 'ctx.close("BTC");'])))
    return " ".join(out)


@st.composite
def programs(draw: st.DrawFn) -> str:
    helper = draw(statements(1, names=("x",)))
    helper_value = draw(expressions(1, names=("x",)))
    body = draw(statements(names=(*VARIABLES, "ctx")))
    return f"fn g(x) {{ if x == 3 {{ return g(1); }} {helper} {helper_value} }}\nfn run(ctx) {{ {PRELUDE} {body} }}"


def _outcome(source: str) -> tuple[object, ...] | None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = compile_program(source)
    assert not caught, [str(w.message) for w in caught]
    if not compiled.ok:
        return None
    assert compiled.program is not None
    assert_generated_code_is_confined(compiled.program.python_source)
    view = FakeView(indicators={"sma": 101.0, "rsi": None})
    limits = RunLimits(steps=3_000, max_collection=200, max_string=2_000, memory=20_000)
    result = compiled.program.run(view, params={"p": 1}, state={"s": [1]}, limits=limits)
    assert result.status in ("ok", "error")
    json.dumps([result.decision, result.orders, result.logs, result.state])
    error = result.error
    if error is not None:
        assert error.kind in ("runtime", "limit")
        assert "internal error" not in error.message, (error, source)
        assert 0 <= error.line <= source.count("\n") + 1
    return (result.status, result.decision, result.orders, result.logs, result.state, error)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_run_safely_and_fast_paths_agree_with_slow_paths(source: str) -> None:
    typed = _outcome(source)
    if typed is None:
        return
    assert _outcome(source) == typed, "the same program and inputs must give the same result"
    codegen.STATIC_TYPES = False
    try:
        untyped = _outcome(source)
    finally:
        codegen.STATIC_TYPES = True
    assert untyped == typed


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_without_static_checks_fail_only_with_runtime_errors(source: str) -> None:
    """Without static types nearly every random program compiles, so this drives the run-time error
    paths: each must end in a RunError, never in an exception or an internal error."""
    codegen.STATIC_TYPES = False
    try:
        _outcome(source)
    finally:
        codegen.STATIC_TYPES = True
