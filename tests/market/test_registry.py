"""The indicator registry: names, defaults, argument validation, output kinds, query == program."""

from __future__ import annotations

import json

import pytest

from shared.market import INDICATORS, CandleArrays, IndicatorError, compute_indicators, parse_indicator_call
from shared.market.registry import compute_series, get_indicator
from shared.market.simulator import Simulator
from shared.market.views import LiveView, Series, _Family
from shared.timefmt import parse_time

PROGRAM_NAMES = {"rsi", "sma", "ema", "atr", "vwap", "obv", "macd", "bbands", "stoch", "volume_spike", "change"}


def candles() -> CandleArrays:
    return Simulator(1).candles("ETH", "1h", parse_time("2026-01-01"), parse_time("2026-02-01"))


def test_registry_has_every_name_programs_use() -> None:
    assert set(INDICATORS) == PROGRAM_NAMES


@pytest.mark.parametrize(
    ("name", "args", "normalized"),
    [
        ("rsi", (), (14,)), ("rsi", (7.0,), (7,)), ("sma", (), (20,)), ("ema", (), (20,)), ("atr", (), (14,)),
        ("vwap", (), ()), ("vwap", (30.0,), (30,)), ("obv", (), ()), ("macd", (), (12, 26, 9)),
        ("macd", (5.0, 35.0), (5, 35, 9)), ("bbands", (), (20, 2.0)), ("bbands", (10, 2.5), (10, 2.5)),
        ("stoch", (), (14, 3)), ("volume_spike", (), (20, 2.0)), ("change", (), (1,)), ("change", (24,), (24,)),
    ],
)
def test_defaults_fill_missing_arguments_and_floats_become_periods(name: str, args: tuple, normalized: tuple) -> None:  # type: ignore[type-arg]
    assert get_indicator(name).normalize(args) == normalized


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("rsi", (0,), "`period` must be a whole number of bars from 1 to 10000, got 0"),
        ("rsi", (14.5,), "whole number of bars from 1 to 10000, got 14.5"),
        ("sma", (-3,), "got -3"),
        ("ema", (10_001,), "got 10001"),
        ("atr", (float("nan"),), "must be a finite number"),
        ("rsi", ("14",), "must be a number"),
        ("rsi", (True,), "must be a number"),
        ("rsi", (14, 2), "rsi takes at most 1 argument(s): rsi(period=14); got 2"),
        ("obv", (5,), "obv takes at most 0 argument(s)"),
        ("bbands", (20, 0), "`mult` must be greater than 0 and at most 100, got 0"),
        ("bbands", (20, 1000), "at most 100, got 1000"),
        ("volume_spike", (20, -2), "`mult` must be greater than 0"),
    ],
)
def test_bad_arguments_raise_indicator_error_with_a_clear_message(name: str, args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(IndicatorError) as info:
        compute_series(candles(), name, args)
    assert message in str(info.value)


def test_macd_needs_fast_below_slow() -> None:
    with pytest.raises(IndicatorError, match=r"`fast` \(26\) must be smaller than `slow` \(12\)"):
        compute_series(candles(), "macd", (26, 12, 9))


def test_unknown_indicator_lists_the_supported_names() -> None:
    supported = "atr, bbands, change, ema, macd, obv, rsi, sma, stoch, volume_spike, vwap"
    with pytest.raises(IndicatorError, match=f"unknown indicator 'rsx'; supported: {supported}"):
        get_indicator("rsx")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("rsi", ("rsi", ())), ("RSI(7)", ("rsi", (7.0,))), (" bbands( 20 , 2.5 ) ", ("bbands", (20.0, 2.5))), ("macd()", ("macd", ()))],
)
def test_indicator_calls_are_read_from_text(text: str, parsed: tuple) -> None:  # type: ignore[type-arg]
    assert parse_indicator_call(text) == parsed


@pytest.mark.parametrize(("text", "message"), [("rsi(x)", "'x' is not a number"), ("rsi(", "cannot read"), ("nope", "unknown indicator")])
def test_unreadable_indicator_calls_are_rejected(text: str, message: str) -> None:
    with pytest.raises(IndicatorError, match=message):
        parse_indicator_call(text)


def test_query_results_are_json_and_equal_what_a_program_sees_through_its_view() -> None:
    c = candles()
    names = ["rsi", "sma(50)", "ema", "atr", "vwap", "obv", "macd", "bbands(20,2)", "stoch", "volume_spike", "change(24)"]
    from_arrays = compute_indicators(c, names)
    view = LiveView(Series("ETH", "1h", c, source="store"), int(c.time[-1]) + 3_600_000, float(c.close[-1]), _Family(lambda s, t: None))  # type: ignore[arg-type,return-value]
    from_view = compute_indicators(view, names)
    assert from_arrays == from_view
    json.dumps(from_arrays)  # floats, None, bools and dicts only
    assert isinstance(from_arrays["volume_spike"], bool)
    assert set(from_arrays["macd"]) == {"value", "signal", "histogram"}  # type: ignore[arg-type]
    assert set(from_arrays["bbands(20,2)"]) == {"upper", "middle", "lower"}  # type: ignore[arg-type]
    assert set(from_arrays["stoch"]) == {"k", "d"}  # type: ignore[arg-type]
    assert all(type(v) in (float, bool, dict) for v in from_arrays.values())


def test_query_on_too_little_history_gives_none_not_an_error() -> None:
    result = compute_indicators(candles()[:10], ["rsi", "macd", "volume_spike"])
    assert result == {"rsi": None, "macd": {"value": None, "signal": None, "histogram": None}, "volume_spike": False}
    assert compute_indicators(CandleArrays.empty(), ["rsi", "stoch"]) == {"rsi": None, "stoch": {"k": None, "d": None}}
