"""The market series a program names literally are known at compile time (hosts preload them)."""

from __future__ import annotations

import pytest

from shared.lang import compile_program


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('ctx.hold("none")', set()),
        ('let v = ctx.market("eth"); ctx.hold("x")', {("ETH", None)}),
        ('let v = ctx.market("ETH", "4h"); ctx.hold("x")', {("ETH", "4h")}),
        ('if true { for i in 0..2 { ctx.log(ctx.market("SOL", "1d").price) } } ctx.hold("x")', {("SOL", "1d")}),
        ('let s = "ARB"; let v = ctx.market(s); ctx.hold("x")', set()),  # computed: loaded on demand instead
        ('let a = ctx.market("BTC"); let b = ctx.market("BTC"); ctx.hold("x")', {("BTC", None)}),
    ],
)
def test_literal_market_calls_are_listed_once(body: str, expected: set[tuple[str, str | None]]) -> None:
    result = compile_program(f"fn run(ctx) {{ {body} }}")
    assert result.ok, result.errors
    assert result.program is not None
    assert set(result.program.markets) == expected


def test_calls_in_helper_functions_are_found_too() -> None:
    result = compile_program('fn other(ctx) { ctx.market("LTC", "1h").price }\nfn run(ctx) { ctx.log(other(ctx)); ctx.hold("x") }')
    assert result.program is not None and result.program.markets == (("LTC", "1h"),)


def test_recursive_and_mutually_recursive_functions_do_not_trap_the_search() -> None:
    source = 'fn a(n) { b(n) }\nfn b(n) { a(ctx_free(n)) }\nfn ctx_free(n) { n }\nfn f(n) { f(n + 1) }\nfn run(ctx) { f(0); a(1); ctx.market("XRP"); ctx.hold("x") }'
    result = compile_program(source)
    assert result.program is not None and result.program.markets == (("XRP", None),)
