"""The dev guide's example strategies compile, run bar by bar over real history, and appear in the guide as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.executor.guide import dev_guide, examples
from shared.lang import AccountSnapshot, RunLimits, compile_program
from shared.market import SqliteCandleStore, build_market_data, ensure_bundled_history
from shared.timefmt import parse_time

EXAMPLES = examples()
REQUIRED = {"grid", "rsi_mean_reversion", "sma_ema_crossover", "atr_breakout", "dca"}


def test_the_five_required_strategies_exist() -> None:
    assert REQUIRED <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_guide_shows_each_example_exactly(name: str) -> None:
    assert EXAMPLES[name].strip() in dev_guide()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_compiles_without_errors_or_warnings(name: str) -> None:
    result = compile_program(EXAMPLES[name])
    assert result.ok, result.errors
    assert result.warnings == []


@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_example_runs_every_bar_of_a_month_of_real_btc(name: str, tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "candles.db")
    await ensure_bundled_history(store)
    market = build_market_data(store)
    view = await market.backtest_view("BTC", "1h", parse_time("2018-03-01"), parse_time("2018-04-01"))
    program = compile_program(EXAMPLES[name]).program
    assert program is not None
    state: dict = {}
    actions = set()
    account = AccountSnapshot(balance=10_000, equity=10_000, positions={})
    trigger = {"type": "backtest", "pool": None, "signals": []}
    bars = 0
    while True:
        result = program.run(market=view, account=account, params={}, state=state, trigger=trigger, limits=RunLimits.backtest())
        assert result.status == "ok", (view.timestamp, result.error)
        actions.add(result.decision["action"])
        state = result.state
        bars += 1
        if not view.advance():
            break
    await market.close()
    await store.close()
    assert bars >= 24 * 30
    assert actions <= {"buy", "sell", "close", "hold"}
