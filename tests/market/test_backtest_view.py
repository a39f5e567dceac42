"""BacktestView: a cursor that never shows bar k+1, with indicators computed once and indexed per bar."""

from __future__ import annotations

import numpy as np
import pytest

from shared.market import INDICATORS, IndicatorError, MarketView, SqliteCandleStore, UnknownSymbolError, build_market_data
from shared.market.registry import compute_series
from shared.market.simulator import Simulator
from shared.timefmt import parse_time, to_iso

NOW = parse_time("2026-11-25T12:00:00Z")
START, END = parse_time("2026-03-01"), parse_time("2026-03-08")
H = 3_600_000


@pytest.fixture
async def view(sqlite_store: SqliteCandleStore):  # type: ignore[no-untyped-def]
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    return await md.backtest_view("BTC", "1h", START, END, warmup=100)


def test_the_cursor_covers_the_range_after_the_warm_up(view) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(view, MarketView)
    assert len(view) == 7 * 24 and view.offset == 100 and len(view.arrays) == 100 + 7 * 24
    assert view.position == 0 and view.bar_time == START
    assert view.timestamp == START + H  # the bar has closed
    assert view.price == view.arrays.close[100]
    steps = 1
    while view.advance():
        steps += 1
    assert steps == len(view) and view.timestamp == END and not view.advance()
    with pytest.raises(IndexError):
        view.seek(len(view))


def test_bar_k_sees_itself_and_earlier_bars_only(view) -> None:  # type: ignore[no-untyped-def]
    for k in (0, 1, 50, len(view) - 1):
        view.seek(k)
        rows = view.candles(3)
        assert rows[-1]["time"] == to_iso(view.bar_time)
        assert all(r["time"] <= to_iso(view.bar_time) for r in rows)
        assert len(view.candles(10_000)) == view.index + 1


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_indicator_at_each_bar_equals_a_computation_on_the_bars_up_to_it(view, name: str) -> None:  # type: ignore[no-untyped-def]
    for k in (0, 17, 99, len(view) - 1):
        view.seek(k)
        expected = compute_series(view.arrays[: view.index + 1], name, ()).value_at(view.index)
        got = view.indicator(name, ())
        if isinstance(expected, dict):
            assert got.keys() == expected.keys()
            for key in expected:
                assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9)
        elif isinstance(expected, float):
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert got == expected


def test_each_indicator_is_computed_once_per_series_and_arguments(view) -> None:  # type: ignore[no-untyped-def]
    first = view.series.indicator("rsi", (14,))
    assert view.series.indicator("rsi", (14.0,)) is first
    assert view.series.indicator("rsi", ()) is first  # defaults resolve to the same computation
    assert view.series.indicator("rsi", (7,)) is not first


def test_bad_program_calls_raise_indicator_error(view) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndicatorError):
        view.indicator("rsi", (0,))
    with pytest.raises(IndicatorError, match="candles"):
        view.candles(-1)
    with pytest.raises(IndicatorError, match="valid timeframes"):
        view.market("ETH", "2h")


def test_other_markets_follow_the_cursor_without_looking_ahead(view) -> None:  # type: ignore[no-untyped-def]
    eth4h = view.market("ETH", "4h")
    assert isinstance(eth4h, MarketView) and view.market("ETH", "4h") is eth4h
    sim = Simulator(42)
    for k in (0, 3, 4, 5, 60, len(view) - 1):
        view.seek(k)
        last = eth4h.candles(1)[0]
        closes_at = parse_time(last["time"]) + 4 * H
        assert closes_at <= view.timestamp < closes_at + 4 * H
        assert eth4h.timestamp == view.timestamp
        expected = sim.candles("ETH", "4h", closes_at - 4 * H, closes_at).close[-1]
        assert eth4h.price == expected
        assert eth4h.indicator("sma", (3,)) is not None


async def test_backtest_over_a_range_after_now_uses_the_simulator(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: parse_time("2026-01-01"))
    view = await md.backtest_view("SOL", "1d", parse_time("2026-03-01"), parse_time("2026-04-01"), warmup=10)
    assert len(view) == 31
    again = await build_market_data(sqlite_store, clock=lambda: NOW).backtest_view(
        "SOL", "1d", parse_time("2026-03-01"), parse_time("2026-04-01"), warmup=10)
    assert view.arrays.equals(again.arrays)  # the same candles whenever the backtest runs


async def test_backtest_on_a_symbol_without_data_in_range_is_refused(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    from shared.market import CandleArrays

    await md.import_candles("DOGE", "1h", CandleArrays.from_rows([(parse_time("2020-01-01"), 1.0, 1.0, 1.0, 1.0, 1.0)]))
    with pytest.raises(UnknownSymbolError, match="no DOGE 1h candles"):
        await md.backtest_view("DOGE", "1h", START, END)


async def test_indicator_lookups_per_bar_stay_cheap_over_a_long_backtest(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    view = await md.backtest_view("ETH", "5m", parse_time("2026-01-01"), parse_time("2026-02-01"), warmup=0)
    values = []
    for k in range(len(view)):
        view.seek(k)
        values.append(view.indicator("ema", (20,)))
    full = compute_series(view.arrays, "ema", (20,)).output
    np.testing.assert_allclose(np.array(values[19:], dtype=float), full[19:], rtol=0)
