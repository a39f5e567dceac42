"""Backtesting a binding through HTTP: the program runs only on the bars where the binding would have run live.

A binding with a pool replays on exactly the bars where the pool fires — checked against the pool
evaluated independently here, on the same candles, with `shared.signals.fire_times` (the vectorised
evaluator) — and a schedule-only binding runs on its schedule's bars only. The program records an order
on every run, so each run is one trigger of the result (its timestamp is the bar's close).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from shared.market.factory import open_market_data
from shared.market.timeframes import ceil_time
from shared.settings import Settings
from shared.signals import fire_times, parse_pool
from shared.timefmt import parse_time, to_iso
from tests.e2e.test_backtest_api import all_pages, wait_until_done
from tests.harness import Api

EVERY_RUN_TRADES = """
fn run(ctx) {
    ctx.state.runs = ctx.state.get("runs", 0) + 1;
    if ctx.position() == null {
        ctx.buy(ctx.symbol, ctx.params.get("size", 0.001), "run");
    } else {
        ctx.close(ctx.symbol, "run");
    }
}
"""
HOUR = 3_600_000
START, END = "2024-03-01", "2024-03-31"
POOL = {
    "name": "BTC crosses above its 20-hour average",
    "logic": "OR",
    "signals": [{"symbol": "BTC", "timeframe": "1h", "metric": "price", "operator": "crosses_above", "value": "sma(20)"}],
}


async def created(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = await api.post(path, body)
    assert status == 201, reply
    return reply


async def replay(api: Api, binding_id: int, **extra: Any) -> dict[str, Any]:
    status, accepted = await api.post("/api/programs/backtest", {
        "binding_id": binding_id, "symbol": "BTC", "start_date": START, "end_date": END, **extra,
    })
    assert status == 202, accepted
    result = await wait_until_done(api, accepted["backtest_id"], timeout=120)
    assert result["status"] == "completed", result
    return result


async def run_times(api: Api, backtest_id: str) -> list[int]:
    triggers = await all_pages(api, f"/api/programs/backtest/{backtest_id}/triggers", 500)
    return sorted(parse_time(t["timestamp"]) for t in triggers)


async def expected_pool_closes(settings: Settings) -> list[int]:
    """Where the pool fires over the range, evaluated here on the candles the backtest reads."""
    pool = parse_pool(POOL["logic"], POOL["signals"])
    start, end = parse_time(START), parse_time(END)
    async with AsyncExitStack() as stack:
        market, _ = await open_market_data(settings, stack)
        sourced = await market.series("BTC", "1h", start, end, as_of_ms=end, live=False, warmup=500)
    times = fire_times(pool, {("BTC", "1h"): sourced.candles}, start, end)
    # a pool firing at close t runs the program on the bar closing at t (1h pool, 1h bars): closes in (start, end]
    return [int(t) for t in times if start < t <= end]


async def test_pool_binding_replays_only_where_its_pool_fires(api: Api, settings: Settings) -> None:
    program = await created(api, "/api/programs", {"name": "every run trades", "code": EVERY_RUN_TRADES})
    account = await created(api, "/api/programs/accounts/", {"name": "replayed"})
    pool = await created(api, "/api/programs/signal-pools/", POOL)
    binding = await created(api, "/api/programs/bindings/", {
        "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1h",
        "signal_pool_ids": [pool["id"]], "params": {"size": 0.002}, "enabled": False,
    })

    result = await replay(api, binding["id"])
    assert result["binding_id"] == binding["id"] and result["program_id"] == program["id"]
    assert result["timeframe"] == "1h" and result["params"] == {"size": 0.002}
    ran = await run_times(api, result["id"])
    expected = await expected_pool_closes(settings)  # the session platform's data dir: the same candle store
    assert 5 <= len(expected) < result["bars_total"] // 4, expected  # a real selection, not every bar
    assert ran == expected
    trades = await all_pages(api, f"/api/programs/backtest/{result['id']}/trades", 500)
    assert trades and all(t["size"] == 0.002 for t in trades)  # the binding's params were used

    # the same program without the binding runs on every bar
    status, accepted = await api.post("/api/programs/backtest", {
        "program_id": program["id"], "symbol": "BTC", "start_date": START, "end_date": END,
    })
    assert status == 202
    full = await wait_until_done(api, accepted["backtest_id"], timeout=120)
    assert full["binding_id"] is None
    assert len(await run_times(api, full["id"])) == full["bars_total"]


async def test_schedule_binding_replays_on_schedule_bars_only(api: Api) -> None:
    program = await created(api, "/api/programs", {"name": "every run trades", "code": EVERY_RUN_TRADES})
    account = await created(api, "/api/programs/accounts/", {"name": "replayed"})
    binding = await created(api, "/api/programs/bindings/", {
        "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1h",
        "schedule": {"interval": "6h"}, "enabled": False,
    })
    result = await replay(api, binding["id"], params={"size": 0.003})
    assert result["binding_id"] == binding["id"] and result["params"] == {"size": 0.003}
    ran = await run_times(api, result["id"])
    start, end = parse_time(START), parse_time(END)
    assert ran == list(range(ceil_time(start + 1, 6 * HOUR), end + 1, 6 * HOUR)), [to_iso(t) for t in ran[:5]]

    # a cron schedule: 09:30 UTC each day runs on the bar closed by then (the one closing at 09:00)
    status, _ = await api.put(f"/api/programs/bindings/{binding['id']}", {"schedule": {"cron": "30 9 * * *"}})
    assert status == 200
    ran = await run_times(api, (await replay(api, binding["id"]))["id"])
    assert ran == [start + day * 24 * HOUR + 9 * HOUR for day in range(30)]


async def test_binding_replay_refusals(api: Api) -> None:
    program = await created(api, "/api/programs", {"name": "every run trades", "code": EVERY_RUN_TRADES})
    account = await created(api, "/api/programs/accounts/", {"name": "replayed"})
    binding = await created(api, "/api/programs/bindings/", {
        "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "4h",
        "schedule": {"interval": "1d"}, "enabled": False,
    })
    body = {"binding_id": binding["id"], "symbol": "BTC", "start_date": START, "end_date": END}
    cases = [
        ({"symbol": "ETH"}, 422, "symbol"),
        ({"timeframe": "15m"}, 422, "timeframe"),
        ({"version": 1}, 422, "version"),
        ({"binding_id": 987654}, 404, "binding_id"),
        ({"program_id": program["id"]}, 422, "binding_id"),
    ]
    for change, status_wanted, field in cases:
        status, reply = await api.post("/api/programs/backtest", {**body, **change})
        assert status == status_wanted and reply["error"]["details"]["field"] == field, (change, reply)
    other = Api(api.session, api.base_url)  # another owner cannot replay my binding
    status, reply = await other.post("/api/programs/backtest", body)
    assert status == 404 and reply["error"]["details"]["field"] == "binding_id"
    # the binding's timeframe is used when the request leaves it out (4h bars, a daily schedule)
    result = await replay(api, binding["id"])
    assert result["timeframe"] == "4h"
    assert len(await run_times(api, result["id"])) == 30


# replay-trigger: each replayed run sees the ctx.trigger it would have had live (not {"type": "backtest"})
LOGS_TRIGGER = """
fn run(ctx) {
    let t = ctx.trigger;
    ctx.log("trigger " + t.type + " pool " + str(t.pool) + " signals " + str(t.signals.len()) + " at " + t.get("time", "none"));
    if t.signals.len() > 0 {
        let s = t.signals[0];
        ctx.log("signal " + s.metric + " " + s.operator + " " + str(s.value) + " held " + str(s.get("true", false)));
    }
    if ctx.position() == null {
        ctx.buy(ctx.symbol, 0.001, t.type);
    } else {
        ctx.close(ctx.symbol, t.type);
    }
}
"""


async def trigger_logs(api: Api, backtest_id: str) -> list[tuple[int, list[str]]]:
    """(decision time, the run's log) of every run, from the trigger details."""
    out = []
    for item in await all_pages(api, f"/api/programs/backtest/{backtest_id}/triggers", 500):
        status, detail = await api.get(f"/api/programs/backtest/trigger/{item['id']}")
        assert status == 200, detail
        out.append((parse_time(detail["timestamp"]), detail["context"]["logs"]))
    return sorted(out)


async def test_replayed_runs_see_the_live_trigger_in_ctx(api: Api, settings: Settings) -> None:
    program = await created(api, "/api/programs", {"name": "logs its trigger", "code": LOGS_TRIGGER})
    account = await created(api, "/api/programs/accounts/", {"name": "replayed"})
    pool = await created(api, "/api/programs/signal-pools/", POOL)
    binding = await created(api, "/api/programs/bindings/", {
        "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1h",
        "signal_pool_ids": [pool["id"]], "enabled": False,
    })
    runs = await trigger_logs(api, (await replay(api, binding["id"]))["id"])
    expected = await expected_pool_closes(settings)
    assert [t for t, _ in runs] == expected
    for close, logs in runs:  # a 1h pool on 1h bars: it fired at the very close the program decides on
        assert logs == [
            f"trigger signal pool {pool['id']} signals 1 at {to_iso(close)}",
            "signal price crosses_above sma(20) held true",
        ], logs

    # a schedule binding: type "schedule", no pool, no signals, the schedule's time
    status, _ = await api.put(f"/api/programs/bindings/{binding['id']}", {"signal_pool_ids": [], "schedule": {"cron": "30 9 * * *"}})
    assert status == 200
    runs = await trigger_logs(api, (await replay(api, binding["id"]))["id"])
    start = parse_time(START)
    assert [t for t, _ in runs] == [start + day * 24 * HOUR + 9 * HOUR for day in range(30)]
    for close, logs in runs:  # the 09:30 schedule runs on the bar closed at 09:00, and says when it was due
        assert logs == [f"trigger schedule pool null signals 0 at {to_iso(close + HOUR // 2)}"], logs

    # the same program in a plain backtest: every bar, type "backtest" (no pool, no signals)
    status, accepted = await api.post("/api/programs/backtest", {
        "program_id": program["id"], "symbol": "BTC", "start_date": START, "end_date": "2024-03-02",
    })
    assert status == 202, accepted
    plain = await wait_until_done(api, accepted["backtest_id"], timeout=120)
    assert plain["status"] == "completed", plain
    runs = await trigger_logs(api, plain["id"])
    assert len(runs) == plain["bars_total"]
    assert {tuple(logs) for _, logs in runs} == {("trigger backtest pool null signals 0 at none",)}
