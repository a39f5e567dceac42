"""Every limit of LANGUAGE.md, at its boundary: just under runs, just over stops with a clear error."""

from __future__ import annotations

import pytest

from shared.lang import RunLimits
from tests.lang.support import run

SMALL = RunLimits(steps=1_000, call_depth=8, max_collection=10, max_string=20, memory=1_000, max_orders=3, max_logs=2)


def outcome(source: str, limits: RunLimits = SMALL) -> tuple[str, str | None]:
    result = run(source, limits=limits)
    return result.status, (result.error.message if result.error else None)


def test_default_limits_match_the_language_description() -> None:
    limits = RunLimits()
    assert (limits.steps, limits.call_depth, limits.max_collection, limits.max_string, limits.wall_clock_s) == (
        1_000_000, 64, 100_000, 1_000_000, 2.0,
    )  # fmt: skip
    assert RunLimits.backtest().steps == 10_000
    assert RunLimits.backtest(steps=500).steps == 500


def test_each_loop_iteration_and_each_call_is_a_step() -> None:
    assert run("fn run(ctx) { }").steps == 1
    assert run("fn run(ctx) { for i in 0..10 { } }").steps == 11
    assert run("fn run(ctx) { let i = 0; while i < 5 { i += 1; } }").steps == 6
    assert run("fn f() { } fn run(ctx) { for i in 0..3 { f(); } }").steps == 7
    assert run("fn run(ctx) { for x in [1, 2] { for y in [1, 2, 3] { } } }").steps == 9


@pytest.mark.parametrize("steps", [1, 2, 1023, 1024, 1025, 5000])
def test_step_budget_is_exact(steps: int) -> None:
    limits = RunLimits(steps=steps)
    fits = run(f"fn run(ctx) {{ for i in 0..{steps - 1} {{ }} }}", limits=limits)
    assert (fits.status, fits.steps) == ("ok", steps)
    over = run(f"fn run(ctx) {{ for i in 0..{steps} {{ }} }}", limits=limits)
    assert over.status == "error"
    assert over.error is not None
    assert (over.error.kind, over.error.message) == ("limit", f"step limit exceeded ({steps:,} steps)")
    assert over.steps == steps


def test_infinite_loop_stops_at_the_default_step_limit() -> None:
    result = run("fn run(ctx) {\n    while true { }\n}")
    assert result.error is not None
    assert (result.error.message, result.error.line, result.error.column) == (
        "step limit exceeded (1,000,000 steps)", 2, 5,
    )  # fmt: skip
    assert result.steps == 1_000_000


def test_backtest_limits_allow_ten_thousand_steps_per_run() -> None:
    assert run("fn run(ctx) { for i in 0..9999 { } }", limits=RunLimits.backtest()).status == "ok"
    assert outcome("fn run(ctx) { for i in 0..10000 { } }", RunLimits.backtest()) == (
        "error", "step limit exceeded (10,000 steps)",
    )  # fmt: skip


def test_call_depth_allows_exactly_the_limit() -> None:
    source = "fn down(n) {{ if n > 0 {{ down(n - 1); }} }} fn run(ctx) {{ down({}); }}"
    # run itself is one frame, so `down(n)` nests n + 1 more: 64 frames in all for n = 62
    assert run(source.format(62)).status == "ok"
    result = run("fn down(n) {\n  if n > 0 { down(n - 1); }\n}\nfn run(ctx) { down(63); }")
    assert result.error is not None
    assert (result.error.kind, result.error.message) == ("limit", "call depth limit exceeded (64 nested calls)")
    assert (result.error.line, result.error.column) == (2, 14)


def test_runaway_recursion_is_contained() -> None:
    assert outcome("fn f() { f() } fn run(ctx) { f(); }", RunLimits()) == (
        "error", "call depth limit exceeded (64 nested calls)",
    )  # fmt: skip
    assert outcome("fn f() { f(); f() } fn run(ctx) { f(); }", RunLimits(steps=5000))[1] in (
        "call depth limit exceeded (64 nested calls)", "step limit exceeded (5,000 steps)",
    )  # fmt: skip


SIZE_LIMITS = [
    # (fits, too big, message)
    (
        "let a = []; for i in 0..10 { a.push(i); }",
        "let a = []; for i in 0..11 { a.push(i); }",
        "array too large (more than 10 elements)",
    ),
    (
        "let m = #{}; for i in 0..10 { m[str(i)] = i; }",
        "let m = #{}; for i in 0..11 { m[str(i)] = i; }",
        "map too large (more than 10 elements)",
    ),
    (
        "let m = #{}; for i in 0..10 { m.k = i; }",
        'let m = #{}; for i in 0..11 { m["k" + str(i)] = 1; }',
        "map too large",
    ),
    ("let r = 0..10;", "let r = 0..11;", "array too large (more than 10 elements)"),
    ("let r = 1..=10;", "let r = 0..=10;", "array too large (more than 10 elements)"),
    (
        'let s = "aaaaaaaaaa" + "bbbbbbbbbb";',
        'let s = "aaaaaaaaaa" + "bbbbbbbbbbc";',
        "string too long (more than 20 characters)",
    ),
    ('let s = "aaaaaaaaaa"; s += s;', 'let s = "aaaaaaaaaaa"; s += s;', "string too long (more than 20 characters)"),
    (
        "let s = str([1, 2, 3, 4, 5, 6]);",
        "let s = str([1, 2, 3, 4, 5, 6, 7]);",
        "string too long (the printed value is longer than the string limit)",
    ),
    (
        'let s = "aaaaaaaaaaaaaaaaaaaa".upper();',
        'let s = "ß" + "aaaaaaaaaaaaaaaaaaa"; s = s.upper();',
        "string too long",
    ),
    (
        'let p = "a,b,c,d,e,f,g,h,i,j".split(",");',
        'let p = "a,b,c,d,e,f,g,h,i,j,k".split(",");',
        "array too large (more than 10 elements)",
    ),
    ("let c = ctx.candles(10);", "let c = ctx.candles(11);", "array too large (more than 10 elements)"),
]


@pytest.mark.parametrize(
    ("fits", "too_big", "message"), SIZE_LIMITS, ids=[row[2][:30] + " " + row[1][:30] for row in SIZE_LIMITS]
)
def test_size_limits_are_checked_before_allocating(fits: str, too_big: str, message: str) -> None:
    assert outcome(f"fn run(ctx) {{ {fits} }}") == ("ok", None)
    status, error = outcome(f"fn run(ctx) {{ {too_big} }}")
    assert status == "error"
    assert error is not None and error.startswith(message), error


def test_default_size_limits() -> None:
    assert outcome("fn run(ctx) { let a = []; for i in 0..100000 { a.push(i); } }", RunLimits()) == ("ok", None)
    assert outcome("fn run(ctx) { let a = []; for i in 0..100001 { a.push(i); } }", RunLimits()) == (
        "error", "array too large (more than 100,000 elements)",
    )  # fmt: skip
    doubling = 'fn run(ctx) { let s = "x"; while true { s = s + s; } }'
    assert outcome(doubling, RunLimits()) == ("error", "string too long (more than 1,000,000 characters)")


def test_data_budget_bounds_what_a_run_can_build_in_total() -> None:
    source = "fn run(ctx) { let keep = []; for i in 0..10 { keep.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].slice(0)); } }"
    assert outcome(source, RunLimits(memory=1_000)) == ("ok", None)
    status, error = outcome(source, RunLimits(memory=150))
    assert status == "error"
    assert error == "memory limit exceeded (the run created more than 150 values and characters)"


def test_default_data_budget_stops_a_copying_bomb() -> None:
    source = """
    fn run(ctx) {
        let big = [];
        for i in 0..100000 { big.push(i); }
        let copies = [];
        for i in 0..100000 { copies.push(big.slice(0)); }
    }
    """
    status, error = outcome(source, RunLimits())
    assert (status, error) == (
        "error",
        "memory limit exceeded (the run created more than 10,000,000 values and characters)",
    )


def test_wall_clock_is_a_second_guard() -> None:
    # A deadline in the past: the first look at the clock (after at most 1,024 steps) stops the run.
    status, error = outcome("fn run(ctx) { while true { } }", RunLimits(wall_clock_s=0.0))
    assert (status, error) == ("error", "time limit exceeded (0 s)")


def test_orders_per_run_are_limited() -> None:
    assert outcome('fn run(ctx) { for i in 0..3 { ctx.buy("BTC", 1); } }') == ("ok", None)
    assert outcome('fn run(ctx) { for i in 0..4 { ctx.buy("BTC", 1); } }') == (
        "error", "too many orders in one run (more than 3)",
    )  # fmt: skip


def test_logs_beyond_the_limit_are_counted_not_kept() -> None:
    result = run("fn run(ctx) { for i in 0..5 { ctx.log(i); } }", limits=SMALL)
    assert result.status == "ok"
    assert result.logs == ["0", "1", "… 3 more log lines were not kept (limit 2 lines)"]


def test_power_overflow_is_an_error_not_a_crash() -> None:
    assert outcome("fn run(ctx) { let x = 10 ** 400; }", RunLimits()) == (
        "error", "number too large (the result of `**` overflows)",
    )  # fmt: skip
    assert outcome("fn run(ctx) { let x = exp(1e6); }", RunLimits()) == (
        "error", "number too large (the result of exp overflows)",
    )  # fmt: skip


def test_self_containing_values_are_an_error_not_a_recursion_crash() -> None:
    for action in ("ctx.log(a)", "str(a)", "ctx.state.a = a", "a == b", "[b].contains(a)"):
        source = f"fn run(ctx) {{ let a = []; a.push(a); let b = []; b.push(b); {action}; }}"
        status, error = outcome(source, RunLimits())
        assert status == "error", action
        assert error is not None and "nested too deeply" in error, (action, error)


def test_a_value_compares_equal_to_itself_even_when_it_contains_itself() -> None:
    assert run("fn run(ctx) { let a = []; a.push(a); ctx.log(a == a); }").logs == ["true"]


def test_comparing_values_that_share_structure_is_metered() -> None:
    # Three references to one 100,000-element array cost nothing to build but 300,000 element
    # comparisons to compare; that work is counted, so the (here already passed) deadline stops it.
    source = (
        "fn run(ctx) { let x = 0..100000; let y = 0..100000; let a = [x, x, x]; let b = [y, y, y]; ctx.log(a == b); }"
    )
    assert outcome(source, RunLimits(wall_clock_s=0.0)) == ("error", "time limit exceeded (0 s)")
    assert outcome(source, RunLimits()) == ("ok", None)


def test_state_counts_every_value_it_would_store() -> None:
    source = "fn run(ctx) { let x = 0..9; ctx.state.list = [x, x]; }"
    assert outcome(source) == ("error", "ctx.state is too large (more than 10 values in all)")
    assert outcome("fn run(ctx) { ctx.state.list = 0..8; }") == ("ok", None)


def test_constants_are_limited_in_size_like_state() -> None:
    from tests.lang.support import compile_errors

    source = (
        "const BIG = if true { let x = 0..1000; let all = []; for i in 0..200 { all.push(x); } all }"
        " else { [] }; fn run(ctx) { ctx.log(BIG.len()); }"
    )
    assert compile_errors(source) == [(1, 7, "constant `BIG` is too large (more than 100,000 values in all)")]
