"""Result chunks hold the engine's compact records (services/backtester/items.py, store.py); what the API
reads back must be exactly the items built straight from the engine's objects: the reference here is
written independently (msgspec.to_builtins + shared.timefmt.to_iso), over a run with a flip, a
rejection, an order never filled, logs, a take-profit exit, several chunks and reads across chunk ends.
Chunks written before (plain items, zlib JSON, zlib pairs) still read."""

from __future__ import annotations

import base64
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from services.backtester import store as result_store
from services.backtester.engine import BacktestOutcome, BacktestSpec, run_backtest, view_over
from services.backtester.items import marker_columns, trigger_context
from services.backtester.store import EQUITY, MARKERS, TRADES, TRIGGERS, BacktestStore, chunk_id
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.store import open_store
from shared.timefmt import to_iso
from shared.trading import AccountConfig, Fill, Rejection

OWNER = "alice"
BT = "bt-00112233aabbccdd"
PROGRAM = """
fn run(ctx) {
    let n = ctx.state.get("n", 0) + 1;
    ctx.state.n = n;
    let fast = ctx.sma(3);
    ctx.log("bar " + str(n));
    if n % 7 == 3 { ctx.buy(ctx.symbol, 2, #{reason: "up", take_profit: ctx.price * 1.01}); }
    if n % 7 == 5 { ctx.sell(ctx.symbol, 4, "flip"); }
    if n % 11 == 0 { ctx.buy(ctx.symbol, 1000000, "too big"); }
    if n % 7 == 6 { ctx.close(ctx.symbol, "out"); }
    if n == 600 { ctx.buy(ctx.symbol, 1, "last bar"); }
}
"""


def run() -> BacktestOutcome:
    rng = np.random.default_rng(3)
    n = 600
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    candles = CandleArrays(time=1_700_000_000_000 + 60_000 * np.arange(n, dtype=np.int64), open=open_,
                           high=np.maximum(open_, close) * 1.004, low=np.minimum(open_, close) * 0.996, close=close,
                           volume=np.ones(n))  # fmt: skip
    compiled = compile_program(PROGRAM)
    assert compiled.ok, compiled.errors
    return run_backtest(compiled.program, view_over(candles, "BTC", "1m"), BacktestSpec(account=AccountConfig(initial_capital=10_000)))


def reference_fill(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, str):
        return {"rejected": True, "reason": outcome}
    doc = msgspec.to_builtins(outcome)
    doc["time"] = to_iso(outcome.time)
    if isinstance(outcome, Rejection):
        doc["rejected"] = True
    elif outcome.trade is not None:
        doc["trade"]["entry_time"] = to_iso(outcome.trade.entry_time)
        doc["trade"]["exit_time"] = to_iso(outcome.trade.exit_time)
    return doc


def reference_triggers(out: BacktestOutcome) -> list[dict[str, Any]]:
    items = []
    for n, t in enumerate(out.triggers):
        position, balance, equity, calls, logs, orders, fills = t.record  # type: ignore[misc]
        context = {
            "time": to_iso(t.timestamp), "price": t.price, "position": position, "balance": balance, "equity": equity,
            "indicators": [{"name": name, "args": list(args), "result": result, **({"market": m} if m else {})}
                           for name, args, result, m in calls],
            "logs": logs,
            "orders": [{**order, "fill": reference_fill(fill)} for order, fill in zip(orders, fills, strict=True)],
        }  # fmt: skip
        items.append({"id": f"trig-{BT.removeprefix('bt-')}-{n}", "type": t.type, "symbol": t.symbol, "price": t.price,
                      "timestamp": to_iso(t.timestamp), "context": context})  # fmt: skip
    return items


def reference_trades(out: BacktestOutcome) -> list[dict[str, Any]]:
    return [{**msgspec.to_builtins(t), "entry_time": to_iso(t.entry_time), "exit_time": to_iso(t.exit_time)} for t in out.trades]


def reference_markers(out: BacktestOutcome) -> list[dict[str, Any]]:
    markers = []
    for fill in out.fills:
        if fill.closed_quantity:
            markers.append({"type": "exit", "timestamp": to_iso(fill.time), "price": fill.price, "side": fill.side})
        if fill.quantity - fill.closed_quantity > fill.quantity * 1e-12:
            markers.append({"type": "entry", "timestamp": to_iso(fill.time), "price": fill.price, "side": fill.side})
    return markers


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[BacktestStore]:
    raw = open_store(mongodb_url=None, sqlite_path=tmp_path / "results.db")
    yield await BacktestStore.open(raw)
    await raw.close()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks per list, so reads cross chunk ends."""
    monkeypatch.setitem(result_store.CHUNK_SIZES, EQUITY.name, 64)
    monkeypatch.setitem(result_store.CHUNK_SIZES, TRADES.name, 7)
    monkeypatch.setitem(result_store.CHUNK_SIZES, TRIGGERS.name, 9)
    monkeypatch.setitem(result_store.CHUNK_SIZES, MARKERS.name, 11)


async def read_all(store: BacktestStore, name: str, step: int, **options: Any) -> list[Any]:
    found: list[Any] = []
    while True:
        page = await store.read_items(OWNER, name, BT, len(found), step, **options)
        found.extend(page)
        if len(page) < step:
            return found


def test_the_run_covers_every_kind_of_outcome() -> None:
    out = run()
    outcomes = [fill for t in out.triggers for fill in t.record[6]]  # type: ignore[index]
    assert any(isinstance(f, Fill) and f.trade is not None for f in outcomes)  # closes and flips
    assert any(isinstance(f, Rejection) for f in outcomes)
    assert isinstance(outcomes[-1], str)  # the last bar's order
    assert any(t.exit_reason == "take_profit" for t in out.trades)
    assert all(t.record[4] for t in out.triggers)  # type: ignore[index]  # every context has its log


@pytest.mark.usefixtures("small_chunks")
async def test_stored_rows_read_back_as_the_items_built_from_the_engine(store: BacktestStore) -> None:
    out = run()
    curve = np.column_stack([out.equity_times.astype(np.float64), out.equity])
    await store.write_results(OWNER, BT, {EQUITY.name: curve, TRADES.name: out.trades, TRIGGERS.name: out.triggers,
                                          MARKERS.name: marker_columns(out.fills)})  # fmt: skip
    triggers = reference_triggers(out)
    for step in (1, 5, 9, 10, 500):
        assert await read_all(store, TRIGGERS.name, step) == triggers
        assert await read_all(store, TRADES.name, step) == reference_trades(out)
        assert await read_all(store, MARKERS.name, step) == reference_markers(out)
    listed = await read_all(store, TRIGGERS.name, 4, contexts=False)
    assert listed == [{key: value for key, value in item.items() if key != "context"} for item in triggers]
    assert await read_all(store, EQUITY.name, 50) == curve.tolist()
    assert await store.read_items(OWNER, TRIGGERS.name, BT, 13, 1) == [triggers[13]]
    # the in-process forms agree with the stored ones
    assert [{"id": item["id"], **t} for item, t in zip(triggers, out.trigger_items(), strict=True)] == triggers
    assert out.trade_items() == reference_trades(out) and out.marker_items() == reference_markers(out)


async def test_a_rewrite_replaces_the_result(store: BacktestStore) -> None:
    out = run()
    await store.write_results(OWNER, BT, {TRADES.name: out.trades, TRIGGERS.name: out.triggers})
    await store.write_results(OWNER, BT, {TRADES.name: out.trades[:3]})
    assert await read_all(store, TRADES.name, 100) == reference_trades(out)[:3]
    assert await read_all(store, TRIGGERS.name, 100) == []


async def test_chunks_written_by_earlier_versions_still_read(store: BacktestStore) -> None:
    items = [{"id": f"trig-{BT.removeprefix('bt-')}-{n}", "type": "buy", "symbol": "BTC", "price": 1.5 + n,
              "timestamp": to_iso(n * 60_000), "context": None} for n in range(3)]  # fmt: skip
    old_json = base64.b64encode(zlib.compress(msgspec.json.encode(items), 1)).decode()
    pairs = [[60_000.0 * n, 100.0 + n] for n in range(4)]
    old_pairs = base64.b64encode(zlib.compress(np.array(pairs, dtype="<f8").tobytes(), 1)).decode()
    base = {"owner": OWNER, "backtest_id": BT, "chunk": 0}
    raw = store._c
    await raw(TRIGGERS.name).replace({**base, "id": chunk_id(BT, 0), "encoding": "zlib-json", "count": 3, "data": old_json})
    await raw(EQUITY.name).replace({**base, "id": chunk_id(BT, 0), "encoding": "zlib-f8x2", "count": 4, "data": old_pairs})
    await raw(MARKERS.name).replace({**base, "id": chunk_id(BT, 0), "items": [{"type": "entry"}]})
    assert await store.read_items(OWNER, TRIGGERS.name, BT, 1, 5) == items[1:]
    assert await store.read_items(OWNER, EQUITY.name, BT, 0, 10) == pairs
    assert await store.read_items(OWNER, MARKERS.name, BT, 0, 10) == [{"type": "entry"}]


def test_the_cheap_bound_of_a_context_size_is_never_below_the_size() -> None:
    from services.backtester.work import context_bound

    out = run()
    tiny = [None, 0.0, 0.0, [("", (), None, None)] * 50, [], [], []]  # the smallest calls grow the most
    for record, timestamp, price in [(t.record, t.timestamp, t.price) for t in out.triggers] + [(tiny, 0, 0.0)]:
        size = len(msgspec.json.encode(trigger_context(record, timestamp, price)))
        assert size <= context_bound(record)  # type: ignore[arg-type]


def test_only_contexts_over_the_cap_lose_log_lines() -> None:
    from services.backtester.work import MAX_CONTEXT_BYTES, _cap_logs

    out = run()
    small, big = out.triggers[0], out.triggers[1]
    kept = list(small.record[4])  # type: ignore[index]
    big.record[4] = [f"line {n} " + "x" * 100 for n in range(1000)]  # type: ignore[index]
    _cap_logs(small)
    _cap_logs(big)
    assert small.record[4] == kept  # type: ignore[index]
    logs = big.context["logs"]  # type: ignore[index]
    assert logs[0].startswith("line 0 ") and logs[-1].endswith("more log lines not kept") and len(logs) < 1000
    assert len(msgspec.json.encode(big.context)) <= MAX_CONTEXT_BYTES
