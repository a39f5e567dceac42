"""The programs shown in LANGUAGE.md compile and do what the text says, so the spec and the
implementation cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.lang import AccountSnapshot, compile_program
from tests.lang.support import FakeView

SPEC = Path(__file__).resolve().parents[3] / "shared" / "LANGUAGE.md"
README = Path(__file__).resolve().parents[2] / "shared" / "lang" / "README.md"


def examples(path: Path = SPEC) -> list[str]:
    """Code blocks of a markdown file that are whole programs."""
    if not path.exists():
        return []
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    return [block for tag, block in blocks if not tag and "fn run(" in block and "program   =" not in block]


@pytest.mark.skipif(not SPEC.exists(), reason="LANGUAGE.md is not next to the repository (../shared)")
def test_spec_has_examples() -> None:
    assert examples()


@pytest.mark.parametrize("source", examples() + examples(README))
def test_documented_example_compiles_without_errors_or_warnings(source: str) -> None:
    result = compile_program(source)
    assert result.ok, result.errors
    assert result.warnings == []


def test_readme_example_trades_on_the_crossover() -> None:
    (source,) = examples(README)
    program = compile_program(source).program
    assert program is not None
    rising = FakeView(indicators={("sma", (10.0,)): 2.0, ("sma", (30.0,)): 1.0})
    assert program.run(rising).decision["action"] == "buy"
    warming = FakeView(indicators={("sma", (10.0,)): None, ("sma", (30.0,)): 1.0})
    assert program.run(warming).decision["action"] == "hold"


def test_the_smallest_program_of_the_spec_buys() -> None:
    program = compile_program('fn run(ctx) { ctx.buy("BTC", 0.01) }').program
    assert program is not None
    assert program.run(FakeView()).decision == {"action": "buy", "symbol": "BTC", "quantity": 0.01, "reason": None}


GRID = next((block for block in examples() if "Grid" in block), None)


@pytest.mark.skipif(GRID is None, reason="the grid example is not available")
@pytest.mark.parametrize(
    ("price", "last_fill", "position", "action"),
    [
        (9_700.0, 10_000.0, None, "buy"),  # more than one step (250) below the last fill
        (10_300.0, 10_000.0, {"side": "long", "size": 0.01, "entry_price": 10_000.0, "unrealized_pnl": 3.0}, "sell"),
        (10_300.0, 10_000.0, None, "hold"),  # above, but nothing to sell
        (10_100.0, 10_000.0, None, "hold"),  # between grid levels
    ],
)
def test_grid_example_trades_as_described(price: float, last_fill: float, position: dict | None, action: str) -> None:
    program = compile_program(GRID or "").program
    assert program is not None
    account = AccountSnapshot(positions={"BTC": position} if position else {})
    result = program.run(FakeView(price=price), account, params={}, state={"last_fill": last_fill})
    assert result.status == "ok", result.error
    assert result.decision["action"] == action
    assert result.state["last_fill"] == (price if action != "hold" else last_fill)
    if action == "hold":
        assert result.decision["reason"] == "between grid levels"
