"""The typed replies of a backtest (`BacktestMetrics`, `TriggerContext` in shared/messages/backtests.py)
describe exactly what the service sends: a stored metrics dict and every trigger's context convert to
the Structs and encode back to the same JSON, value for value and type for type (an int stays an int),
and the Structs name every key the engine produces, no more."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np
import pytest
from jsonschema import Draft202012Validator  # schemathesis' and openapi-spec-validator's validator

from services.gateway.openapi import build_openapi

from services.backtester.engine import BacktestOutcome, BacktestSpec, run_backtest, view_over
from services.backtester.items import trigger_item
from services.backtester.metrics import METRIC_NAMES
from shared.lang import compile_program
from shared.market.candles import CandleArrays
from shared.messages.backtests import METRIC_FIELDS, Backtest, BacktestMetrics, TriggerContext, TriggerDetail
from shared.trading import AccountConfig

BT = "bt-00112233aabbccdd"
PROGRAM = """
fn run(ctx) {
    let n = ctx.state.get("n", 0) + 1;
    ctx.state.n = n;
    let fast = ctx.sma(3);
    let m = ctx.macd(6, 13, 4);
    let spike = ctx.volume_spike(10, 1.5);
    let own = ctx.market(ctx.symbol).ema(4);
    let last = ctx.candles(2);
    ctx.log("bar " + str(n));
    if n % 7 == 3 { ctx.buy(ctx.symbol, 2, #{reason: "up", take_profit: ctx.price * 1.05, stop_loss: ctx.price * 0.95}); }
    if n % 7 == 5 { ctx.sell(ctx.symbol, 4); }
    if n % 11 == 0 { ctx.buy(ctx.symbol, 1000000, "too big"); }
    if n % 7 == 6 { ctx.close(ctx.symbol, "out"); }
    if n == 300 { ctx.buy(ctx.symbol, 1, #{leverage: 2}); }
}
"""


def outcome(program: str = PROGRAM, n: int = 300) -> BacktestOutcome:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    candles = CandleArrays(time=1_700_000_000_000 + 3_600_000 * np.arange(n, dtype=np.int64), open=open_,
                           high=np.maximum(open_, close) * 1.004, low=np.minimum(open_, close) * 0.996, close=close,
                           volume=rng.uniform(1, 3, n))  # fmt: skip
    compiled = compile_program(program)
    assert compiled.ok, compiled.errors
    return run_backtest(compiled.program, view_over(candles, "BTC", "1h"), BacktestSpec(account=AccountConfig()))


def validator(name: str) -> Draft202012Validator:
    """Validates against `name` as the gateway's OpenAPI document (`/openapi.json`) states it."""
    doc = build_openapi()
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def exact(value: Any) -> str:
    """JSON text that tells 1 from 1.0 and ignores key order."""
    return json.dumps(value, sort_keys=True)


def stored_metrics(out: BacktestOutcome) -> dict[str, Any]:
    """The record's `metrics` as the worker stores it (services/backtester/work.py) after a JSON round trip."""
    return msgspec.json.decode(msgspec.json.encode({**out.metrics, "notes": list(out.notes)}))


def test_every_trigger_context_converts_and_sends_the_same_json() -> None:
    out = outcome()
    kinds: set[str] = set()
    for n, t in enumerate(out.triggers):
        item = trigger_item([t.type, t.symbol, t.price, t.timestamp, t.record], BT, n)
        plain = msgspec.json.decode(msgspec.json.encode({**item, "backtest_id": BT}))
        typed = msgspec.convert(plain, TriggerDetail)
        assert exact(msgspec.json.decode(msgspec.json.encode(typed))) == exact(plain)
        assert isinstance(typed.context, TriggerContext)
        for order in typed.context.orders:
            fill = order.fill
            kinds.add("trade" if fill.trade else "rejected" if fill.action else "unfilled" if fill.rejected else "fill")
            if order.leverage is not msgspec.UNSET:
                kinds.add("leverage")
            if order.reason is None:
                kinds.add("no reason")
        kinds.update("market" for read in typed.context.indicators if read.market is not None)
        kinds.update("dict result" for read in typed.context.indicators if isinstance(read.result, dict))
        if typed.context.position is not None:
            kinds.add("position")
    assert kinds == {"trade", "rejected", "unfilled", "fill", "leverage", "no reason", "market", "dict result", "position"}


def test_a_trigger_without_a_kept_context_has_context_null() -> None:
    item = trigger_item(["buy", "BTC", 100.0, 1_700_000_000_000, None], BT, 0)
    typed = msgspec.convert({**item, "backtest_id": BT}, TriggerDetail)
    assert typed.context is None and msgspec.to_builtins(typed)["context"] is None


def test_a_context_with_an_unknown_shape_is_refused() -> None:
    out = outcome()
    item = trigger_item([out.triggers[0].type, "BTC", 1.0, 0, out.triggers[0].record], BT, 0)
    item["context"]["indicators"][0]["args"] = ["fourteen"]
    with pytest.raises(msgspec.ValidationError, match="args"):
        msgspec.convert({**item, "backtest_id": BT}, TriggerDetail)


@pytest.mark.parametrize("program", [PROGRAM, "fn run(ctx) { ctx.log(str(ctx.sma(3))); }"], ids=["trades", "no trades"])
def test_the_metrics_struct_names_every_key_the_engine_produces(program: str) -> None:
    stored = stored_metrics(outcome(program))
    assert list(BacktestMetrics.__struct_fields__) == list(stored)
    typed = msgspec.convert(stored, BacktestMetrics)
    assert exact(msgspec.json.decode(msgspec.json.encode(typed))) == exact(stored)


def test_the_headline_metrics_lead_and_are_fields_of_the_record() -> None:
    fields = BacktestMetrics.__struct_fields__
    assert fields[: len(METRIC_FIELDS)] == METRIC_FIELDS == METRIC_NAMES
    assert set(METRIC_FIELDS) <= set(Backtest.__struct_fields__)
    assert fields[:4] == ("total_trades", "win_rate", "total_pnl", "max_drawdown")  # the reference's names


def test_a_record_sends_its_metrics_unchanged_and_empty_until_completed() -> None:
    base = {"id": BT, "program_id": 1, "symbol": "BTC", "timeframe": "1h", "created_at": "2026-01-01T00:00:00Z",
            "started_at": None, "finished_at": None, "progress": 0.0}  # fmt: skip
    queued = msgspec.json.decode(msgspec.json.encode(msgspec.convert({**base, "status": "queued"}, Backtest)))
    assert queued["metrics"] == {}
    stored = stored_metrics(outcome())
    done = msgspec.convert({**base, "status": "completed", "progress": 1.0, "metrics": stored}, Backtest)
    assert exact(msgspec.json.decode(msgspec.json.encode(done))["metrics"]) == exact(stored)
    assert done.metrics.total_trades == stored["total_trades"] > 0


def test_the_openapi_document_states_the_replies_precisely() -> None:
    """What schemathesis checks (tests/api/test_schemathesis.py) on replies it rarely reaches: a completed
    record and trigger details with every kind of order outcome; and the document is strict enough to
    refuse a wrong type (the fields are no longer free-form objects)."""
    out = outcome()
    details = validator("TriggerDetail")
    for n, t in enumerate(out.triggers):
        item = trigger_item([t.type, t.symbol, t.price, t.timestamp, t.record], BT, n)
        details.validate(msgspec.json.decode(msgspec.json.encode({**item, "backtest_id": BT})))
    bad = msgspec.json.decode(msgspec.json.encode({**item, "backtest_id": BT}))
    bad["context"]["orders"][0]["fill"]["price"] = "cheap"
    assert not details.is_valid(bad)
    record = validator("Backtest")
    base = {"id": BT, "program_id": 1, "symbol": "BTC", "timeframe": "1h", "status": "completed",
            "created_at": "2026-01-01T00:00:00Z", "started_at": None, "finished_at": None, "progress": 1.0}  # fmt: skip
    reply = msgspec.json.decode(msgspec.json.encode(msgspec.convert({**base, "metrics": stored_metrics(out)}, Backtest)))
    record.validate(reply)
    reply["metrics"]["total_trades"] = 1.5
    assert not record.is_valid(reply)
