"""A run committed by a replica that died before applying it, and its binding disabled (or deleted)
before the message came back: the account must still catch up with its ledger.

Found while writing `test_ledger_properties.py`. The redelivered message used to be "skipped" (binding
disabled) without applying the committed entry, and a reset (which needs the bindings disabled)
answered 409 "a run is being recorded right now" for ever: a leverage-1 position without TP/SL is not
watched for exits, so nothing else ever applied the entry. The account showed the state before the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.executor.live.accounts import Accounts
from services.executor.live.runs import RunHandler
from services.executor.live.store import ACCOUNTS, BINDINGS
from shared.context import RequestContext
from shared.messages.live import AccountRef
from tests.live.test_ledger_properties import PLAN, T0, Crash, DyingLedger
from tests.live.test_runs import World, in_thread, order

OWNER = "stuck"


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    w = await World(tmp_path).open()
    w.dying_ledger = DyingLedger(w.store, ACCOUNTS.name, BINDINGS.name)
    w.handler = RunHandler(w.dying_ledger, w.programs, in_thread, w.publish, lambda: T0, w.config)
    w.accounts = Accounts(w.live, w.market, w.publish)
    yield w
    await w.store.close()


async def committed_not_applied(world: Any) -> tuple[int, int, Any]:
    account_id = await world.account(OWNER)
    await world.store.collection(ACCOUNTS.name).update(OWNER, account_id, {"created_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T10:00:00Z"})
    binding_id = await world.binding(OWNER, account_id, PLAN, params={"a": "buy", "q": 0.01})
    run = order(OWNER, binding_id, T0)
    world.dying_ledger.die_at_start = True
    with pytest.raises(Crash):
        await world.handler.handle(run)
    assert (await world.doc(ACCOUNTS.name, OWNER, account_id))["seq"] == 0  # committed, not applied
    return account_id, binding_id, run


async def test_redelivery_to_a_disabled_binding_applies_its_committed_run(world: Any) -> None:
    account_id, binding_id, run = await committed_not_applied(world)
    await world.store.collection(BINDINGS.name).update(OWNER, binding_id, {"enabled": False})
    report = await world.handler.handle(run)
    assert report.outcome == "duplicate"  # it ran once, before the binding was disabled
    account = await world.doc(ACCOUNTS.name, OWNER, account_id)
    assert account["seq"] == 1 and account["broker"]["positions"][0]["symbol"] == "BTC"
    assert len(await world.store.collection("live_fills").find(OWNER, {"account_id": account_id})) == 1
    shown = await world.accounts.reset(AccountRef(id=account_id), RequestContext(request_id="t", owner=OWNER))
    assert shown.balance == 10_000 and shown.positions == []


async def test_redelivery_to_a_deleted_binding_applies_its_committed_run(world: Any) -> None:
    account_id, binding_id, run = await committed_not_applied(world)
    await world.store.collection(BINDINGS.name).delete(OWNER, binding_id)
    report = await world.handler.handle(run)
    assert report.outcome == "duplicate"
    shown = await world.accounts.reset(AccountRef(id=account_id), RequestContext(request_id="t", owner=OWNER))
    assert shown.balance == 10_000 and shown.positions == []
    account = await world.doc(ACCOUNTS.name, OWNER, account_id)
    assert account["seq"] == 2 and account["broker"] is None  # the run (1), then the reset (2)
    assert len(await world.store.collection("live_fills").find(OWNER, {"account_id": account_id})) == 1
