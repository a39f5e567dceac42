"""Backtests through HTTP on the test platform: submit (202), the job on the work queue, results,
4xx before any job exists, failure with line and bar time, cancel, and paging."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import nats
import pytest

from shared.messages.backtests import BacktestEvent
from shared.settings import Settings
from tests.harness import Api

CROSSOVER = """
fn run(ctx) {
    let fast = ctx.sma(ctx.params.get("fast", 10));
    let slow = ctx.sma(ctx.params.get("slow", 20));
    if is_null(fast) || is_null(slow) { return; }
    let above = fast > slow;
    let prev = ctx.state.get("above", null);
    if prev != null && above != prev {
        if above { ctx.buy(ctx.symbol, 0.05, "golden cross"); } else { ctx.close(ctx.symbol, "death cross"); }
    }
    ctx.state.above = above;
}
"""

FAILS_ON_BAR_31 = """fn run(ctx) {
    let n = ctx.state.get("n", 0);
    if n == 30 { let boom = 1 / (n - 30); }
    ctx.state.n = n + 1;
}
"""

SLOW = """fn run(ctx) {
    let x = 0;
    for i in 0..3000 { x += i; }
    ctx.state.x = x;
}
"""

RANGE = {"symbol": "BTC", "timeframe": "1h", "start_date": "2024-03-01", "end_date": "2024-03-31"}


async def create_program(api: Api, code: str = CROSSOVER, name: str = "crossover") -> int:
    status, body = await api.post("/api/programs", {"name": name, "code": code})
    assert status == 201, body
    return int(body["id"])


async def wait_until_done(api: Api, backtest_id: str, timeout: float = 60.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            status, body = await api.get(f"/api/programs/backtest/{backtest_id}")
            assert status == 200, body
            if body["status"] in ("completed", "failed", "cancelled"):
                return body
            await asyncio.sleep(0.1)


async def wait_for_status(api: Api, backtest_id: str, wanted: str, timeout: float = 60.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            _, body = await api.get(f"/api/programs/backtest/{backtest_id}")
            if body["status"] == wanted:
                return body
            assert body["status"] in ("queued", "running"), body
            await asyncio.sleep(0.05)


async def all_pages(api: Api, path: str, limit: int) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        sep = "&" if "?" in path else "?"
        query = f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.get(path + query)
        assert status == 200, page
        assert len(page) <= limit
        items.extend(page)
        cursor = api.last_headers.get("X-Next-Cursor")
        if cursor is None:
            return items
    raise AssertionError("paging never ended")


async def test_a_backtest_runs_from_submit_to_results(api: Api, settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    events: list[tuple[str, BacktestEvent]] = []

    async def collect(msg: Any) -> None:
        event = msgspec.json.decode(msg.data, type=BacktestEvent)
        if event.owner == api.owner:
            events.append((msg.subject, event))

    await nc.subscribe("evt.backtester.>", cb=collect)
    try:
        program_id = await create_program(api)
        status, accepted = await api.post(f"/api/programs/{program_id}/backtest", {**RANGE, "initial_capital": 20_000})
        assert status == 202, accepted
        assert accepted["status"] == "queued" and accepted["backtest_id"].startswith("bt-")
        backtest_id = accepted["backtest_id"]
        result = await wait_until_done(api, backtest_id)
        await asyncio.sleep(0.2)
    finally:
        await nc.close()

    assert result["status"] == "completed", result
    assert result["id"] == backtest_id and result["program_id"] == program_id
    assert (result["symbol"], result["timeframe"], result["initial_capital"], result["version"]) == ("BTC", "1h", 20_000, 1)
    assert result["start_date"] == "2024-03-01T00:00:00Z" and result["end_date"] == "2024-03-31T00:00:00Z"
    assert result["progress"] == 1.0 and result["bars_done"] == result["bars_total"] == 30 * 24
    assert result["started_at"] and result["finished_at"] and result["attempts"] == 1
    assert result["source"] == "simulator"
    assert result["total_trades"] >= 1 and 0 <= result["win_rate"] <= 1
    assert result["final_equity"] == pytest.approx(20_000 + result["total_pnl"])
    assert result["max_drawdown"] <= 0
    assert set(result["metrics"]) >= {"sharpe", "total_trades", "buy_hold_return_pct"}
    assert 0 < len(result["equity"]) <= 2000 and result["equity"][0]["time"] == "2024-03-01T00:00:00Z"

    trades = await all_pages(api, f"/api/programs/backtest/{backtest_id}/trades", 2)
    assert len(trades) == result["total_trades"] == result["trades_count"]
    assert set(trades[0]) >= {"entry_time", "exit_time", "side", "size", "entry_price", "exit_price", "pnl", "return_pct", "fees", "exit_reason"}
    assert sum(t["pnl"] for t in trades) == pytest.approx(result["total_pnl"], abs=1e-6)

    triggers = await all_pages(api, f"/api/programs/backtest/{backtest_id}/triggers", 3)
    assert len(triggers) == result["triggers_count"] >= len(trades)
    assert set(triggers[0]) == {"id", "type", "symbol", "price", "timestamp"}
    status, detail = await api.get(f"/api/programs/backtest/trigger/{triggers[0]['id']}")
    assert status == 200, detail
    assert detail["id"] == triggers[0]["id"] and detail["backtest_id"] == backtest_id
    names = [call["name"] for call in detail["context"]["indicators"]]
    assert "sma" in names and detail["context"]["orders"][0]["action"] == triggers[0]["type"]

    markers = await all_pages(api, f"/api/programs/backtest/{backtest_id}/markers", 5)
    assert {m["type"] for m in markers} == {"entry", "exit"} and set(markers[0]) == {"type", "timestamp", "price", "side"}

    curve = await all_pages(api, f"/api/programs/backtest/{backtest_id}/equity", 500)
    assert len(curve) == result["equity_points"] == 720
    assert curve[-1]["equity"] == pytest.approx(result["final_equity"])

    kinds = [subject.rsplit(".", 1)[1] for subject, event in events if event.backtest_id == backtest_id]
    assert kinds[0] == "started" and kinds[-1] == "completed" and kinds.count("completed") == 1

    status, history = await api.get(f"/api/programs/backtest/history?program_id={program_id}")
    assert status == 200 and [row["id"] for row in history] == [backtest_id]
    assert set(history[0]) == {"id", "program_id", "symbol", "timeframe", "status", "created_at", "started_at", "finished_at", "progress"}


async def test_an_unsaved_program_backtests_from_its_code(api: Api) -> None:
    status, accepted = await api.post("/api/programs/backtest", {"code": CROSSOVER, **RANGE, "params": {"fast": 5, "slow": 30}})
    assert status == 202, accepted
    result = await wait_until_done(api, accepted["backtest_id"])
    assert result["status"] == "completed" and result["program_id"] is None and result["params"] == {"fast": 5, "slow": 30}


async def test_a_program_error_fails_the_job_with_line_column_and_bar_time(api: Api) -> None:
    status, accepted = await api.post("/api/programs/backtest", {"code": FAILS_ON_BAR_31, **RANGE})
    assert status == 202, accepted
    result = await wait_until_done(api, accepted["backtest_id"])
    assert result["status"] == "failed", result
    error = result["error"]
    assert error["kind"] == "runtime" and error["line"] == 3 and error["column"] > 0
    assert "zero" in error["message"]
    assert error["bar_time"] == "2024-03-02T07:00:00Z"  # the 31st bar (06:00) closes at 07:00
    assert result["bars_done"] == 30
    status, trades = await api.get(f"/api/programs/backtest/{accepted['backtest_id']}/trades")
    assert status == 200 and trades == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"program_id": 999_999, **RANGE}, 404, None),
        ({"code": CROSSOVER, **RANGE, "symbol": "NOPE"}, 404, "symbol"),
        ({"code": CROSSOVER, **RANGE, "start_date": "2024-03-10", "end_date": "2024-03-01"}, 422, "end_date"),
        ({"code": CROSSOVER, **RANGE, "start_date": "yesterday"}, 422, "start_date"),
        ({"code": "fn run(ctx) {\n  ctx.buy(ctx.symbol 1)\n}", **RANGE}, 422, "code"),
        ({"code": CROSSOVER, "program_id": 1, **RANGE}, 422, "code"),
        ({**RANGE}, 422, "program_id"),
        ({"code": CROSSOVER, **RANGE, "timeframe": "7m"}, 422, "timeframe"),
        ({"code": CROSSOVER, **RANGE, "fee_rate": -1}, 422, "fee_rate"),
        ({"binding_id": 3, **RANGE}, 404, "binding_id"),  # live-followups: replay exists; no such binding of this owner
    ],
)
async def test_a_bad_submit_is_a_4xx_and_creates_no_job(api: Api, body: dict[str, Any], status: int, field: str | None) -> None:
    got, reply = await api.post("/api/programs/backtest", body)
    assert got == status, reply
    if field is not None:
        assert reply["error"]["details"]["field"] == field
    _, history = await api.get("/api/programs/backtest/history")
    assert history == []


async def test_a_range_with_no_candles_is_a_422_and_creates_no_job(api: Api) -> None:
    symbol = f"ZB{uuid.uuid4().hex[:6].upper()}"
    rows = "".join(f"2016-01-01T{h:02d}:00:00Z,430,432,428,431,120\n" for h in range(24))
    status, imported = await api.call(
        "POST", f"/api/programs/market-data/import?symbol={symbol}&timeframe=1h",
        raw=("time,open,high,low,close,volume\n" + rows).encode(), headers={"Content-Type": "text/csv"},
    )
    assert status == 201, imported
    status, reply = await api.post("/api/programs/backtest", {"code": CROSSOVER, "symbol": symbol, "start_date": "2020-01-01", "end_date": "2020-02-01"})
    assert status == 422 and reply["error"]["details"]["field"] == "start_date", reply
    assert "2016-01-01" in reply["error"]["message"]
    assert (await api.get("/api/programs/backtest/history"))[1] == []
    status, accepted = await api.post("/api/programs/backtest", {"code": CROSSOVER, "symbol": symbol, "start_date": "2016-01-01"})
    assert status == 202, accepted
    done = await wait_until_done(api, accepted["backtest_id"])
    assert done["status"] == "completed" and done["source"] == "store" and done["bars_total"] == 24, done


async def test_a_compile_error_names_its_line_and_column(api: Api) -> None:
    status, reply = await api.post("/api/programs/backtest", {"code": "fn run(ctx) {\n  ctx.buy(ctx.symbol 1)\n}", **RANGE})
    assert status == 422 and reply["error"]["code"] == "program_failed"
    assert reply["error"]["details"]["errors"][0]["line"] == 2


async def test_cancel_stops_a_running_job_and_the_next_job_still_runs(api: Api) -> None:
    body = {"code": SLOW, "symbol": "BTC", "timeframe": "1m", "start_date": "2024-01-01", "end_date": "2024-01-31"}
    status, accepted = await api.post("/api/programs/backtest", body)
    assert status == 202, accepted
    backtest_id = accepted["backtest_id"]
    await wait_for_status(api, backtest_id, "running")
    status, reply = await api.post(f"/api/programs/backtest/{backtest_id}/cancel")
    assert status == 200 and reply == {"backtest_id": backtest_id, "status": "cancelled"}
    status, again = await api.post(f"/api/programs/backtest/{backtest_id}/cancel")
    assert status == 200 and again["status"] == "cancelled"
    await asyncio.sleep(0.5)
    _, record = await api.get(f"/api/programs/backtest/{backtest_id}")
    assert record["status"] == "cancelled" and record["finished_at"] and record["progress"] < 1
    _, history = await api.get("/api/programs/backtest/history?status=cancelled")
    assert [row["id"] for row in history] == [backtest_id]

    _, next_job = await api.post("/api/programs/backtest", {"code": CROSSOVER, **RANGE})
    assert (await wait_until_done(api, next_job["backtest_id"]))["status"] == "completed"
    status, conflict = await api.post(f"/api/programs/backtest/{next_job['backtest_id']}/cancel")
    assert status == 409, conflict


async def test_unknown_backtests_and_triggers_are_404(api: Api) -> None:
    assert (await api.get("/api/programs/backtest/bt-0000000000000000"))[0] == 404
    assert (await api.get("/api/programs/backtest/bt-0000000000000000/trades"))[0] == 404
    assert (await api.post("/api/programs/backtest/bt-0000000000000000/cancel"))[0] == 404
    assert (await api.get("/api/programs/backtest/trigger/trig-0000000000000000-0"))[0] == 404
    assert (await api.get("/api/programs/backtest/not-an-id"))[0] == 404


async def test_history_pages_newest_first_and_filters(api: Api) -> None:
    program_id = await create_program(api)
    ids = []
    for _ in range(3):
        _, accepted = await api.post(f"/api/programs/{program_id}/backtest", RANGE)
        ids.append(accepted["backtest_id"])
    _, other = await api.post("/api/programs/backtest", {"code": CROSSOVER, **RANGE})
    for backtest_id in [*ids, other["backtest_id"]]:
        await wait_until_done(api, backtest_id)
    rows = await all_pages(api, f"/api/programs/backtest/history?program_id={program_id}", 1)
    assert [row["id"] for row in rows] == ids[::-1]
    everything = await all_pages(api, "/api/programs/backtest/history", 2)
    assert [row["id"] for row in everything] == [other["backtest_id"], *ids[::-1]]
    assert (await api.get("/api/programs/backtest/history?status=failed"))[1] == []
    status, bad = await api.get("/api/programs/backtest/history?cursor=!!")
    assert status == 422, bad

