"""An account as runs leave it: positions valued at current prices, the fills ledger (shape, filters,
paging by time), and reset/settings as steps of the account's ledger chain.

Runs are the live-runs part's; here their writes are made directly in the store (the same SQLite file
the executor uses), in the documented shapes (services/executor/live/store.py, ledger.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from services.executor.live.ledger import LEDGER
from services.executor.live.store import ACCOUNTS, FILLS, LiveStore
from shared.settings import Settings
from shared.store.sqlite import SqliteStore
from shared.timefmt import to_iso
from shared.trading import AccountConfig, PaperAccount
from tests.harness import Api

T0 = 1_775_000_000_000


@pytest_asyncio.fixture
async def store(settings: Settings, platform: object) -> AsyncIterator[LiveStore]:
    raw = SqliteStore(settings.sqlite_path)
    live = await LiveStore.open(raw)
    yield live
    await raw.close()


def fill_doc(owner: str, account_id: int, n: int, *, time_ms: int, symbol: str = "BTC", binding_id: int = 1) -> dict[str, Any]:
    execution_id = 100 + n // 2
    return {
        "id": f"{execution_id}-{n % 2}", "owner": owner, "account_id": account_id, "binding_id": binding_id, "program_id": 1,
        "execution_id": execution_id, "seq": n + 1, "n": n % 2, "time": to_iso(time_ms), "time_ms": time_ms, "symbol": symbol,
        "side": "buy" if n % 2 == 0 else "sell", "quantity": 0.01, "price": 100.0 + n, "fee": 0.0005, "notional": 1.0 + n,
        "realized_pnl": 0.0 if n % 2 == 0 else 0.5, "reason": "signal", "order_reason": "test",
    }


async def test_positions_are_valued_at_current_prices(api: Api, store: LiveStore) -> None:
    status, account = await api.post("/api/programs/accounts/", {"name": "traded"})
    assert status == 201
    broker = PaperAccount(AccountConfig(initial_capital=10_000, fee_rate=0.0005))
    status, quote = await api.post("/api/programs/query-market-data", {"symbol": "BTC"})
    assert status == 200
    broker.execute({"action": "buy", "symbol": "BTC", "quantity": 0.1, "reason": "t"}, quote["price"] * 0.5, T0)
    assert broker.positions
    await store.update(ACCOUNTS, api.owner, account["id"], {"broker": broker.to_doc(), "seq": 1})

    status, got = await api.get(f"/api/programs/accounts/{account['id']}")
    assert status == 200, got
    [position] = got["positions"]
    assert position["symbol"] == "BTC" and position["side"] == "long" and position["size"] == 0.1
    assert position["entry_price"] == broker.positions["BTC"].entry_price
    # bought at half the market price: the position is valued at the (current) price, so it is well up
    assert position["unrealized_pnl"] > 0.1 * quote["price"] * 0.3
    assert got["balance"] == broker.cash and got["fees_paid"] == broker.fees_paid
    assert abs(got["equity"] - (got["balance"] + position["unrealized_pnl"])) < 1e-6

    # a reset is refused while a run is being recorded (its ledger entry exists), then works
    await store.insert(LEDGER, {"id": f"{account['id']}:2", "owner": api.owner, "account_id": account["id"], "seq": 2, "run_key": "x"})
    status, reply = await api.post(f"/api/programs/accounts/{account['id']}/reset")
    assert status == 409, reply
    await store.delete(LEDGER, api.owner, f"{account['id']}:2")
    status, reset = await api.post(f"/api/programs/accounts/{account['id']}/reset")
    assert status == 200, reset
    assert reset["balance"] == 10_000 and reset["positions"] == [] and reset["realized_pnl"] == 0 and reset["fees_paid"] == 0
    doc = await store.get(ACCOUNTS, api.owner, account["id"])
    assert doc is not None and doc["seq"] == 2 and doc["broker"] is None
    entry = await store.get(LEDGER, api.owner, f"{account['id']}:2")
    assert entry is not None and entry["kind"] == "reset" and entry["execution"] is None


async def test_settings_change_on_a_traded_account_is_a_ledger_step(api: Api, store: LiveStore) -> None:
    status, account = await api.post("/api/programs/accounts/", {"name": "traded"})
    broker = PaperAccount(AccountConfig())
    broker.execute({"action": "buy", "symbol": "BTC", "quantity": 0.01, "reason": "t"}, 100.0, T0)
    await store.update(ACCOUNTS, api.owner, account["id"], {"broker": broker.to_doc(), "seq": 3})
    status, changed = await api.put(f"/api/programs/accounts/{account['id']}", {"fee_rate": 0.002, "initial_capital": 20_000})
    assert status == 200, changed
    assert changed["fee_rate"] == 0.002 and changed["initial_capital"] == 20_000
    assert changed["balance"] == broker.cash  # it has traded: the balance stays, the capital is for the next reset
    doc = await store.get(ACCOUNTS, api.owner, account["id"])
    assert doc is not None and doc["seq"] == 4 and doc["broker"]["config"]["fee_rate"] == 0.002
    assert (await store.get(LEDGER, api.owner, f"{account['id']}:4"))["kind"] == "settings"  # type: ignore[index]
    status, reset = await api.post(f"/api/programs/accounts/{account['id']}/reset")
    assert reset["balance"] == 20_000 and reset["fee_rate"] == 0.002


async def test_fills_ledger_pages_newest_first_and_filters(api: Api, store: LiveStore) -> None:
    status, account = await api.post("/api/programs/accounts/", {"name": "ledger"})
    aid = account["id"]
    # 9 fills; fills 2..5 share one time (several fills of one run), so paging must break ties by id
    times = [T0, T0 + 1000, T0 + 2000, T0 + 2000, T0 + 2000, T0 + 2000, T0 + 3000, T0 + 4000, T0 + 5000]
    docs = [fill_doc(api.owner, aid, n, time_ms=t, symbol="ETH" if n == 8 else "BTC", binding_id=2 if n >= 7 else 1) for n, t in enumerate(times)]
    for doc in docs:
        await store.insert(FILLS, doc)
    expected = sorted(docs, key=lambda d: (d["time_ms"], d["id"]), reverse=True)

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, items = await api.get(f"/api/programs/accounts/{aid}/fills?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(items) <= 2
        seen += items
        cursor = api.last_headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert [f["id"] for f in seen] == [d["id"] for d in expected]
    assert set(seen[0]) == {"id", "account_id", "execution_id", "binding_id", "time", "symbol", "side", "quantity", "price", "fee", "realized_pnl", "reason"}
    assert seen[-1] == {
        "id": "100-0", "account_id": aid, "execution_id": 100, "binding_id": 1, "time": to_iso(T0), "symbol": "BTC",
        "side": "buy", "quantity": 0.01, "price": 100.0, "fee": 0.0005, "realized_pnl": 0.0, "reason": "signal",
    }

    assert [f["id"] for f in (await api.get(f"/api/programs/accounts/{aid}/fills?symbol=ETH"))[1]] == [docs[8]["id"]]
    assert len((await api.get(f"/api/programs/accounts/{aid}/fills?binding_id=2"))[1]) == 2
    assert len((await api.get(f"/api/programs/accounts/{aid}/fills?execution_id=101"))[1]) == 2
    since = await api.get(f"/api/programs/accounts/{aid}/fills?since={to_iso(T0 + 3000)}")
    assert [f["id"] for f in since[1]] == [d["id"] for d in expected[:3]]
    status, reply = await api.get(f"/api/programs/accounts/{aid}/fills?since=yesterday")
    assert status == 422 and reply["error"]["details"]["field"] == "since"

    # deleting the account takes its ledger with it
    assert (await api.call("DELETE", f"/api/programs/accounts/{aid}"))[0] == 204
    assert await store.find(FILLS, api.owner, {"account_id": aid}) == []


async def test_cross_owner_index_lists_exactly_the_enabled(api: Api, store: LiveStore) -> None:
    """The trigger clock reads every owner's enabled pools and bindings through the index."""
    other = Api(api.session, api.base_url)
    made: dict[str, set[tuple[str, int]]] = {"pools": set(), "bindings": set()}
    for who in (api, other):
        status, program = await who.post("/api/programs/", {"name": "p", "code": 'fn run(ctx) { ctx.hold("x") }'})
        status, account = await who.post("/api/programs/accounts/", {"name": "a"})
        signal = {"symbol": "BTC", "timeframe": "1m", "metric": "price", "operator": ">", "value": 0}
        on = (await who.post("/api/programs/signal-pools/", {"name": "on", "signals": [signal]}))[1]
        off = (await who.post("/api/programs/signal-pools/", {"name": "off", "signals": [signal], "enabled": False}))[1]
        later_off = (await who.post("/api/programs/signal-pools/", {"name": "later off", "signals": [signal]}))[1]
        assert (await who.put(f"/api/programs/signal-pools/{later_off['id']}", {"enabled": False}))[0] == 200
        later_on = (await who.post("/api/programs/signal-pools/", {"name": "later on", "signals": [signal], "enabled": False}))[1]
        assert (await who.put(f"/api/programs/signal-pools/{later_on['id']}", {"enabled": True}))[0] == 200
        made["pools"] |= {(who.owner, on["id"]), (who.owner, later_on["id"])}
        base = {"program_id": program["id"], "account_id": account["id"], "signal_pool_ids": [on["id"], off["id"]]}
        b_on = (await who.post("/api/programs/bindings/", base))[1]
        b_off = (await who.post("/api/programs/bindings/", {**base, "symbol": "ETH", "enabled": False}))[1]
        b_gone = (await who.post("/api/programs/bindings/", {**base, "symbol": "SOL"}))[1]
        assert (await who.call("DELETE", f"/api/programs/bindings/{b_gone['id']}"))[0] == 204
        assert b_off["enabled"] is False
        made["bindings"].add((who.owner, b_on["id"]))
    owners = {api.owner, other.owner}
    pools = {(d["owner"], d["id"]) for d in await store.enabled_pools_all() if d["owner"] in owners}
    bindings = {(d["owner"], d["id"]) for d in await store.enabled_bindings_all() if d["owner"] in owners}
    assert pools == made["pools"] and bindings == made["bindings"]
    # a stale entry (a crash between the index write and the resource write) is dropped by readers
    await store.index_add("binding", api.owner, 987_654)
    assert {(d["owner"], d["id"]) for d in await store.enabled_bindings_all() if d["owner"] in owners} == made["bindings"]
