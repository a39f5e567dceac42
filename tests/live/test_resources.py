"""Accounts, signal pools and bindings over real HTTP → NATS → executor → SQLite: CRUD, validation per
field, owner isolation, the 409s, paging."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Api

CODE = 'fn run(ctx) { ctx.hold("waiting") }'
RSI_LOW = {"symbol": "BTC", "timeframe": "1m", "metric": "rsi(14)", "operator": "<", "value": 30}


async def make_program(api: Api, name: str = "bot") -> int:
    status, body = await api.post("/api/programs/", {"name": name, "code": CODE})
    assert status == 201, body
    return body["id"]


async def make_account(api: Api, **fields: Any) -> dict[str, Any]:
    status, body = await api.post("/api/programs/accounts/", {"name": "Main Account", **fields})
    assert status == 201, body
    return body


async def make_pool(api: Api, **fields: Any) -> dict[str, Any]:
    status, body = await api.post("/api/programs/signal-pools/", {"name": "Momentum Pool", "signals": [RSI_LOW], **fields})
    assert status == 201, body
    return body


def field_of(body: dict[str, Any]) -> str:
    return body["error"]["details"]["field"]


# -- accounts -------------------------------------------------------------------------------------------
async def test_account_crud(api: Api) -> None:
    created = await make_account(api)
    assert created["account_type"] == "program" and created["mode"] == "paper"
    assert created["initial_capital"] == 10000 and created["balance"] == 10000 and created["equity"] == 10000
    assert created["positions"] == [] and created["realized_pnl"] == 0 and created["fees_paid"] == 0
    assert created["fee_rate"] == 0.0005 and created["leverage"] == 1 and created["created_at"].endswith("Z")
    aid = created["id"]

    status, listed = await api.get("/api/programs/accounts/")
    assert status == 200 and [a["id"] for a in listed] == [aid]
    assert {"id", "name", "account_type"} <= set(listed[0])

    status, changed = await api.put(f"/api/programs/accounts/{aid}", {"name": "Renamed", "fee_rate": 0.001, "initial_capital": 5000})
    assert status == 200, changed
    assert changed["name"] == "Renamed" and changed["fee_rate"] == 0.001
    assert changed["initial_capital"] == 5000 and changed["balance"] == 5000  # never traded: the balance follows
    status, got = await api.get(f"/api/programs/accounts/{aid}")
    assert status == 200 and got == changed

    status, reset = await api.post(f"/api/programs/accounts/{aid}/reset")
    assert status == 200 and reset["balance"] == 5000 and reset["reset_at"]

    status, fills = await api.get(f"/api/programs/accounts/{aid}/fills")
    assert status == 200 and fills == []

    assert (await api.call("DELETE", f"/api/programs/accounts/{aid}"))[0] == 204
    assert (await api.get(f"/api/programs/accounts/{aid}"))[0] == 404
    assert (await api.call("DELETE", f"/api/programs/accounts/{aid}"))[0] == 404


async def test_live_mode_is_refused_clearly(api: Api) -> None:
    status, body = await api.post("/api/programs/accounts/", {"name": "x", "mode": "live"})
    assert status == 422 and field_of(body) == "mode" and "exchange adapter" in body["error"]["message"]
    aid = (await make_account(api))["id"]
    status, body = await api.put(f"/api/programs/accounts/{aid}", {"mode": "live"})
    assert status == 422 and field_of(body) == "mode"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a\u202eb"}, "name"),
        ({"name": "x", "mode": "demo"}, "mode"),
        ({"name": "x", "account_type": "spot"}, "account_type"),
        ({"name": "x", "initial_capital": 0}, "initial_capital"),
        ({"name": "x", "initial_capital": "100"}, "initial_capital"),
        ({"name": "x", "fee_rate": -0.1}, "fee_rate"),
        ({"name": "x", "fee_rate": 0.5}, "fee_rate"),
        ({"name": "x", "leverage": 0.5}, "leverage"),
        ({"name": "x", "leverage": 1000}, "leverage"),
        ({"name": "x", "balance": 5}, "balance"),  # read-only
        ({"name": "x", "equity": 5}, "equity"),
    ],
)
async def test_account_validation_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    status, reply = await api.post("/api/programs/accounts/", body)
    assert status == 422, reply
    assert field_of(reply) == field


# -- signal pools ---------------------------------------------------------------------------------------
async def test_pool_crud(api: Api) -> None:
    pool = await make_pool(api, logic="OR", signals=[RSI_LOW, {**RSI_LOW, "symbol": "eth", "metric": "macd.histogram", "operator": "crosses_above", "value": 0}])
    assert pool["logic"] == "OR" and pool["signals_count"] == 2 and pool["enabled"] is True and pool["last_fired_at"] is None
    assert pool["signals"][1] == {"symbol": "ETH", "timeframe": "1m", "metric": "macd(12,26,9).histogram", "operator": "crosses_above", "value": 0.0}
    pid = pool["id"]

    status, listed = await api.get("/api/programs/signal-pools/")
    assert status == 200 and [(p["id"], p["name"], p["signals_count"]) for p in listed] == [(pid, "Momentum Pool", 2)]

    status, changed = await api.put(f"/api/programs/signal-pools/{pid}", {"enabled": False, "signals": [{**RSI_LOW, "metric": "price", "operator": "crosses_below", "value": "sma(50)"}]})
    assert status == 200, changed
    assert changed["enabled"] is False and changed["signals_count"] == 1 and changed["signals"][0]["value"] == "sma(50)"
    assert changed["logic"] == "OR"
    status, enabled_only = await api.get("/api/programs/signal-pools/?enabled=true")
    assert status == 200 and enabled_only == []

    assert (await api.call("DELETE", f"/api/programs/signal-pools/{pid}"))[0] == 204
    assert (await api.get(f"/api/programs/signal-pools/{pid}"))[0] == 404


@pytest.mark.parametrize(
    ("signals", "field"),
    [
        ([RSI_LOW, RSI_LOW, {**RSI_LOW, "metric": "rsi(0)"}], "signals[2].metric"),
        ([RSI_LOW, {**RSI_LOW, "metric": "bogus(3)"}], "signals[1].metric"),
        ([{**RSI_LOW, "operator": "=="}], "signals[0].operator"),
        ([{**RSI_LOW, "timeframe": "2m"}], "signals[0].timeframe"),
        ([RSI_LOW, {**RSI_LOW, "symbol": "NOSUCHCOIN"}], "signals[1].symbol"),
        ([{**RSI_LOW, "symbol": "BT C"}], "signals[0].symbol"),
        ([{**RSI_LOW, "value": "banana"}], "signals[0].value"),
        ([{**RSI_LOW, "value": None}], "signals[0].value"),
        ([{k: v for k, v in RSI_LOW.items() if k != "metric"}], "signals[0].metric"),
        ([{**RSI_LOW, "extra": 1}], "signals[0].extra"),
        ([], "signals"),
        ([RSI_LOW] * 21, "signals"),
    ],
)
async def test_pool_validation_names_the_signal_by_index(api: Api, signals: list[dict[str, Any]], field: str) -> None:
    status, reply = await api.post("/api/programs/signal-pools/", {"name": "p", "signals": signals})
    assert status == 422, reply
    assert field_of(reply) == field


async def test_pool_logic_must_be_and_or(api: Api) -> None:
    status, reply = await api.post("/api/programs/signal-pools/", {"name": "p", "logic": "XOR", "signals": [RSI_LOW]})
    assert status == 422 and field_of(reply) == "logic"


# -- bindings -------------------------------------------------------------------------------------------
async def test_binding_crud(api: Api) -> None:
    program_id = await make_program(api)
    account = await make_account(api)
    pool = await make_pool(api)
    status, binding = await api.post(
        "/api/programs/bindings/",
        {"program_id": program_id, "account_id": account["id"], "signal_pool_ids": [pool["id"]], "params": {"size": 0.01}},
    )
    assert status == 201, binding
    assert binding["enabled"] is True and binding["symbol"] == "BTC" and binding["timeframe"] == "1m"  # from the pool
    assert binding["schedule"] is None and binding["state"] == {} and binding["program_version"] is None
    assert binding["last_run_at"] is None and binding["params"] == {"size": 0.01}
    bid = binding["id"]

    status, listed = await api.get(f"/api/programs/bindings/?program_id={program_id}")
    assert status == 200 and [(b["id"], b["program_id"], b["account_id"], b["enabled"]) for b in listed] == [(bid, program_id, account["id"], True)]
    assert (await api.get("/api/programs/bindings/?enabled=false"))[1] == []

    status, changed = await api.put(f"/api/programs/bindings/{bid}", {"enabled": False})
    assert status == 200 and changed["enabled"] is False and changed["id"] == bid
    status, changed = await api.put(f"/api/programs/bindings/{bid}", {"schedule": {"cron": "*/15 * * * *"}, "signal_pool_ids": [], "program_version": 1})
    assert status == 200, changed
    assert changed["schedule"] == {"cron": "*/15 * * * *"} and changed["signal_pool_ids"] == [] and changed["program_version"] == 1

    assert (await api.call("DELETE", f"/api/programs/bindings/{bid}"))[0] == 204
    assert (await api.get(f"/api/programs/bindings/{bid}"))[0] == 404


async def test_the_reference_example_without_a_trigger_is_a_clear_422(api: Api) -> None:
    program_id = await make_program(api)
    account = await make_account(api)
    status, reply = await api.post("/api/programs/bindings/", {"program_id": program_id, "account_id": account["id"]})
    assert status == 422
    assert field_of(reply) == "schedule" and reply["error"]["details"]["fields"] == ["signal_pool_ids", "schedule"]
    assert "signal_pool_ids" in reply["error"]["message"] and "interval" in reply["error"]["message"]
    status, binding = await api.post(
        "/api/programs/bindings/", {"program_id": program_id, "account_id": account["id"], "symbol": "BTC", "schedule": {"interval": "15m"}}
    )
    assert status == 201 and binding["schedule"] == {"interval": "15m"} and binding["timeframe"] == "1h"
    status, reply = await api.put(f"/api/programs/bindings/{binding['id']}", {"schedule": None})
    assert status == 422 and field_of(reply) == "schedule"


async def test_binding_validation_names_the_field(api: Api) -> None:
    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    pool_id = (await make_pool(api))["id"]
    base = {"program_id": program_id, "account_id": account_id, "signal_pool_ids": [pool_id]}
    cases = [
        ({**base, "program_id": 999_999}, "program_id"),
        ({**base, "account_id": 999_999}, "account_id"),
        ({**base, "signal_pool_ids": [pool_id, 999_999]}, "signal_pool_ids[1]"),
        ({**base, "signal_pool_ids": [pool_id, pool_id]}, "signal_pool_ids[1]"),
        ({**base, "symbol": "NOSUCHCOIN"}, "symbol"),
        ({**base, "timeframe": "7m"}, "timeframe"),
        ({**base, "schedule": {"interval": "15s"}}, "schedule.interval"),
        ({**base, "schedule": {"cron": "99 * * * *"}}, "schedule.cron"),
        ({**base, "schedule": {"interval": "15m", "cron": "* * * * *"}}, "schedule"),
        ({**base, "program_version": 2}, "program_version"),
        ({**base, "program_id": 0}, "program_id"),
        ({**base, "params": "x"}, "params"),
        ({**base, "params": {"blob": "x" * 70_000}}, "params"),
        ({**base, "state": {}}, "state"),  # read-only
        ({"program_id": program_id, "account_id": account_id, "schedule": {"interval": "1h"}}, "symbol"),
    ]
    for body, field in cases:
        status, reply = await api.post("/api/programs/bindings/", body)
        assert status == 422, (body, reply)
        assert field_of(reply) == field, (body, reply)
    assert (await api.get("/api/programs/bindings/"))[1] == []  # nothing was created by any of them


async def test_one_enabled_binding_per_program_account_symbol(api: Api) -> None:
    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    base = {"program_id": program_id, "account_id": account_id, "symbol": "BTC", "schedule": {"interval": "1h"}}
    first = (await api.post("/api/programs/bindings/", base))[1]
    status, reply = await api.post("/api/programs/bindings/", base)
    assert status == 409 and reply["error"]["details"]["binding_ids"] == [first["id"]]
    status, disabled = await api.post("/api/programs/bindings/", {**base, "enabled": False})  # a disabled twin is fine
    assert status == 201
    status, reply = await api.put(f"/api/programs/bindings/{disabled['id']}", {"enabled": True})
    assert status == 409 and str(first["id"]) in reply["error"]["message"]
    status, other_symbol = await api.post("/api/programs/bindings/", {**base, "symbol": "ETH"})
    assert status == 201
    # moving the ETH one onto BTC clashes; disabling the first frees the slot
    assert (await api.put(f"/api/programs/bindings/{other_symbol['id']}", {"symbol": "BTC"}))[0] == 409
    assert (await api.put(f"/api/programs/bindings/{first['id']}", {"enabled": False}))[0] == 200
    assert (await api.put(f"/api/programs/bindings/{disabled['id']}", {"enabled": True}))[0] == 200
    # deleting the holder frees it too
    assert (await api.call("DELETE", f"/api/programs/bindings/{disabled['id']}"))[0] == 204
    assert (await api.put(f"/api/programs/bindings/{other_symbol['id']}", {"symbol": "BTC"}))[0] == 200


# -- 409s between resources -----------------------------------------------------------------------------
async def test_in_use_conflicts_name_the_bindings(api: Api) -> None:
    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    pool_id = (await make_pool(api))["id"]
    status, binding = await api.post("/api/programs/bindings/", {"program_id": program_id, "account_id": account_id, "signal_pool_ids": [pool_id]})
    assert status == 201
    bid = binding["id"]

    for method, path in [
        ("DELETE", f"/api/programs/accounts/{account_id}"),
        ("POST", f"/api/programs/accounts/{account_id}/reset"),
        ("DELETE", f"/api/programs/signal-pools/{pool_id}"),
        ("DELETE", f"/api/programs/{program_id}"),
    ]:
        status, reply = await api.call(method, path)
        assert status == 409, (method, path, reply)
        assert reply["error"]["details"]["binding_ids"] == [bid] and str(bid) in reply["error"]["message"]

    # disabled: the account may be reset and deleted (its disabled bindings go with it); pool and program still in use
    assert (await api.put(f"/api/programs/bindings/{bid}", {"enabled": False}))[0] == 200
    assert (await api.post(f"/api/programs/accounts/{account_id}/reset"))[0] == 200
    assert (await api.call("DELETE", f"/api/programs/signal-pools/{pool_id}"))[0] == 409
    assert (await api.call("DELETE", f"/api/programs/{program_id}"))[0] == 409
    assert (await api.call("DELETE", f"/api/programs/accounts/{account_id}"))[0] == 204
    assert (await api.get(f"/api/programs/bindings/{bid}"))[0] == 404
    assert (await api.call("DELETE", f"/api/programs/signal-pools/{pool_id}"))[0] == 204
    assert (await api.call("DELETE", f"/api/programs/{program_id}"))[0] == 204


# -- owners ---------------------------------------------------------------------------------------------
async def test_owners_never_see_each_other(api: Api) -> None:
    other = Api(api.session, api.base_url)
    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    pool_id = (await make_pool(api))["id"]
    status, binding = await api.post("/api/programs/bindings/", {"program_id": program_id, "account_id": account_id, "signal_pool_ids": [pool_id]})
    assert status == 201
    for path in (f"/api/programs/accounts/{account_id}", f"/api/programs/signal-pools/{pool_id}", f"/api/programs/bindings/{binding['id']}",
                 f"/api/programs/accounts/{account_id}/fills"):
        assert (await other.get(path))[0] == 404
        assert (await other.call("DELETE", path.removesuffix("/fills")))[0] == 404
    for path in ("/api/programs/accounts/", "/api/programs/signal-pools/", "/api/programs/bindings/"):
        assert (await other.get(path))[1] == []
    assert (await other.put(f"/api/programs/bindings/{binding['id']}", {"enabled": False}))[0] == 404
    assert (await other.post(f"/api/programs/accounts/{account_id}/reset"))[0] == 404
    # another owner cannot bind to my program, account or pool
    other_program = await make_program(other)
    other_account = (await make_account(other))["id"]
    for body, field in [
        ({"program_id": program_id, "account_id": other_account, "symbol": "BTC", "schedule": {"interval": "1h"}}, "program_id"),
        ({"program_id": other_program, "account_id": account_id, "symbol": "BTC", "schedule": {"interval": "1h"}}, "account_id"),
        ({"program_id": other_program, "account_id": other_account, "signal_pool_ids": [pool_id]}, "signal_pool_ids[0]"),
    ]:
        status, reply = await other.post("/api/programs/bindings/", body)
        assert status == 422 and field_of(reply) == field, reply


# -- paging ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["accounts", "signal-pools", "bindings"])
async def test_lists_page_newest_first_with_a_cursor(api: Api, kind: str) -> None:
    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    made = []
    for i in range(7):
        if kind == "accounts":
            made.append((await make_account(api, name=f"a{i}"))["id"])
        elif kind == "signal-pools":
            made.append((await make_pool(api, name=f"p{i}"))["id"])
        else:
            status, b = await api.post(
                "/api/programs/bindings/",
                {"program_id": program_id, "account_id": account_id, "symbol": "BTC", "schedule": {"interval": "1h"}, "enabled": False},
            )
            assert status == 201
            made.append(b["id"])
    if kind == "accounts":
        made.insert(0, account_id)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = f"?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, items = await api.get(f"/api/programs/{kind}/{query}")
        assert status == 200 and len(items) <= 3
        seen += [item["id"] for item in items]
        pages += 1
        cursor = api.last_headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert seen == sorted(made, reverse=True) and pages == -(-len(made) // 3)
    status, reply = await api.get(f"/api/programs/{kind}/?cursor=bm90LW91cnM")
    assert status == 422 and field_of(reply) == "cursor"
    status, reply = await api.get(f"/api/programs/{kind}/?limit=501")
    assert status == 422 and field_of(reply) == "limit"


async def test_concurrent_creates_leave_one_enabled_binding(api: Api) -> None:
    """The uniqueness claim is decided by the store's primary key, not by a read-then-write check."""
    import asyncio

    program_id = await make_program(api)
    account_id = (await make_account(api))["id"]
    body = {"program_id": program_id, "account_id": account_id, "symbol": "BTC", "schedule": {"interval": "1h"}}
    results = await asyncio.gather(*(api.post("/api/programs/bindings/", body) for _ in range(6)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409, 409, 409], results
    status, listed = await api.get("/api/programs/bindings/?enabled=true")
    assert len(listed) == 1
