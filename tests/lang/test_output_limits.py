"""What leaves a run is bounded by its size in bytes, not by its number of elements; constants share
one budget per program.

The report this guards against: a program pushed the same large string into an array many times,
each push cost one element, and writing the result out took 4.1 GB. Sharing stays cheap inside a
run, but state, logs and reasons are measured as they would be written.
"""

from __future__ import annotations

import tracemalloc

from shared.lang import RunLimits, compile_program
from shared.limits import MAX_LOG_BYTES_PER_RUN
from tests.lang.support import FakeView, compile_errors, run

BIG_STRING = 'let s = "0123456789"; for i in 0..16 { s = s + s; }'  # 655,360 characters
"""A 640 KiB string built by doubling (each step is within the string limit)."""


def test_a_shared_string_pushed_many_times_cannot_leave_as_state() -> None:
    source = f"fn run(ctx) {{ {BIG_STRING} let a = []; for i in 0..10000 {{ a.push(s); }} ctx.state.big = a; }}"
    tracemalloc.start()
    try:
        result = run(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "error"
    assert result.error is not None and result.error.kind == "limit"
    assert "ctx.state is too large (more than 1,000,000 characters of text" in result.error.message
    assert result.state == {}
    assert peak < 100 * 1024 * 1024  # not 6.5 GB of copies


def test_state_text_counts_keys_and_repeats() -> None:
    limits = RunLimits(max_state_text=100)
    ok = run('fn run(ctx) { ctx.state.k = ["' + "x" * 48 + '", "' + "y" * 48 + '"]; }', limits=limits)
    assert ok.status == "ok", ok.error
    repeated = run('fn run(ctx) { let s = "' + "x" * 40 + '"; ctx.state.k = [s, s, s]; }', limits=limits)
    assert repeated.status == "error" and repeated.error is not None and "characters of text" in repeated.error.message
    keys = run('fn run(ctx) { ctx.state["' + "k" * 101 + '"] = 1; }', limits=limits)
    assert keys.status == "error"


def test_logs_are_cut_at_the_byte_limit_with_a_marker() -> None:
    result = run(f"fn run(ctx) {{ {BIG_STRING} for i in 0..5 {{ ctx.log(s); }} }}")
    assert result.status == "ok", result.error
    assert sum(len(line.encode()) for line in result.logs[:-1]) <= MAX_LOG_BYTES_PER_RUN
    assert len(result.logs) == 2
    assert result.logs[0].endswith(" …")
    assert result.logs[-1] == f"… 4 more log lines were not kept (limit 1,000 lines or {MAX_LOG_BYTES_PER_RUN:,} bytes)"


def test_logs_count_bytes_not_characters() -> None:
    limits = RunLimits(max_log_bytes=10)
    result = run('fn run(ctx) { ctx.log("ééééé"); ctx.log("é"); }', limits=limits)
    assert result.logs == ["ééééé", "… 1 more log lines were not kept (limit 1,000 lines or 10 bytes)"]
    cut = run('fn run(ctx) { ctx.log("éééééé"); }', limits=limits)
    assert cut.logs == ["ééé …", "… the log was cut here (limit 1,000 lines or 10 bytes)"]


def test_a_failed_run_keeps_its_logs_and_the_marker() -> None:
    limits = RunLimits(max_logs=1)
    result = run('fn run(ctx) { ctx.log(1); ctx.log(2); let x = 1 / 0; }', limits=limits)
    assert result.status == "error"
    assert result.logs == ["1", "… 1 more log lines were not kept (limit 1 lines)"]


def test_order_and_hold_reasons_are_bounded() -> None:
    long_reason = "r" * 1_001
    for call in (f'ctx.buy("BTC", 1, "{long_reason}")', f'ctx.hold("{long_reason}")', f'ctx.close("BTC", #{{}}.get("x", "{long_reason}"))'):
        result = run(f"fn run(ctx) {{ {call}; }}", view=FakeView())
        assert result.status == "error", call
        assert result.error is not None and result.error.kind == "limit"
        assert "reason is too long (more than 1,000 characters)" in result.error.message
    assert run(f'fn run(ctx) {{ ctx.buy("BTC", 1, "{"r" * 1_000}"); }}').status == "ok"


def test_constants_share_one_budget_per_program() -> None:
    """Each constant alone uses 540,000 of the 1,000,000 data units; two together cannot."""
    value = " + ".join(["len(0..90000)"] * 6)
    one = f"const A0 = {value};\nfn run(ctx) {{ ctx.log(A0); }}\n"
    assert compile_program(one).ok
    two = f"const A0 = {value};\nconst A1 = {value};\nfn run(ctx) {{ ctx.log(A0 + A1); }}\n"
    errors = compile_errors(two)
    assert len(errors) == 1
    assert errors[0][0] == 2 and "in constant `A1`: memory limit exceeded" in errors[0][2]
