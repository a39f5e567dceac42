"""Test doubles and shortcuts shared by the language tests: a scripted market view, and helpers
that compile-and-run a snippet and return what a test wants to look at."""

from __future__ import annotations

from typing import Any

from shared.lang import (
    AccountSnapshot,
    CompileResult,
    RunError,
    RunLimits,
    RunResult,
    compile_program,
)
from shared.market.view import IndicatorError, UnknownSymbolError


class FakeView:
    """A MarketView with fixed data. `indicators` maps a name or a (name, args) pair to its value;
    every call is recorded in `calls` so tests can check the exact arguments a program passed."""

    def __init__(
        self,
        symbol: str = "BTC",
        timeframe: str = "1h",
        price: float = 100.0,
        timestamp: int = 1_704_067_200_000,
        indicators: dict[Any, Any] | None = None,
        markets: dict[tuple[str, str | None], FakeView] | None = None,
        candle_rows: list[dict[str, Any]] | None = None,
    ) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.price = price
        self.timestamp = timestamp
        self.indicators = indicators or {}
        self.markets = markets or {}
        self.candle_rows = candle_rows if candle_rows is not None else [
            {"time": f"2024-01-01T{h:02d}:00:00Z", "open": 1.0 + h, "high": 2.0 + h, "low": 0.5 + h,
             "close": 1.5 + h, "volume": 10.0 * h}
            for h in range(24)
        ]  # fmt: skip
        self.calls: list[tuple[str, tuple[float, ...]]] = []

    def candles(self, n: int) -> list[dict[str, Any]]:
        return self.candle_rows[-n:]

    def indicator(self, name: str, args: tuple[float, ...]) -> Any:
        self.calls.append((name, args))
        for key in ((name, args), name):
            if key in self.indicators:
                value = self.indicators[key]
                if isinstance(value, Exception):
                    raise value
                return value
        raise IndicatorError(f"no {name} data")

    def market(self, symbol: str, timeframe: str | None = None) -> FakeView:
        view = self.markets.get((symbol, timeframe))
        if view is None:
            raise UnknownSymbolError(symbol)
        return view


def compiled(source: str) -> CompileResult:
    return compile_program(source)


def run(
    source: str,
    view: FakeView | None = None,
    account: AccountSnapshot | None = None,
    params: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    trigger: dict[str, Any] | None = None,
    limits: RunLimits | None = None,
) -> RunResult:
    result = compile_program(source)
    assert result.ok, result.errors
    assert result.program is not None
    return result.program.run(view or FakeView(), account or AccountSnapshot(), params, state, trigger, limits)


def evaluate(expression: str, prelude: str = "") -> Any:
    """The value of a language expression, as the state map carries it back (JSON-like)."""
    result = run(f"fn run(ctx) {{ {prelude} ctx.state.value = ({expression}); }}")
    assert result.status == "ok", result.error
    return result.state["value"]


def shown(expression: str, prelude: str = "") -> str:
    """How `ctx.log` prints the value of an expression."""
    result = run(f"fn run(ctx) {{ {prelude} ctx.log({expression}); }}")
    assert result.status == "ok", result.error
    return result.logs[0]


def run_error(source: str, **kwargs: Any) -> RunError:
    result = run(source, **kwargs)
    assert result.status == "error", f"expected an error, got {result}"
    assert result.error is not None
    return result.error


def error_in(expression: str, prelude: str = "") -> str:
    """The runtime error message of evaluating an expression."""
    return run_error(f"fn run(ctx) {{ {prelude} ctx.log({expression}); }}").message


def compile_errors(source: str) -> list[tuple[int, int, str]]:
    result = compile_program(source)
    return [(d.line, d.column, d.message) for d in result.errors]


def compile_warnings(source: str) -> list[tuple[int, int, str]]:
    result = compile_program(source)
    return [(d.line, d.column, d.message) for d in result.warnings]
