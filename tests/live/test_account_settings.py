"""Account broker settings (`slippage_bps`, `maintenance_margin_rate`) and the clock of `reset_at`.

Over real HTTP → NATS → executor → SQLite: the fields are created, read and changed (a change on a
traded account is a ledger step, as for `fee_rate`), the rules across fields are 422s naming a field.
With the run handler on a real SQLite store: a run on a fresh account trades with the account's
slippage, and `reset_at` is on the market clock (sped up here) so `fills?since=<reset_at>` returns
exactly the fills after the reset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.executor.live.accounts import Accounts
from services.executor.live.ledger import LEDGER
from services.executor.live.runs import RunHandler
from services.executor.live.store import ACCOUNTS, BINDINGS, LiveStore
from shared.market import SqliteCandleStore, build_market_data
from shared.messages.live import AccountCreate, AccountRef, FillList
from shared.settings import Settings
from shared.store.sqlite import SqliteStore
from shared.timefmt import parse_time
from shared.trading import AccountConfig, PaperAccount
from tests.harness import Api
from tests.live.test_runs import TOGGLE, World, ctx, in_thread, order

URL = "/api/programs/accounts/"


def field_of(body: dict[str, Any]) -> str:
    return body["error"]["details"]["field"]


@pytest_asyncio.fixture
async def store(settings: Settings, platform: object) -> Any:
    raw = SqliteStore(settings.sqlite_path)
    yield await LiveStore.open(raw)
    await raw.close()


# -- the API ---------------------------------------------------------------------------------------------
async def test_new_fields_default_to_the_brokers_and_round_trip(api: Api) -> None:
    status, plain = await api.post(URL, {"name": "plain"})
    assert status == 201, plain
    assert plain["slippage_bps"] == 0 and plain["maintenance_margin_rate"] == AccountConfig().maintenance_margin_rate == 0.005

    status, made = await api.post(URL, {"name": "costly", "slippage_bps": 25, "maintenance_margin_rate": 0.02, "leverage": 10})
    assert status == 201, made
    status, got = await api.get(f"{URL}{made['id']}")
    assert status == 200 and got["slippage_bps"] == 25 and got["maintenance_margin_rate"] == 0.02 and got["leverage"] == 10

    status, changed = await api.put(f"{URL}{made['id']}", {"slippage_bps": 5.5, "maintenance_margin_rate": 0.05})
    assert status == 200, changed
    assert changed["slippage_bps"] == 5.5 and changed["maintenance_margin_rate"] == 0.05
    status, listed = await api.get(URL)
    assert status == 200
    assert {(a["id"], a["slippage_bps"], a["maintenance_margin_rate"]) for a in listed} == {
        (plain["id"], 0, 0.005), (made["id"], 5.5, 0.05)
    }


async def test_settings_change_on_a_traded_account_moves_the_broker_config(api: Api, store: LiveStore) -> None:
    status, account = await api.post(URL, {"name": "traded"})
    assert status == 201
    broker = PaperAccount(AccountConfig())
    broker.execute({"action": "buy", "symbol": "BTC", "quantity": 0.01, "reason": "t"}, 100.0, 1_775_000_000_000)
    await store.update(ACCOUNTS, api.owner, account["id"], {"broker": broker.to_doc(), "seq": 1})

    status, changed = await api.put(f"{URL}{account['id']}", {"slippage_bps": 30, "maintenance_margin_rate": 0.01})
    assert status == 200, changed
    doc = await store.get(ACCOUNTS, api.owner, account["id"])
    assert doc is not None and doc["seq"] == 2
    assert doc["broker"]["config"]["slippage_bps"] == 30 and doc["broker"]["config"]["maintenance_margin_rate"] == 0.01
    assert doc["broker"]["positions"] and doc["broker"]["cash"] == broker.cash  # the money itself is untouched
    entry = await store.get(LEDGER, api.owner, f"{account['id']}:2")
    assert entry is not None and entry["kind"] == "settings" and entry["execution"] is None
    assert entry["account_changes"]["slippage_bps"] == 30 and entry["account"]["config"]["maintenance_margin_rate"] == 0.01

    # the same values again are no change: no ledger step
    status, _ = await api.put(f"{URL}{account['id']}", {"slippage_bps": 30})
    assert status == 200
    assert (await store.get(ACCOUNTS, api.owner, account["id"]) or {})["seq"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"slippage_bps": 1000.5}, "slippage_bps"),
        ({"slippage_bps": "5"}, "slippage_bps"),
        ({"maintenance_margin_rate": 0}, "maintenance_margin_rate"),
        ({"maintenance_margin_rate": 1}, "maintenance_margin_rate"),
        ({"fee_rate": 0.005}, "fee_rate"),  # == the default maintenance margin rate
        ({"fee_rate": 0.01, "maintenance_margin_rate": 0.02, "leverage": 60}, "maintenance_margin_rate"),
        ({"maintenance_margin_rate": 0.0004}, "maintenance_margin_rate"),  # below the default fee rate
        ({"fee_rate": 0.002, "maintenance_margin_rate": 0.001}, "fee_rate"),
        ({"leverage": 100, "maintenance_margin_rate": 0.01}, "maintenance_margin_rate"),  # 0.01 × 100 = 1
    ],
)
async def test_create_validation_names_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    status, reply = await api.post(URL, {"name": "x", **body})
    assert status == 422, reply
    assert field_of(reply) == field


async def test_update_validation_checks_the_settings_as_they_would_be(api: Api, store: LiveStore) -> None:
    status, account = await api.post(URL, {"name": "x", "fee_rate": 0.001, "maintenance_margin_rate": 0.02, "leverage": 10})
    assert status == 201, account
    cases = [
        ({"fee_rate": 0.02}, "fee_rate"),
        ({"maintenance_margin_rate": 0.001}, "maintenance_margin_rate"),
        ({"leverage": 50}, "leverage"),  # 0.02 × 50 = 1
        ({"maintenance_margin_rate": 0.1}, "maintenance_margin_rate"),  # 0.1 × 10 = 1
    ]
    for body, field in cases:
        status, reply = await api.put(f"{URL}{account['id']}", body)
        assert status == 422 and field_of(reply) == field, (body, reply)
    doc = await store.get(ACCOUNTS, api.owner, account["id"])
    assert doc is not None and doc["seq"] == 0 and doc["fee_rate"] == 0.001 and doc["leverage"] == 10  # nothing written
    # both moved together in one request: valid as a whole
    status, changed = await api.put(f"{URL}{account['id']}", {"leverage": 50, "maintenance_margin_rate": 0.01})
    assert status == 200 and changed["leverage"] == 50 and changed["maintenance_margin_rate"] == 0.01, changed


# -- runs and the market clock ------------------------------------------------------------------------
T_WALL = parse_time("2026-03-02T10:00:00Z")
SPEED = 60.0


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    w = await World(tmp_path).open()
    w.wall = Clock(T_WALL)
    # the simulator sped up 60×: market time runs a minute per wall second from T_WALL
    w.market = build_market_data(SqliteCandleStore(tmp_path / "hyperoru.db"), live_speed=SPEED, clock=w.wall, clock_anchor_ms=T_WALL)
    w.handler = RunHandler(w.ledger, w.programs, in_thread, w.publish, w.market.now, w.config)
    w.accounts = Accounts(w.live, w.market, w.publish)
    yield w
    await w.store.close()


async def test_a_fresh_accounts_run_trades_with_its_slippage(world: World) -> None:
    fills: dict[str, dict[str, Any]] = {}
    for owner, slippage in (("exact", 0.0), ("slipped", 100.0)):
        account_id = await world.account(owner)
        await world.store.collection(ACCOUNTS.name).update(owner, account_id, {"slippage_bps": slippage, "maintenance_margin_rate": 0.02})
        binding_id = await world.binding(owner, account_id, TOGGLE)
        assert (await world.handler.handle(order(owner, binding_id, T_WALL))).outcome == "executed"
        account = await world.doc(ACCOUNTS.name, owner, account_id)
        assert account["broker"]["config"]["slippage_bps"] == slippage
        assert account["broker"]["config"]["maintenance_margin_rate"] == 0.02
        [fills[owner]] = await world.store.collection("live_fills").find(owner, {"account_id": account_id})
    assert fills["exact"]["side"] == fills["slipped"]["side"] == "buy"
    assert fills["slipped"]["price"] == pytest.approx(fills["exact"]["price"] * 1.01)


async def test_fills_since_the_reset_on_a_sped_up_market_clock(world: World) -> None:
    owner = "speedy"
    account_id = (await world.accounts.create(AccountCreate(name="speedy"), ctx(owner))).id
    binding_id = await world.binding(owner, account_id, TOGGLE)
    bindings = world.store.collection(BINDINGS.name)

    world.wall.ms += 5_000  # 5 wall seconds = 5 market minutes
    assert (await world.handler.handle(order(owner, binding_id, world.market.now()))).outcome == "executed"
    world.wall.ms += 1_000
    await bindings.update(owner, binding_id, {"enabled": False})  # a reset needs its bindings off
    reset = await world.accounts.reset(AccountRef(id=account_id), ctx(owner))
    assert reset.reset_at is not None and parse_time(reset.reset_at) == world.market.now() == T_WALL + 6 * 60_000
    await bindings.update(owner, binding_id, {"enabled": True})
    world.wall.ms += 1_000
    assert (await world.handler.handle(order(owner, binding_id, world.market.now()))).outcome == "executed"

    everything = await world.accounts.fills(FillList(id=account_id), ctx(owner))
    assert len(everything.items) == 2
    since_reset = await world.accounts.fills(FillList(id=account_id, since=reset.reset_at), ctx(owner))
    [after] = since_reset.items
    assert parse_time(after.time) == T_WALL + 7 * 60_000  # the run after the reset, on the market clock
    assert parse_time(after.time) >= parse_time(reset.reset_at)
