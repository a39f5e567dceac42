"""The MarketData facade: closed candles only, source precedence, symbols, limits, live mode."""

from __future__ import annotations

import pytest

from shared.market import (
    CandleArrays,
    MarketDataUnavailableError,
    MarketRequestError,
    MarketView,
    MongoCandleStore,
    SqliteCandleStore,
    UnknownSymbolError,
    build_market_data,
    timeframe_ms,
)
from shared.market.simulator import Simulator
from shared.timefmt import parse_time
from tests.doubles.mongo import AsyncMongoClientDouble
from tests.market.conftest import FakeClock

NOW = parse_time("2026-03-10T12:34:56Z")
H = 3_600_000


@pytest.mark.parametrize("tf", ["1m", "5m", "15m", "1h", "4h", "1d"])
async def test_only_candles_closed_by_now_are_handed_out(sqlite_store: SqliteCandleStore, tf: str) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    candles = await md.candles("BTC", tf, limit=50)
    period = timeframe_ms(tf)
    assert len(candles) == 50
    assert candles.time[-1] + period <= NOW < candles.time[-1] + 2 * period  # the newest closed candle, not the forming one
    asked_for_future = await md.candles("BTC", tf, NOW - 3 * period, NOW + 10 * period)
    assert asked_for_future.time[-1] + period <= NOW


async def test_limit_without_start_gives_the_latest_and_with_start_pages_forward(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    latest = await md.candles("ETH", "1h", limit=3)
    assert latest.time.tolist() == [parse_time("2026-03-10T09:00"), parse_time("2026-03-10T10:00"), parse_time("2026-03-10T11:00")]
    page = await md.candles("ETH", "1h", start_ms=parse_time("2026-03-01T00:30"), limit=2)
    assert page.time.tolist() == [parse_time("2026-03-01T01:00"), parse_time("2026-03-01T02:00")]
    assert len(await md.candles("ETH", "1h")) == 1000  # default


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be a positive whole number"),
        ({"start_ms": parse_time("2026-03-05"), "end_ms": parse_time("2026-03-01")}, "is before start"),
        ({"start_ms": 0}, "too many candles requested"),
    ],
)
async def test_unanswerable_requests_say_why(sqlite_store: SqliteCandleStore, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    with pytest.raises(MarketRequestError, match=message):
        await md.candles("BTC", "1m", **kwargs)


async def test_unknown_timeframe_raises_value_error_listing_valid_ones(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    with pytest.raises(ValueError, match="valid timeframes"):
        await md.candles("BTC", "2h")


async def test_symbols_come_from_every_source_sorted_and_unknown_ones_are_refused(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    await md.import_candles("DOGE", "1h", CandleArrays.from_rows([(parse_time("2026-03-01"), 0.1, 0.12, 0.09, 0.11, 1e6)]))
    assert await md.symbols() == ["ARB", "BTC", "DOGE", "EOS", "ETH", "LTC", "SOL", "XRP"]
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'NOPE'; known symbols: ARB, BTC, DOGE"):
        await md.candles("NOPE", "1h")
    assert len(await md.candles("btc", "1h", limit=2)) == 2  # case does not matter


async def test_imported_candles_win_and_holes_between_them_stay_holes(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    real_like = CandleArrays.from_rows([(parse_time("2026-01-05") + i * H, 10.0, 11.0, 9.0, 10.5, 5.0) for i in range(24)])
    later = CandleArrays.from_rows([(parse_time("2026-02-20") + i * H, 20.0, 21.0, 19.0, 20.5, 5.0) for i in range(24)])
    await md.import_candles("BTC", "1h", CandleArrays.concat([real_like, later]))
    hole = await md.series("BTC", "1h", parse_time("2026-01-20"), parse_time("2026-01-21"))
    assert hole.source == "store" and not len(hole.candles)  # inside stored history: no simulated candles
    assert hole.note is not None and "24 candle(s) inside the stored range are missing" in hole.note
    day = await md.candles("BTC", "1h", parse_time("2026-01-05"), parse_time("2026-01-06"))
    assert set(day.close.tolist()) == {10.5}
    four_hourly = await md.candles("BTC", "4h", parse_time("2026-01-05"), parse_time("2026-01-06"))
    assert four_hourly.volume.tolist() == [20.0] * 6  # resampled from the imported 1h


async def test_a_stored_timeframe_wins_over_resampling_a_smaller_stored_one(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    start = parse_time("2026-02-01")
    halves = CandleArrays.from_rows([(start + i * 1_800_000, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(96)])
    hourly = CandleArrays.from_rows([(start + i * H, 7.0, 7.0, 7.0, 7.0, 7.0) for i in range(12)])
    await md.import_candles("ETH", "30m", halves)
    await md.import_candles("ETH", "1h", hourly)
    served = await md.candles("ETH", "1h", start, start + 24 * H)
    assert served.close.tolist() == [7.0] * 12 + [1.0] * 12  # own 1h first, then the 30m resampled (volume 2)
    assert served.volume.tolist() == [7.0] * 12 + [2.0] * 12


async def test_price_is_the_live_sources_latest_or_the_stored_close(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    assert await md.price("BTC") == Simulator(42).price("BTC", NOW)
    rows = [(parse_time("2025-01-01") + i * H, 5.0, 9.0, 4.0, 5.0 + i, 1.0) for i in range(3)]
    await md.import_candles("BTC", "1h", CandleArrays.from_rows(rows))
    assert await md.price("BTC", parse_time("2025-01-01T02:30")) == 6.0  # the 01:00 candle is the last one closed


async def test_view_sees_closed_candles_at_its_moment_and_its_indicators_match_a_direct_computation(
    sqlite_store: SqliteCandleStore,
) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    at = parse_time("2026-03-05T10:20:00Z")
    view = await md.view("ETH", "1h", at_ms=at, history=100)
    rows = view.candles(3)
    assert [r["time"] for r in rows] == ["2026-03-05T07:00:00Z", "2026-03-05T08:00:00Z", "2026-03-05T09:00:00Z"]
    assert view.timestamp == at and view.symbol == "ETH" and view.timeframe == "1h"
    assert view.price == Simulator(42).price("ETH", at)
    direct = await md.candles("ETH", "1h", end_ms=parse_time("2026-03-05T10:00"), limit=100)
    from shared.market import compute_indicators

    assert view.indicator("rsi", (14,)) == compute_indicators(direct, ["rsi"])["rsi"]
    assert view.indicator("vwap", ()) is not None  # enough history to know today's session VWAP


async def test_a_view_on_minutes_loads_back_to_midnight_so_session_vwap_is_known(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: parse_time("2026-03-05T20:00:30Z"))
    view = await md.view("BTC", "1m", history=50)
    assert len(view.candles(5000)) == 20 * 60 and view.indicator("vwap", ()) is not None


async def test_market_gives_another_symbol_at_the_same_moment_and_unknown_symbols_raise(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    view = await md.view("BTC", "1h")
    eth = view.market("ETH", "4h")
    assert isinstance(view, MarketView) and isinstance(eth, MarketView)
    assert eth.timestamp == view.timestamp and eth.timeframe == "4h" and eth.price == Simulator(42).price("ETH", NOW)
    assert view.market("ETH", "4h") is eth  # loaded once
    assert view.market("BTC") is view
    assert view.market("SOL").timeframe == "1h"
    with pytest.raises(UnknownSymbolError):
        view.market("NOPE")


async def test_with_an_async_only_store_views_preload_and_say_what_was_not(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = MongoCandleStore(AsyncMongoClientDouble()["hyperoru"])
    md = build_market_data(store, clock=lambda: NOW)
    hour = NOW - NOW % H
    await md.import_candles("DOGE", "1h", CandleArrays.from_rows([(hour - 5 * H + i * H, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(5)]))
    view = await md.view("BTC", "1h", preload=[("DOGE", None)])
    assert view.market("DOGE").price == 1.0  # preloaded
    assert view.market("ETH").price > 0  # not stored: the simulator answers synchronously
    other = await md.view("BTC", "1h")
    with pytest.raises(MarketDataUnavailableError, match="preload"):
        other.market("DOGE")


async def test_live_mode_yields_each_candle_as_it_closes_at_the_sped_up_pace(sqlite_store: SqliteCandleStore) -> None:
    clock = FakeClock(parse_time("2026-03-10T12:00:30Z"))
    md = build_market_data(sqlite_store, clock=clock, live_speed=60.0, sleep=clock.sleep)
    seen = []
    async for fresh in md.watch("BTC", "1m"):
        seen.extend(fresh.time.tolist())
        if len(seen) >= 5:
            break
    assert seen == [parse_time("2026-03-10T12:00") + i * 60_000 for i in range(5)]
    assert md.now() >= seen[-1] + 60_000
    wall_seconds = (clock.now - parse_time("2026-03-10T12:00:30Z")) / 1000
    assert wall_seconds < 6  # five market minutes took about five wall seconds at 60x
    assert max(clock.slept) <= 1.0


async def test_the_speed_up_clock_runs_faster_than_the_wall() -> None:
    clock = FakeClock(NOW)
    md = build_market_data(SqliteCandleStore(":memory:"), clock=clock, live_speed=10.0)
    clock.now += 1_000
    assert md.now() == NOW + 10_000


async def test_market_in_another_spelling_returns_the_same_view(sqlite_store: SqliteCandleStore) -> None:
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    view = await md.view("BTC", "1h")
    assert view.market("btc") is view
    assert view.market("eth") is view.market("ETH")
    backtest = await md.backtest_view("BTC", "1h", parse_time("2026-03-01"), parse_time("2026-03-02"), warmup=10)
    assert backtest.market("Btc") is backtest and backtest.market("sol", "4h") is backtest.market("SOL", "4h")
