"""Take-profit, stop-loss and liquidation of live paper positions between runs.

A position opened by a run carries its take-profit / stop-loss (order options), and every position
with leverage has a liquidation price. A live exchange would close it the moment the price gets there,
whether or not the binding's program happens to run; so on every market-minute close the trigger
clock asks this watch to look at the 1-minute candle that just closed, for every account that holds a
position: `PaperAccount.check_exits(symbol, open, high, low, …)` — the broker's own rule, the one a
backtest applies on each bar (stop-loss wins when both levels are inside the candle; a gap fills at the
open; liquidation at its price unless the stop comes first).

Why the 1-minute candle and not the binding's timeframe: a position belongs to the account, not to
one binding (two bindings may trade one account on different timeframes), and the finest closed
candle is the closest a candle-driven check gets to the moment the level was touched. Only candles
that opened at or after the position did are looked at, so a price from before the position existed
never fills it (a level crossed during the minute the position opened is caught on the next candle,
at its open if the price stayed beyond it).

Exactly once: an exit is one step of the account's ledger chain (`ledger.py`), keyed
`exit:<account>:<symbol>:<candle open>` — entry `<account>:<seq + 1>` with its fill, `execution`
None — committed with the same primary-key rule as a run, so a repeated check (a retried tick, a
second clock replica, a restart's catch-up) finds the key or reads an account that is already flat.
Its fill goes to the account's fills ledger (no execution, no binding) and `evt.executor.order.filled`
(event id derived from the key, so a re-publish is dropped).

Accounts to look at come from the exposure index (`Ledger.exposed_all`): runs add an account there
before it holds positions; the watch drops one it reads flat, then reads it again (a run may have just
opened a position) and puts it back if so.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import structlog

from services.executor.live.ledger import Ledger, entry_id
from services.executor.live.accounts import broker_of
from services.executor.live.runs import CLASH_BACKOFF_S, MAX_ATTEMPTS, event_id
from shared import subjects
from shared.market import MarketData
from shared.market.candles import CandleArrays
from shared.messages.base import Event
from shared.messages.live import OrderEvent
from shared.timefmt import to_iso
from shared.trading.account import PaperAccount

log = structlog.get_logger()

CANDLE = "1m"
CANDLE_MS = 60_000
Publish = Callable[[str, Event], Awaitable[None]]
AccountLock = Callable[[int], AbstractAsyncContextManager[None]]


def exit_key(account_id: int, symbol: str, candle_open_ms: int) -> str:
    return f"exit:{account_id}:{symbol}:{candle_open_ms}"


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    open: float
    high: float
    low: float


def watched(broker: PaperAccount) -> list[str]:
    """Symbols whose position can be closed by the broker: a take-profit, a stop-loss or a liquidation price."""
    return [
        symbol for symbol, position in broker.positions.items()
        if position.take_profit is not None or position.stop_loss is not None or broker.liquidation_price(symbol) is not None
    ]


class ExitWatch:
    def __init__(self, ledger: Ledger, market: MarketData, publish: Publish, account_lock: AccountLock) -> None:
        self._ledger = ledger
        self._market = market
        self._publish = publish
        self._lock = account_lock

    async def check(self, at_ms: int) -> int:
        """Check every exposed account on the 1-minute candle closing at `at_ms`; returns the exits filled.

        Raises (after trying every account) when any account could not be checked, so the clock tries
        this close again: every step is idempotent."""
        candle_open = at_ms - CANDLE_MS
        accounts: list[tuple[str, int, list[str]]] = []
        for owner, account_id in await self._ledger.exposed_all():
            symbols = await self._symbols_to_watch(owner, account_id)
            if symbols:
                accounts.append((owner, account_id, symbols))
        candles = await self._candles({s for _, _, symbols in accounts for s in symbols}, candle_open, at_ms)
        filled = 0
        failures = 0
        for owner, account_id, symbols in accounts:
            for symbol in symbols:
                candle = candles.get(symbol)
                if candle is None:
                    continue
                try:
                    if await self.step(owner, account_id, symbol, candle):
                        filled += 1
                except Exception:
                    failures += 1
                    log.exception("exit_check_failed", account_id=account_id, symbol=symbol, candle=to_iso(candle_open))
        if failures:
            raise RuntimeError(f"{failures} exit check(s) failed at {to_iso(at_ms)}")
        return filled

    async def _symbols_to_watch(self, owner: str, account_id: int) -> list[str]:
        account = await self._ledger.accounts.get(owner, account_id)
        if account is not None and (account.get("broker") or {}).get("positions"):
            return watched(PaperAccount.from_doc(account["broker"]))
        await self._ledger.unexpose(owner, account_id)
        again = await self._ledger.accounts.get(owner, account_id)  # a run may have opened one meanwhile
        if again is not None and (again.get("broker") or {}).get("positions"):
            await self._ledger.expose(owner, account_id)
            return watched(PaperAccount.from_doc(again["broker"]))
        return []

    async def _candles(self, symbols: set[str], candle_open: int, at_ms: int) -> dict[str, Candle]:
        out: dict[str, Candle] = {}
        for symbol in sorted(symbols):
            try:
                arrays: CandleArrays = await self._market.candles(
                    symbol, CANDLE, start_ms=candle_open, end_ms=at_ms, as_of_ms=at_ms, live=True
                )
            except Exception as exc:  # no data for it now (a deleted import): nothing to check it on
                log.warning("exit_candle_unavailable", symbol=symbol, at=to_iso(at_ms), error=str(exc))
                continue
            if len(arrays) and int(arrays.time[-1]) == candle_open:
                out[symbol] = Candle(candle_open, float(arrays.open[-1]), float(arrays.high[-1]), float(arrays.low[-1]))
        return out

    async def step(self, owner: str, account_id: int, symbol: str, candle: Candle) -> bool:
        """One account and symbol on one candle: True when an exit was filled by THIS call."""
        key = exit_key(account_id, symbol, candle.open_ms)
        async with self._lock(account_id):
            for attempt in range(MAX_ATTEMPTS):
                seq = await self._ledger.recover(owner, account_id)
                if seq < 0:
                    return False
                done = await self._ledger.find_run(owner, key)
                if done is not None:
                    await self._publish_fill(done)  # its event may not have gone out before a crash
                    return False
                account = await self._ledger.accounts.get(owner, account_id)
                if account is None or int(account.get("seq") or 0) != seq:
                    continue
                entry = self._entry(owner, account, seq + 1, symbol, candle, key)
                if entry is None:
                    return False
                if await self._ledger.commit(entry):
                    await self._ledger.apply(entry)
                    await self._publish_fill(entry)
                    fill = entry["fills"][0]
                    log.info("exit_filled", account_id=account_id, symbol=symbol, reason=fill["reason"],
                             price=fill["price"], seq=entry["seq"])
                    return True
                await asyncio.sleep(random.uniform(0, CLASH_BACKOFF_S * (attempt + 1)))
        raise RuntimeError(f"account {account_id}: could not take a ledger step in {MAX_ATTEMPTS} attempts")

    @staticmethod
    def _entry(owner: str, account: dict[str, Any], seq: int, symbol: str, candle: Candle, key: str) -> dict[str, Any] | None:
        """The ledger entry of the exit (nothing written here), or None when the candle closes nothing."""
        broker = broker_of(account)
        position = broker.positions.get(symbol)
        if position is None or candle.open_ms < position.opened_at:
            return None
        fill = broker.check_exits(symbol, candle.open, candle.high, candle.low, candle.open_ms)
        if fill is None:
            return None
        account_id = int(account["id"])
        return {
            "id": entry_id(account_id, seq),
            "owner": owner,
            "account_id": account_id,
            "seq": seq,
            "kind": "exit",
            "run_key": key,
            "binding_id": None,
            "execution": None,
            "fills": [{
                "id": f"exit-{account_id}-{seq}", "owner": owner, "account_id": account_id, "binding_id": None,
                "program_id": None, "execution_id": None, "seq": seq, "n": 0, "time": to_iso(fill.time), "time_ms": fill.time,
                "symbol": fill.symbol, "side": fill.side, "quantity": fill.quantity, "price": fill.price, "fee": fill.fee,
                "notional": fill.notional, "realized_pnl": fill.realized_pnl, "reason": fill.reason, "order_reason": None,
            }],
            "binding": None,
            "account": broker.to_doc(),
        }

    async def _publish_fill(self, entry: dict[str, Any]) -> None:
        fill = entry["fills"][0]
        await self._publish(subjects.EVT_ORDER_FILLED, OrderEvent(
            id=event_id(entry["run_key"], "fill-0"), time=fill["time"], owner=entry["owner"], correlation_id=entry["run_key"],
            execution_id=None, binding_id=None, account_id=entry["account_id"], symbol=fill["symbol"], side=fill["side"],
            quantity=fill["quantity"], price=fill["price"], fee=fill["fee"], reason=fill["reason"],
        ))

