"""Paper accounts: create, read (valued at current prices), change, reset, delete, and their fills ledger.

An account's money lives in its paper broker (`shared.trading.PaperAccount`, stored as `broker`): the
same rules for fills, fees and rejections as backtests and test runs. `broker` is None until the first
run (a fresh broker from the account's settings) and again after a reset.

Reading an account values its positions at the current market price of each symbol (the executor's
`MarketData`, market clock); a symbol whose price cannot be read right now is valued at its last
traded price (the broker's mark), never dropped.

Changing the broker outside a run (reset; new fee rate, leverage or capital on an account that has
traded) is a step of the account's ledger chain like a run (`ledger.py`): a ledger entry at `seq + 1`,
then the account moved to it with a compare-and-set. A run racing it loses on the entry's primary key
and re-reads the account, so no run ever applies fills computed on the state before a reset.

Decisions:
- `mode: "live"` is refused (422 naming `mode`): no exchange adapter is configured in this platform.
- Reset and delete are refused (409 naming them) while bindings on the account are enabled: a run
  could be trading it at that moment. Disable them first. Delete also removes the account's disabled
  bindings (they cannot run without it), its fills ledger and its ledger entries; executions stay.
- `initial_capital` changed by PUT is what the next reset returns to; on an account that has never
  traded the balance follows at once.
- The broker settings (`MONEY_FIELDS`: capital, fee rate, leverage, slippage, maintenance margin) go
  into the broker's `AccountConfig` wherever the account's broker is built (`account_config`, used by
  runs, preview and the exit watch too). Two rules across fields (422): `fee_rate` <
  `maintenance_margin_rate`, else one fill's fee alone can take a fully levered account below
  maintenance (and the balance negative); `maintenance_margin_rate` × `leverage` < 1, else a position
  opened at full leverage is liquidated at once. They are checked on the settings as they would be
  after the request, naming a field the request set (an account stored before these rules is left
  alone until its settings change).
- `reset_at` is MARKET time (`MarketData.now`), the clock of fill times, so `fills?since=<reset_at>`
  is "the fills since the reset" also when the simulator's clock is sped up. `created_at` and
  `updated_at` are record times (wall clock) like every other resource's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import msgspec
import structlog

from services.executor.live.common import Publish, announce, field_error, filters, id_cursor, in_use, since_ms, time_cursor, unset
from services.executor.live.ledger import LEDGER, entry_id
from services.executor.live.store import ACCOUNTS, BINDING, BINDINGS, FILLS, LiveStore, binding_key
from shared import subjects
from shared.context import RequestContext
from shared.errors import Conflict, NotFound
from shared.market import MarketData
from shared.messages.live import (
    Account,
    AccountCreate,
    AccountFill,
    AccountList,
    AccountPosition,
    AccountRef,
    AccountUpdate,
    FillList,
    LiveDeleted,
)
from shared.paging import ListPage, page
from shared.store import DuplicateKeyError
from shared.timefmt import now_iso, to_iso
from shared.trading import AccountConfig, PaperAccount

log = structlog.get_logger()

LIVE_MODE_REFUSED = (
    'live trading needs an exchange adapter, and none is configured on this platform; use "paper" '
    "(same fills, fees and rejections as backtests)"
)
PRICE_TIMEOUT_S = 2.0
MONEY_FIELDS = ("initial_capital", "fee_rate", "leverage", "slippage_bps", "maintenance_margin_rate")
"""The account fields that are the broker's `AccountConfig`; changing one is a ledger step."""
_DEFAULTS = AccountConfig()
_CREATE_DEFAULTS = AccountCreate(name="defaults")
"""A create's defaults: the fields that differ are the ones a 422 across fields may name."""


def setting(doc: dict[str, Any], name: str) -> float:
    """One broker setting of an account doc (accounts stored before a setting existed: the broker's default)."""
    value = doc.get(name)
    return float(getattr(_DEFAULTS, name) if value is None else value)


def account_config(doc: dict[str, Any], base: AccountConfig | None = None) -> AccountConfig:
    """The broker config of an account doc: every `MONEY_FIELDS` setting, the rest from `base`."""
    return msgspec.structs.replace(base or _DEFAULTS, **{name: setting(doc, name) for name in MONEY_FIELDS})


def check_settings(settings: dict[str, Any], requested: Iterable[str]) -> None:
    """The rules across fields (module docstring); the 422 names a field the request set."""
    asked = set(requested)
    fee, mmr, leverage = setting(settings, "fee_rate"), setting(settings, "maintenance_margin_rate"), setting(settings, "leverage")
    if not fee < mmr:
        field = "fee_rate" if "fee_rate" in asked or "maintenance_margin_rate" not in asked else "maintenance_margin_rate"
        raise field_error(
            field, f"fee_rate ({fee:g}) must be below maintenance_margin_rate ({mmr:g}): one fill's fee could take the account below maintenance"
        )
    if not mmr * leverage < 1:
        field = "maintenance_margin_rate" if "maintenance_margin_rate" in asked or "leverage" not in asked else "leverage"
        raise field_error(
            field, f"maintenance_margin_rate ({mmr:g}) must be below 1 / leverage ({1 / leverage:g}): a fully levered position would be liquidated at once"
        )


def broker_of(doc: dict[str, Any]) -> PaperAccount:
    """The account's paper broker as it stands (a fresh one before the first run / after a reset)."""
    if doc.get("broker"):
        return PaperAccount.from_doc(doc["broker"])
    return PaperAccount(account_config(doc))


def _never_traded(broker: PaperAccount) -> bool:
    return not broker.positions and broker.realized_pnl == 0 and broker.fees_paid == 0 and broker.cash == broker.config.initial_capital


def account_view(doc: dict[str, Any], prices: dict[str, float]) -> Account:
    broker = broker_of(doc)
    positions = [
        AccountPosition(
            symbol=symbol,
            side=position.side,
            size=float(position.size),
            entry_price=float(position.entry_price),
            unrealized_pnl=float(broker.unrealized_pnl(symbol, prices.get(symbol))),
            take_profit=position.take_profit,
            stop_loss=position.stop_loss,
        )
        for symbol, position in sorted(broker.positions.items())
    ]
    return Account(
        id=doc["id"],
        name=doc["name"],
        account_type=doc["account_type"],
        mode=doc["mode"],
        initial_capital=float(doc["initial_capital"]),
        fee_rate=float(doc["fee_rate"]),
        leverage=float(doc["leverage"]),
        slippage_bps=setting(doc, "slippage_bps"),
        maintenance_margin_rate=setting(doc, "maintenance_margin_rate"),
        balance=float(broker.cash),
        equity=float(broker.equity(prices)),
        positions=positions,
        realized_pnl=float(broker.realized_pnl),
        fees_paid=float(broker.fees_paid),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        reset_at=doc.get("reset_at"),
    )


def fill_view(doc: dict[str, Any]) -> AccountFill:
    return AccountFill(
        id=str(doc["id"]),
        account_id=int(doc["account_id"]),
        execution_id=doc.get("execution_id"),
        binding_id=doc.get("binding_id"),
        time=doc["time"],
        symbol=doc["symbol"],
        side=doc["side"],
        quantity=float(doc["quantity"]),
        price=float(doc["price"]),
        fee=float(doc["fee"]),
        realized_pnl=float(doc["realized_pnl"]),
        reason=doc["reason"],
    )


class Accounts:
    def __init__(self, store: LiveStore, market: MarketData, publish: Publish) -> None:
        self._store = store
        self._market = market
        self._publish = publish

    # -- reading ---------------------------------------------------------------------------------------
    async def _prices(self, symbols: Iterable[str]) -> dict[str, float]:
        async def one(symbol: str) -> tuple[str, float | None]:
            try:
                return symbol, await asyncio.wait_for(self._market.price(symbol), PRICE_TIMEOUT_S)
            except Exception as exc:  # no price right now: valued at the last traded price instead
                log.warning("account_price_unavailable", symbol=symbol, error=str(exc))
                return symbol, None

        results = await asyncio.gather(*(one(s) for s in sorted(set(symbols))))
        return {symbol: price for symbol, price in results if price is not None}

    async def _views(self, docs: list[dict[str, Any]]) -> list[Account]:
        held = [symbol for doc in docs for symbol in (doc.get("broker") or {}).get("marks", {})]
        held += [p["symbol"] for doc in docs for p in (doc.get("broker") or {}).get("positions", [])]
        prices = await self._prices(held)
        return [account_view(doc, prices) for doc in docs]

    async def require(self, owner: str, account_id: int, field: str | None = None) -> dict[str, Any]:
        doc = await self._store.get(ACCOUNTS, owner, account_id)
        if doc is None:
            if field is not None:
                raise field_error(field, f"account {account_id} not found")
            raise NotFound(f"account {account_id} not found")
        return doc

    async def get(self, req: AccountRef, ctx: RequestContext) -> Account:
        return (await self._views([await self.require(ctx.owner, req.id)]))[0]

    async def list(self, req: AccountList, ctx: RequestContext) -> ListPage:
        where = {} if req.mode is None else {"mode": req.mode}
        docs = await self._store.page_by_id(ACCOUNTS, ctx.owner, where, req.limit, id_cursor(req.cursor))
        views = await self._views(docs)
        return page(views, req.limit, key=lambda a: a.id)

    async def fills(self, req: FillList, ctx: RequestContext) -> ListPage:
        await self.require(ctx.owner, req.id)
        where = {"account_id": req.id, **filters(req, ("symbol", "binding_id", "execution_id"))}
        since = since_ms(req.since)
        if since is not None:
            where["time_ms"] = {"$gte": since}
        docs = await self._store.page_by_time(FILLS, ctx.owner, where, req.limit, time_cursor(req.cursor))
        items = [fill_view(doc) for doc in docs]
        keys = {str(doc["id"]): [int(doc["time_ms"]), doc["id"]] for doc in docs}
        return page(items, req.limit, key=lambda f: keys[f.id])

    # -- writing ---------------------------------------------------------------------------------------
    async def create(self, req: AccountCreate, ctx: RequestContext) -> Account:
        if req.mode == "live":
            raise field_error("mode", LIVE_MODE_REFUSED)
        name = req.name.strip()
        if not name:
            raise field_error("name", "must not be blank")
        settings = msgspec.to_builtins(req)
        check_settings(settings, [name for name in MONEY_FIELDS if settings[name] != getattr(_CREATE_DEFAULTS, name)])
        ctx.check_deadline()
        account_id = await self._store.next_id(ACCOUNTS)
        now = now_iso()
        doc = {
            "id": account_id,
            "owner": ctx.owner,
            "name": name,
            "account_type": req.account_type,
            "mode": req.mode,
            "initial_capital": float(req.initial_capital),
            "fee_rate": float(req.fee_rate),
            "leverage": float(req.leverage),
            "slippage_bps": float(req.slippage_bps),
            "maintenance_margin_rate": float(req.maintenance_margin_rate),
            "broker": None,
            "seq": 0,
            "created_at": now,
            "updated_at": now,
            "reset_at": None,
        }
        await self._store.insert(ACCOUNTS, doc)
        await announce(self._publish, subjects.EVT_ACCOUNT_CREATED, ctx, "account", account_id)
        return account_view(doc, {})

    async def update(self, req: AccountUpdate, ctx: RequestContext) -> Account:
        if not unset(req.mode) and req.mode == "live":
            raise field_error("mode", LIVE_MODE_REFUSED)
        changes: dict[str, Any] = {}
        if not unset(req.name):
            changes["name"] = req.name.strip()
            if not changes["name"]:
                raise field_error("name", "must not be blank")
        for name in MONEY_FIELDS:
            value = getattr(req, name)
            if not unset(value):
                changes[name] = float(value)
        doc = await self.require(ctx.owner, req.id)
        ctx.check_deadline()
        money = {k: v for k, v in changes.items() if k in MONEY_FIELDS and v != doc.get(k)}
        if money:
            check_settings({**doc, **money}, money)
            new_broker = None
            if doc.get("broker"):
                broker = broker_of(doc)
                fresh = _never_traded(broker)
                broker.config = account_config({**doc, **money}, broker.config)
                if fresh:
                    broker.cash = broker.config.initial_capital
                new_broker = broker.to_doc()
            doc = await self._ledger_step(ctx.owner, doc, new_broker, "settings", {**changes, "updated_at": now_iso()})
        else:
            doc = await self._store.update(ACCOUNTS, ctx.owner, req.id, {**changes, "updated_at": now_iso()})
            if doc is None:
                raise NotFound(f"account {req.id} not found")
        await announce(self._publish, subjects.EVT_ACCOUNT_UPDATED, ctx, "account", req.id)
        return (await self._views([doc]))[0]

    async def _enabled_bindings(self, owner: str, account_id: int) -> list[int]:
        docs = await self._store.find(BINDINGS, owner, {"account_id": account_id, "enabled": True})
        return [int(d["id"]) for d in docs]

    async def reset(self, req: AccountRef, ctx: RequestContext) -> Account:
        doc = await self.require(ctx.owner, req.id)
        enabled = await self._enabled_bindings(ctx.owner, req.id)
        if enabled:
            raise in_use(f"account {req.id} has enabled bindings; disable them before resetting it", "bindings", enabled)
        ctx.check_deadline()
        changes = {"reset_at": to_iso(self._market.now()), "updated_at": now_iso()}
        doc = await self._ledger_step(ctx.owner, doc, None, "reset", changes)
        await announce(self._publish, subjects.EVT_ACCOUNT_RESET, ctx, "account", req.id)
        return account_view(doc, {})

    async def _ledger_step(
        self, owner: str, doc: dict[str, Any], broker: dict[str, Any] | None, kind: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Move the broker outside a run as one step of the account's ledger chain (see module docstring)."""
        account_id = int(doc["id"])
        seq = int(doc.get("seq") or 0)
        if await self._store.get(LEDGER, owner, entry_id(account_id, seq + 1)) is not None:
            raise Conflict(f"a run on account {account_id} is being recorded right now; retry in a moment")
        entry = {
            "id": entry_id(account_id, seq + 1),
            "owner": owner,
            "account_id": account_id,
            "seq": seq + 1,
            "kind": kind,
            "run_key": f"{kind}:{account_id}:{seq + 1}",
            "binding_id": None,
            "execution": None,
            "fills": [],
            "binding": None,
            "account": broker,
            "account_changes": changes,  # live-followups: recovery (`Ledger.apply`) applies these too
        }
        try:
            await self._store.insert(LEDGER, entry)
        except DuplicateKeyError:
            raise Conflict(f"a run on account {account_id} is being recorded right now; retry in a moment") from None
        where = {"seq": {"$in": [0, None]}} if seq == 0 else {"seq": seq}
        moved = await self._store.update(ACCOUNTS, owner, account_id, {**changes, "broker": broker, "seq": seq + 1}, where=where)
        if moved is None:
            current = await self.require(owner, account_id)
            if int(current.get("seq") or 0) != seq + 1:
                raise Conflict(f"account {account_id} changed meanwhile; read it again and retry")
            moved = await self._store.update(ACCOUNTS, owner, account_id, changes) or current
        return moved

    async def delete(self, req: AccountRef, ctx: RequestContext) -> LiveDeleted:
        await self.require(ctx.owner, req.id)
        enabled = await self._enabled_bindings(ctx.owner, req.id)
        if enabled:
            raise in_use(f"account {req.id} has enabled bindings; disable or delete them first", "bindings", enabled)
        ctx.check_deadline()
        for binding in await self._store.find(BINDINGS, ctx.owner, {"account_id": req.id}):
            key = binding_key(binding["program_id"], binding["account_id"], binding["symbol"])
            await self._store.release_binding_key(ctx.owner, key, int(binding["id"]))
            await self._store.delete(BINDINGS, ctx.owner, int(binding["id"]))
            await self._store.index_remove(BINDING, ctx.owner, int(binding["id"]))
        await self._store.delete_where(FILLS, ctx.owner, {"account_id": req.id})
        await self._store.delete_where(LEDGER, ctx.owner, {"account_id": req.id})
        if not await self._store.delete(ACCOUNTS, ctx.owner, req.id):
            raise NotFound(f"account {req.id} not found")
        await announce(self._publish, subjects.EVT_ACCOUNT_DELETED, ctx, "account", req.id)
        return LiveDeleted(id=req.id)

