"""A backtest's result items: the compact rows a worker stores, and the API's items made from them on read.

Why two forms: a year of one-minute bars gives tens of thousands of trades and triggers, each trigger
with a context (indicator calls, position, orders and their fills). Building all of them as the API's
dicts with ISO-8601 times in the worker took longer than loading the candles and writing the result
together. So the worker stores the engine's own records as they are — `Fill` and `ClosedTrade`
Structs, times in epoch ms, markers as numpy columns — which msgspec/numpy encode in C, and the API's
shape is made here when a page or one trigger is read (a page is at most a few hundred items).

`trigger_context` is also what `Trigger.context` returns in-process, so the engine's callers and the
API see one definition of a context; it accepts a record before (Structs) and after (plain dicts) a
msgpack round trip. Its shape is stated by `TriggerContext` (shared/messages/backtests.py, hence the
OpenAPI document); `results.py` converts the dict into it at the reply (tests/backtester/test_reply_types.py
holds the two to the same JSON).

Rows:
- trigger: `[type, symbol, price, timestamp ms, context row | None]`; context row:
  `[position, balance, equity, calls, logs, orders, fills]`, `calls` = `(name, args, result, market)`,
  `fills[i]` = the `Fill` or `Rejection` of `orders[i]`, or a string saying why it was not filled.
- trade: a `ClosedTrade` (its fields).
- markers: columns `time` (int64 ms), `price` (float64), `flags` (uint8: 1 = entry, else exit; 2 = sell).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np

_EPOCH = datetime(1970, 1, 1)


@lru_cache(maxsize=1 << 16)
def to_iso(ms: int) -> str:
    """`shared.timefmt.to_iso`, ~5× faster (no strftime) and cached: a result's items name the same
    bar times again and again (a trigger's close is the next bar's open, where its fill happens)."""
    ms = int(ms)
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds") + "Z"


# ---- triggers --------------------------------------------------------------------------------------------

LOGS, FILLS = 4, 6
"""Positions in a context record of its log lines and of its orders' outcomes (set at the next open)."""


def fill_doc(outcome: Any) -> dict[str, Any]:
    """An order's outcome as the API shows it: a fill (its closed trade too) with ISO times, a rejection
    (`rejected: true`), or `{rejected: true, reason}` for an order that was never filled."""
    if isinstance(outcome, str):
        return {"rejected": True, "reason": outcome}
    doc = dict(outcome) if isinstance(outcome, dict) else msgspec.to_builtins(outcome)  # never change the record
    doc["time"] = to_iso(doc["time"])
    if "action" in doc:  # a Rejection (a Fill has `side`, never `action`)
        doc["rejected"] = True
    else:
        trade = doc.get("trade")
        if trade:
            doc["trade"] = {**trade, "entry_time": to_iso(trade["entry_time"]), "exit_time": to_iso(trade["exit_time"])}
    return doc


def trigger_context(record: Sequence[Any] | None, timestamp: int, price: float) -> dict[str, Any] | None:
    """What the program read (indicator calls with arguments and results, price, position, balance,
    equity), its log, and its orders each with its `fill` (a fill, or a rejection with `rejected`)."""
    if record is None:
        return None
    position, balance, equity, calls, logs, orders, fills = record
    indicators = []
    for name, args, result, market in calls:
        entry: dict[str, Any] = {"name": name, "args": list(args), "result": result}
        if market is not None:
            entry["market"] = market
        indicators.append(entry)
    placed = []
    for order, fill in zip(orders, fills, strict=True):
        doc = dict(order)
        doc["fill"] = fill_doc(fill)
        placed.append(doc)
    return {
        "time": to_iso(timestamp),
        "price": price,
        "position": position,
        "balance": balance,
        "equity": equity,
        "indicators": indicators,
        "logs": logs,
        "orders": placed,
    }


def trigger_id(backtest_id: str, n: int) -> str:
    return f"trig-{backtest_id.removeprefix('bt-')}-{n}"


def trigger_item(row: Sequence[Any], backtest_id: str, n: int, *, context: bool = True) -> dict[str, Any]:
    """The API's trigger `n` from its row (`[type, symbol, price, timestamp, record, …]`; its context only
    when `context`: a list page leaves it out)."""
    price, timestamp = row[2], row[3]
    item = {"id": trigger_id(backtest_id, n), "type": row[0], "symbol": row[1], "price": price, "timestamp": to_iso(timestamp)}
    if context:
        item["context"] = trigger_context(row[4], timestamp, price)
    return item


# ---- trades ----------------------------------------------------------------------------------------------


def trade_item(trade: Any) -> dict[str, Any]:
    """The API's trade from a `ClosedTrade` (or its fields as a dict)."""
    t = trade if isinstance(trade, dict) else msgspec.structs.asdict(trade)
    return {
        "entry_time": to_iso(t["entry_time"]), "exit_time": to_iso(t["exit_time"]), "side": t["side"], "size": t["size"],
        "entry_price": t["entry_price"], "exit_price": t["exit_price"], "pnl": t["pnl"], "return_pct": t["return_pct"],
        "fees": t["fees"], "exit_reason": t["exit_reason"], "symbol": t["symbol"],
    }  # fmt: skip


# ---- markers ---------------------------------------------------------------------------------------------

ENTRY, SELL = 1, 2
MARKER_DTYPE = np.dtype([("time", "<i8"), ("price", "<f8"), ("flags", "u1")])


def marker_columns(fills: Sequence[Any]) -> np.ndarray:
    """Chart markers as a structured array: an exit for every fill that closed something, an entry for
    every fill that opened or added (a flip gives both, exit first)."""
    n = len(fills)
    quantity = np.fromiter((f.quantity for f in fills), dtype=np.float64, count=n)
    closed = np.fromiter((f.closed_quantity for f in fills), dtype=np.float64, count=n)
    sell = np.fromiter((f.side == "sell" for f in fills), dtype=bool, count=n)
    pairs = np.zeros((n, 2), dtype=MARKER_DTYPE)
    pairs["time"] = np.fromiter((f.time for f in fills), dtype=np.int64, count=n)[:, None]
    pairs["price"] = np.fromiter((f.price for f in fills), dtype=np.float64, count=n)[:, None]
    pairs["flags"][:, 0] = np.where(sell, SELL, 0)
    pairs["flags"][:, 1] = np.where(sell, SELL, 0) | ENTRY
    keep = np.column_stack([closed != 0.0, quantity - closed > quantity * 1e-12])
    return pairs[keep]  # row-major: each fill's exit before its entry


def marker_items(columns: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"type": "entry" if flags & ENTRY else "exit", "timestamp": to_iso(time), "price": price,
         "side": "sell" if flags & SELL else "buy"}  # fmt: skip
        for time, price, flags in zip(columns["time"].tolist(), columns["price"].tolist(), columns["flags"].tolist(), strict=True)
    ]
