"""A binding replay's `ctx.trigger` per run (shared/signals/replay.py `replay_runs`), and the engine using it.

The runs are exactly `bars_to_run`'s bars; each run's trigger is the earliest of the pool fires and
schedule times that read its bar (pools in the binding's order before the schedule at one time), its
`signals` are what the live clock's `evaluate` reports at that close, and its shape is the one a live
run passes its program (built here with the live clock's own `pool_trigger` / `schedule_trigger`).
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from services.backtester.engine import BacktestSpec, run_backtest, view_over
from services.executor.live.clock import pool_trigger, schedule_trigger
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.signals import evaluate, fire_times, parse_pool, parse_schedule
from shared.signals.replay import bars_to_run, program_trigger, replay_runs, signal_values
from shared.timefmt import parse_time, to_iso
from tests.signals.test_pool import candles, sig

M = 60_000
LIVE_KEYS = ("type", "pool", "signals", "time")  # what services/executor/live/runs.py passes a program


def live(trigger: Any) -> dict[str, Any]:
    """The ctx.trigger of a live run for this clock trigger, as it arrives (JSON over NATS)."""
    return msgspec.json.decode(msgspec.json.encode({k: msgspec.to_builtins(trigger)[k] for k in LIVE_KEYS}))


def walk(seed: int, n: int, period: int = M) -> CandleArrays:
    rng = np.random.default_rng(seed)
    return candles(100 + np.cumsum(rng.normal(0, 1, n)), period)


def test_program_trigger_is_the_live_runs_trigger() -> None:
    values = evaluate(parse_pool("OR", [sig(operator=">", value=0)]), {("BTC", "1m"): walk(1, 50)}, 20 * M).values
    assert program_trigger("signal", 20 * M, 7, values) == live(pool_trigger(7, 20 * M, values))
    assert program_trigger("schedule", 30 * M) == live(schedule_trigger(30 * M))


@pytest.mark.parametrize("seed", range(6))
def test_each_run_gets_the_earliest_trigger_on_its_bar_with_the_live_values(seed: int) -> None:
    series = {("BTC", "1m"): walk(seed, 2_000), ("BTC", "5m"): walk(seed + 100, 400, 5 * M), ("ETH", "1m"): walk(seed + 200, 2_000)}
    pools = [
        (11, parse_pool("AND", [sig("rsi(14)", ">", 60), sig("price", ">", "sma(20)", timeframe="5m")])),
        (12, parse_pool("OR", [sig("price", "crosses_below", "ema(10)", symbol="ETH"), sig("change(3)", "<", -1.5)])),
    ]
    schedule = parse_schedule({"cron": "*/45 * * * *"})
    opens = np.arange(100, 130, dtype=np.int64) * 15 * M  # 15m bars
    period = 15 * M
    runs = replay_runs(opens, period, pools_with_series=[(i, p, series) for i, p in pools], schedule=schedule)

    assert runs.positions == np.flatnonzero(
        bars_to_run(opens, period, pools_with_series=[(p, series) for _, p in pools], schedule=schedule)
    ).tolist()
    assert len(runs.triggers) == len(runs.positions) and runs.positions
    start, end = int(opens[0]), int(opens[-1]) + period
    candidates = [(int(t), order, i) for order, (i, p) in enumerate(pools) for t in fire_times(p, series, start, end)]
    candidates += [(t, len(pools), None) for t in range(start, end + 1, 15 * M) if t % (60 * M) in (0, 45 * M)]  # :00 and :45
    kinds, crowded = set(), 0
    for k, trigger in zip(runs.positions, runs.triggers, strict=True):
        close = int(opens[k]) + period
        on_bar = sorted(c for c in candidates if close <= c[0] < close + period)
        crowded += len(on_bar) > 1
        at, _, pool_id = on_bar[0]  # earliest; pools (binding order) before the schedule
        assert trigger["time"] == to_iso(at) and trigger["pool"] == pool_id
        if pool_id is None:
            assert trigger == program_trigger("schedule", at)
        else:
            pool = dict(pools)[pool_id]
            evaluation = evaluate(pool, series, at)
            assert evaluation.fired
            assert trigger == live(pool_trigger(pool_id, at, evaluation.values))
        kinds.add(trigger["type"])
    assert kinds == {"signal", "schedule"} and crowded  # both kinds, and bars where several triggers compete
    assert parse_time(runs.triggers[0]["time"]) >= int(opens[runs.positions[0]]) + period


def test_ties_go_to_the_first_pool_then_the_schedule() -> None:
    series = {("BTC", "1m"): candles([1.0] * 20 + [5.0] * 40)}  # price > 2 from the close at 21m
    a = parse_pool("OR", [sig(operator=">", value=2)])
    b = parse_pool("OR", [sig(operator=">", value=3)])
    opens = np.arange(0, 4, dtype=np.int64) * 15 * M
    both = replay_runs(opens, 15 * M, pools_with_series=[(2, b, series), (1, a, series)], schedule=parse_schedule({"interval": "15m"}))
    # every bar's schedule time is its close: earlier than the pools' fire at 21m (which reads bar 0 too)
    assert [(t["type"], t["pool"], t["time"]) for t in both.triggers] == [
        ("schedule", None, to_iso(15 * M)), ("schedule", None, to_iso(30 * M)), ("schedule", None, to_iso(45 * M)),
        ("schedule", None, to_iso(60 * M)),
    ]  # fmt: skip
    late = replay_runs(opens, 15 * M, pools_with_series=[(2, b, series), (1, a, series)], schedule=parse_schedule({"interval": "21m"}))
    # at 21m the two pools and the schedule all fire: the binding's first pool wins
    assert [(t["type"], t["pool"], t["time"]) for t in late.triggers] == [("signal", 2, to_iso(21 * M)), ("schedule", None, to_iso(42 * M))]
    assert late.positions == [0, 1]


def test_a_signal_without_candles_reads_nothing_and_the_or_pool_still_reports() -> None:
    empty = CandleArrays(*(np.zeros(0, dtype=dtype) for dtype in (np.int64, float, float, float, float, float)))
    series = {("BTC", "1m"): candles([1.0] * 5 + [5.0] * 10), ("ETH", "1m"): empty}
    pool = parse_pool("OR", [sig(operator=">", value=2), sig(operator=">", value=2, symbol="ETH")])
    [[btc, eth]] = signal_values(pool, series, np.array([6 * M]))
    assert btc["true"] and btc["metric_value"] == 5.0 and btc["bar_time"] == to_iso(5 * M)
    assert eth == {"index": 1, **sig(operator=">", value=2.0, symbol="ETH"), "metric_value": None, "compared_to": None, "bar_time": None, "true": False}


def test_non_finite_values_are_null_as_they_travel_live() -> None:
    closes = np.array([0.0] * 5 + [1.0] * 5)
    series = {("BTC", "1m"): candles(closes)}
    pool = parse_pool("OR", [sig("change(1)", ">", 0)])
    [[value]] = signal_values(pool, series, np.array([6 * M]))  # change from 0 to 1: +inf %
    assert value["metric_value"] is None and value["true"] is True


TRIGGER_PROGRAM = """
fn run(ctx) {
    ctx.log("trigger " + str(ctx.trigger.type) + " pool " + str(ctx.trigger.get("pool", "none")));
    if ctx.trigger.type != "backtest" {
        ctx.log("signals " + str(len(ctx.trigger.signals)));
    }
    if ctx.trigger.type == "schedule" && ctx.position() == null {
        ctx.buy(ctx.symbol, 0.001, "scheduled");
    } else if ctx.trigger.type == "signal" && ctx.position() != null {
        ctx.close(ctx.symbol, "signal " + str(ctx.trigger.pool));
    } else if ctx.trigger.type == "backtest" {
        ctx.buy(ctx.symbol, 0.001, "every bar");
    }
}
"""


def test_the_engine_gives_each_replayed_run_its_trigger_and_plain_runs_backtest() -> None:
    program = compile_program(TRIGGER_PROGRAM).program
    assert program is not None
    view = view_over(walk(3, 40, 60 * M), "BTC", "1h")
    triggers = {2: program_trigger("schedule", 3 * 60 * M), 5: program_trigger("signal", 6 * 60 * M, 9, [{"index": 0, "true": True}])}
    outcome = run_backtest(program, view, BacktestSpec(run_on=[2, 5, 7], triggers=triggers))
    got = [(t.bar, t.context["logs"], t.context["orders"][0]["reason"]) for t in outcome.triggers]
    assert got == [
        (2, ["trigger schedule pool null", "signals 0"], "scheduled"),
        (5, ["trigger signal pool 9", "signals 1"], "signal 9"),
        (7, ["trigger backtest pool null"], "every bar"),  # a run bar without a given trigger: the backtest's
    ]
    assert all(not any(call[0] == "replay_mismatch" for call in t.record[3]) for t in outcome.triggers)  # type: ignore[index]
    plain = run_backtest(program, view, BacktestSpec())
    assert plain.triggers[0].context["logs"] == ["trigger backtest pool null"]
