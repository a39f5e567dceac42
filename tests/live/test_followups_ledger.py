"""Ledger steps that are not runs (reset, settings: `execution` None) when the executor dies half-way.

`Accounts._ledger_step` inserts the ledger entry, then moves the account. Here the move fails as if the
process died between the two (the store's account update raises once), and what comes next must
finish the step exactly as it would have been: `Ledger.recover` (every run starts with it) applies it,
settings fields included, and a preview meanwhile reads the committed entry without failing on its
`account: None`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.executor.live.accounts import Accounts
from services.executor.live.ledger import LEDGER, entry_id
from services.executor.live.runs import RunHandler
from services.executor.live.store import ACCOUNTS, LiveStore
from shared.context import RequestContext
from shared.messages.live import AccountCreate, AccountRef, AccountUpdate, PreviewRequest
from shared.timefmt import parse_time
from tests.live.test_runs import TOGGLE, World, in_thread, order

T_RUN = parse_time("2026-03-02T10:00:05Z")


class Crash(Exception):
    pass


class DiesBeforeMovingTheAccount(LiveStore):
    """The live store, except that the next account update made by a ledger step never happens."""

    armed = False

    async def update(self, spec: Any, owner: str, id: int | str, changes: Any, where: Any = None) -> Any:
        if self.armed and spec is ACCOUNTS and "seq" in changes:
            self.armed = False
            raise Crash("killed between the ledger entry and the account")
        return await super().update(spec, owner, id, changes, where)


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    w = await World(tmp_path).open()
    w.handler = RunHandler(w.ledger, w.programs, in_thread, w.publish, lambda: T_RUN, w.config)
    w.dying = DiesBeforeMovingTheAccount(w.store)
    w.accounts = Accounts(w.dying, w.market, w.publish)
    yield w
    await w.store.close()


def ctx(owner: str) -> RequestContext:
    return RequestContext(request_id="test", owner=owner)


async def test_reset_entry_left_unapplied_is_recovered_and_runs_go_on(world: World) -> None:
    owner = "reset"
    account_id = await world.account(owner)
    binding_id = await world.binding(owner, account_id, TOGGLE)
    assert (await world.handler.handle(order(owner, binding_id, T_RUN))).outcome == "executed"
    traded = await world.doc(ACCOUNTS.name, owner, account_id)
    assert traded["seq"] == 1 and traded["broker"]["positions"]

    await world.store.collection("live_bindings").update(owner, binding_id, {"enabled": False})  # reset needs it off
    world.dying.armed = True
    with pytest.raises(Crash):
        await world.accounts.reset(AccountRef(id=account_id), ctx(owner))
    entry = await world.store.collection(LEDGER.name).get(owner, entry_id(account_id, 2))
    assert entry is not None and entry["kind"] == "reset" and entry["execution"] is None and entry["account"] is None
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 1  # not applied: the "crash"

    # the preview reads the committed reset: a fresh account, nothing written
    await world.store.collection("live_bindings").update(owner, binding_id, {"enabled": True})
    preview = await world.preview.preview(PreviewRequest(id=binding_id), ctx(owner))
    assert preview.status == "ok" and preview.action == "buy"  # flat after the reset: TOGGLE opens
    assert (await world.doc(ACCOUNTS.name, owner, account_id))["seq"] == 1

    # the next run applies the reset first, then runs on the fresh account
    assert (await world.handler.handle(order(owner, binding_id, T_RUN + 60_000))).outcome == "executed"
    after = await world.doc(ACCOUNTS.name, owner, account_id)
    assert after["seq"] == 3 and after["reset_at"] is not None
    assert after["broker"]["realized_pnl"] == 0 and len(after["broker"]["positions"]) == 1
    assert after["broker"]["fees_paid"] == pytest.approx(after["broker"]["positions"][0]["entry_fees"])


async def test_settings_entry_left_unapplied_is_recovered_with_its_fields(world: World) -> None:
    owner = "settings"
    created = await world.accounts.create(AccountCreate(name="never traded"), ctx(owner))  # balance follows initial_capital
    account_id = created.id
    world.dying.armed = True
    with pytest.raises(Crash):
        await world.accounts.update(AccountUpdate(id=account_id, initial_capital=2_500.0, fee_rate=0.002), ctx(owner))
    entry = await world.store.collection(LEDGER.name).get(owner, entry_id(account_id, 1))
    assert entry is not None and entry["kind"] == "settings" and entry["execution"] is None
    assert entry["account_changes"]["initial_capital"] == 2_500.0

    assert await world.ledger.recover(owner, account_id) == 1
    doc = await world.doc(ACCOUNTS.name, owner, account_id)
    assert doc["initial_capital"] == 2_500.0 and doc["fee_rate"] == 0.002 and doc["seq"] == 1
    view = await world.accounts.get(AccountRef(id=account_id), ctx(owner))
    assert view.balance == 2_500.0 and view.fee_rate == 0.002
    # applying the same entry again changes nothing (idempotent)
    await world.ledger.apply(entry)
    assert await world.doc(ACCOUNTS.name, owner, account_id) == doc


async def test_entry_without_execution_applies_without_touching_executions(world: World) -> None:
    owner = "bare"
    account_id = await world.account(owner)
    entry = {"id": entry_id(account_id, 1), "owner": owner, "account_id": account_id, "seq": 1, "kind": "reset",
             "run_key": f"reset:{account_id}:1", "binding_id": None, "execution": None, "fills": [], "binding": None,
             "account": None}  # an entry written before `account_changes` existed
    assert await world.ledger.commit(entry)
    assert await world.ledger.recover(owner, account_id) == 1
    assert await world.ledger.executions.find(owner, None) == []
    doc = await world.doc(ACCOUNTS.name, owner, account_id)
    assert doc["broker"] is None and doc["initial_capital"] == 10_000.0
