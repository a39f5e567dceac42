"""Wiring of the live resources into the executor: accounts, signal pools, bindings, and the count the
registry asks before deleting a program. `register_resources(service, …)` is called from
`services/executor/service.py`; nothing else lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.executor.live.accounts import Accounts
from services.executor.live.bindings import Bindings
from services.executor.live.pools import Pools
from services.executor.live.store import LiveStore
from shared import subjects
from shared.context import RequestContext
from shared.market import MarketData
from shared.messages.live import (
    AccountCreate,
    AccountList,
    AccountRef,
    AccountUpdate,
    BindingCountQuery,
    BindingCreate,
    BindingList,
    BindingRef,
    BindingUpdate,
    FillList,
    PoolCreate,
    PoolList,
    PoolRef,
    PoolUpdate,
)
from shared.messages.programs import Program, ProgramRef
from shared.runtime import Service
from shared.store import Store


class RegistryProgramLookup:
    """A program as the registry serves it to the caller (so it must be theirs)."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def program(self, program_id: int, ctx: RequestContext) -> Program:
        return await self._service.client().request(subjects.PROGRAMS_GET, ProgramRef(id=program_id), Program, ctx)


@dataclass(frozen=True, slots=True)
class LiveResources:
    store: LiveStore
    accounts: Accounts
    pools: Pools
    bindings: Bindings


async def register_resources(service: Service, *, store: Store, market: MarketData) -> LiveResources:
    live_store = await LiveStore.open(store)
    accounts = Accounts(live_store, market, service.publish)
    pools = Pools(live_store, market, service.publish)
    bindings = Bindings(live_store, market, RegistryProgramLookup(service), service.publish)
    service.add(subjects.ACCOUNTS_CREATE, AccountCreate, accounts.create)
    service.add(subjects.ACCOUNTS_LIST, AccountList, accounts.list)
    service.add(subjects.ACCOUNTS_GET, AccountRef, accounts.get)
    service.add(subjects.ACCOUNTS_UPDATE, AccountUpdate, accounts.update)
    service.add(subjects.ACCOUNTS_DELETE, AccountRef, accounts.delete)
    service.add(subjects.ACCOUNTS_RESET, AccountRef, accounts.reset)
    service.add(subjects.ACCOUNTS_FILLS, FillList, accounts.fills)
    service.add(subjects.SIGNAL_POOLS_CREATE, PoolCreate, pools.create)
    service.add(subjects.SIGNAL_POOLS_LIST, PoolList, pools.list)
    service.add(subjects.SIGNAL_POOLS_GET, PoolRef, pools.get)
    service.add(subjects.SIGNAL_POOLS_UPDATE, PoolUpdate, pools.update)
    service.add(subjects.SIGNAL_POOLS_DELETE, PoolRef, pools.delete)
    service.add(subjects.BINDINGS_CREATE, BindingCreate, bindings.create)
    service.add(subjects.BINDINGS_LIST, BindingList, bindings.list)
    service.add(subjects.BINDINGS_GET, BindingRef, bindings.get)
    service.add(subjects.BINDINGS_UPDATE, BindingUpdate, bindings.update)
    service.add(subjects.BINDINGS_DELETE, BindingRef, bindings.delete)
    service.add(subjects.BINDINGS_COUNT, BindingCountQuery, bindings.count)
    return LiveResources(live_store, accounts, pools, bindings)
