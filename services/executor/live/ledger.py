"""The one write of a live run, and bringing the account and the binding up to date from it.

The store has no multi-document transactions, yet a run changes four things: the account (cash,
positions), the binding (`ctx.state`, `last_run_at`), the execution log and the fills ledger. So a run
commits with ONE insert — a ledger entry keyed `<account id>:<seq>` that holds everything the run
produced (the execution, its fills, the binding's new state and the account as it is afterwards) —
and everything else is a projection of that entry, written idempotently by `apply`:

- The key makes each account's runs a chain: entry `a:n+1` can only be written by a run that read
  the account at step `n`. Two runs racing on one account (two bindings, two replicas, a redelivery)
  clash on the primary key; the loser re-reads and tries again. No lock, no lost update.
- `apply` copies the entry to the execution and fills collections (`replace`, by deterministic ids),
  sets the binding's state (compare-and-set on its `run_seq`) and finally moves the account to the
  entry's state with a compare-and-set on the account's `seq`. Crash anywhere and the next run on
  that account (or the redelivered message, or start-up recovery) finds the entry at `seq + 1` and
  applies it again: every step is idempotent, the account step last.
- The run key (`<binding id>:<trigger id>`) is stored in the entry; a run looks for it *after*
  reading the account head, so a run that already committed is always seen (see `runs.py`).

Not every step is a run: a reset or a settings change (`accounts.py`: `execution` None, `account` None
= a fresh broker, `account_changes` = the account fields it sets) and a take-profit / stop-loss /
liquidation filled between runs (`exits.py`: `execution` None, one fill) are steps of the same chain,
recovered by the same `apply`.

Exposure index (`live_exposed`, system owner `#live`): the accounts that hold positions, so the exit
watch (`exits.py`) can check them on every candle without scanning every owner's accounts. `apply`
adds the account BEFORE moving it to a state with positions; the watch removes an account only after
reading it flat and re-reads it afterwards (see `ExitWatch`), so the index is always a superset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from shared.store import Collection, CollectionSpec, Doc, DuplicateKeyError, Store

log = structlog.get_logger()

LEDGER = CollectionSpec("live_ledger", indexes=(("run_key",), ("account_id", "seq")))
EXECUTIONS = CollectionSpec(
    "live_executions",
    indexes=(("binding_id", "id"), ("program_id", "id"), ("account_id", "id"), ("status", "id")),
)
FILLS = CollectionSpec("live_fills", indexes=(("account_id", "time_ms"),))
EXPOSED = CollectionSpec("live_exposed")
SYSTEM_OWNER = "#live"
EXECUTION_COUNTER = "live_executions"


def entry_id(account_id: int, seq: int) -> str:
    return f"{account_id}:{seq}"


def _seq_is(seq: int) -> Any:
    """A where-value matching an account or binding at step `seq` (step 0 may have no field yet)."""
    return {"$in": [0, None]} if seq == 0 else seq


class Ledger:
    """Commits run entries and applies them to the account, binding, executions and fills."""

    def __init__(self, store: Store, accounts: str, bindings: str) -> None:
        self._store = store
        self.accounts: Collection = store.collection(accounts)
        self.bindings: Collection = store.collection(bindings)
        self.entries: Collection = store.collection(LEDGER.name)
        self.executions: Collection = store.collection(EXECUTIONS.name)
        self.fills: Collection = store.collection(FILLS.name)
        self.exposed: Collection = store.collection(EXPOSED.name)

    @classmethod
    async def open(cls, store: Store, *, accounts: str, bindings: str) -> Ledger:
        """Ensure the ledger's own collections; `accounts`/`bindings` are live-resources' collections."""
        for spec in (LEDGER, EXECUTIONS, FILLS, EXPOSED):
            await store.ensure(spec)
        for name in (accounts, bindings):
            try:
                store.collection(name)
            except KeyError:  # not ensured yet by live-resources in this process: make sure it exists
                await store.ensure(CollectionSpec(name))
        return cls(store, accounts, bindings)

    async def next_execution_id(self) -> int:
        return await self._store.next_id(EXECUTION_COUNTER)

    async def pending(self, owner: str, account_id: int, seq: int) -> Doc | None:
        """The entry one step past the account's head: committed, maybe not applied yet."""
        return await self.entries.get(owner, entry_id(account_id, seq + 1))

    async def find_run(self, owner: str, run_key: str) -> Doc | None:
        found = await self.entries.find(owner, {"run_key": run_key}, limit=1)
        return found[0] if found else None

    async def commit(self, entry: Doc) -> bool:
        """THE write of a run. False when another run took this step of the account first."""
        try:
            await self.entries.insert(entry)
        except DuplicateKeyError:
            return False
        return True

    async def apply(self, entry: Mapping[str, Any]) -> None:
        """Bring executions, fills, binding and account up to date with `entry` (idempotent)."""
        owner = entry["owner"]
        if entry.get("execution") is not None:
            await self.executions.replace(dict(entry["execution"]))
        for fill in entry.get("fills", ()):
            await self.fills.replace(dict(fill))
        binding = entry.get("binding")
        if binding is not None:
            run_seq = int(binding["run_seq"])
            changes = {"state": binding["state"], "last_run_at": binding["last_run_at"], "run_seq": run_seq}
            done = await self.bindings.update(owner, entry["binding_id"], changes, where={"run_seq": _seq_is(run_seq - 1)})
            if done is None:
                current = await self.bindings.get(owner, entry["binding_id"])
                if current is not None and int(current.get("run_seq") or 0) < run_seq:
                    log.warning("binding_state_not_applied", binding_id=entry["binding_id"], run_seq=run_seq)
        if entry.get("account") and entry["account"].get("positions"):
            await self.expose(owner, int(entry["account_id"]))  # before the account holds them (superset)
        seq = int(entry["seq"])
        # Steps that are not runs (reset, settings: `execution` None, `account` None = a fresh broker from
        # the settings) also carry the account fields they change; applied in the same compare-and-set.
        changes = {**(entry.get("account_changes") or {}), "broker": entry["account"], "seq": seq}
        moved = await self.accounts.update(owner, entry["account_id"], changes, where={"seq": _seq_is(seq - 1)})
        if moved is None:
            current = await self.accounts.get(owner, entry["account_id"])
            if current is not None and int(current.get("seq") or 0) < seq - 1:
                log.error("ledger_gap", account_id=entry["account_id"], seq=seq, account_seq=current.get("seq"))

    # -- the exposure index ------------------------------------------------------------------------------
    async def expose(self, owner: str, account_id: int) -> None:
        await self.exposed.replace({"id": f"{owner}/{account_id}", "owner": SYSTEM_OWNER, "ref_owner": owner, "ref_id": account_id})

    async def unexpose(self, owner: str, account_id: int) -> None:
        await self.exposed.delete(SYSTEM_OWNER, f"{owner}/{account_id}")

    async def exposed_all(self) -> list[tuple[str, int]]:
        """(owner, account id) of every account that may hold positions (a superset)."""
        docs = await self.exposed.find(SYSTEM_OWNER, None, order_by=(("id", 1),))
        return [(str(d["ref_owner"]), int(d["ref_id"])) for d in docs]

    async def recover(self, owner: str, account_id: int) -> int:
        """Apply every committed-but-unapplied entry of the account; return its head `seq`."""
        while True:
            account = await self.accounts.get(owner, account_id)
            if account is None:
                return -1
            seq = int(account.get("seq") or 0)
            entry = await self.pending(owner, account_id, seq)
            if entry is None:
                return seq
            await self.apply(entry)
            after = await self.accounts.get(owner, account_id)
            if after is not None and int(after.get("seq") or 0) <= seq:
                raise RuntimeError(f"account {account_id}: entry {seq + 1} does not apply (account changed outside the ledger?)")
