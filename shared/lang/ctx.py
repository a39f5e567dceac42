"""`ctx` and the market views it returns: the only host objects a program can reach.

Both wrap what the platform lends a run (a `MarketView`, an `AccountView`, params, state, trigger)
and expose exactly the members of LANGUAGE.md's table, through the explicit tables in `library.py`.
Everything they hand back is converted into language values (floats, fresh maps and arrays), so a
program can never hold a reference into the host's own objects.

Per-run data (orders, logs, and working copies of params/state/trigger) lives on the `Ctx` and is
reset by the runner before each run. Params, state and trigger are deep-copied lazily on first access,
so mutating them never leaks into the next run, state is only kept when the run succeeds, and a run
that never touches them pays nothing. A state the runner checked and found flat (scalars only, as
`check_storable` reports) is copied with one `dict.copy()`; once a run has its working copy, the
program's `_cf_state` global is pointed at a C-level getter of it, so further `ctx.state` reads in
that run cost no Python call (the runner puts the lazy getter back before the next run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import repeat
from math import isnan
from typing import Any, ClassVar

from shared.market.view import MarketView, UnknownSymbolError
from shared.timefmt import to_iso

from .account import AccountView
from .errors import LangError, LimitError
from .library import (
    CTX_FIELDS,
    CTX_METHODS,
    INDICATOR_DEFAULTS,
    MARKET_FIELDS,
    MARKET_METHODS,
    Spec,
    arity_ok,
    arity_text,
    host_member_error,
)
from .runtime import Runtime, host_number, norm_indicator, show, whole
from .values import Host, a_type, copy_value, format_value

_ORDER_OPTIONS = ("reason", "take_profit", "stop_loss", "leverage")


def _required_number(value: object, what: str) -> float:
    """A number the host must provide (price, balance). Called only when it is not a plain float."""
    number = host_number(value, what)
    if number is None:
        raise LangError(f"{what} is not available")
    return number


class Market(Host):
    """A market view: `price`, `candles(n)` and the indicators, for one symbol and timeframe."""

    __slots__ = ("rt", "view")
    type_name = "market"
    FIELD_IMPL: ClassVar[dict[str, Callable[..., Any]]] = {}
    METHOD_IMPL: ClassVar[dict[str, tuple[Spec, Callable[..., Any]]]] = {}
    FIELDS: ClassVar[dict[str, Spec]] = MARKET_FIELDS
    METHODS: ClassVar[dict[str, Spec]] = MARKET_METHODS

    def __init__(self, rt: Runtime, view: MarketView) -> None:
        self.rt = rt
        self.view = view

    def describe(self) -> str:
        return f"<{self.type_name} {self.view.symbol} {self.view.timeframe}>"

    def field(self, name: str) -> object:
        getter = self.FIELD_IMPL.get(name)
        if getter is None:
            raise LangError(host_member_error(self.type_name, self.FIELDS, self.METHODS, name, called=False))
        return getter(self)

    def call(self, name: str, args: tuple[object, ...]) -> object:
        entry = self.METHOD_IMPL.get(name)
        if entry is None:
            raise LangError(host_member_error(self.type_name, self.FIELDS, self.METHODS, name, called=True))
        spec, impl = entry
        if not arity_ok(spec, len(args)):
            raise LangError(arity_text(f"{self.type_name}.{name}", spec))
        return impl(self, *args)

    # ---- members ---------------------------------------------------------------------------------

    def get_symbol(self) -> str:
        return str(self.view.symbol)

    def get_timeframe(self) -> str:
        return str(self.view.timeframe)

    def get_price(self) -> float:
        price = self.view.price
        if type(price) is float and not isnan(price):
            return price  # type: ignore[no-any-return]
        return _required_number(price, f"the price of {self.view.symbol}")

    def get_time(self) -> str:
        return to_iso(int(self.view.timestamp))

    def get_timestamp(self) -> float:
        return float(int(self.view.timestamp))

    def candles(self, n: object) -> list[object]:
        count = whole(n, "the number of candles")
        if count < 0:
            raise LangError(f"the number of candles cannot be negative, got {count}")
        budget = self.rt.budget
        budget.check_collection(count)
        budget.charge(count * 6)
        if count == 0:
            return []
        return [self._candle(row) for row in self.view.candles(count)[-count:]]

    @staticmethod
    def _candle(row: dict[str, Any]) -> dict[str, object]:
        moment = row.get("time")
        return {
            "time": moment if isinstance(moment, str) else to_iso(int(moment or 0)),
            "open": host_number(row.get("open"), "a candle's open"),
            "high": host_number(row.get("high"), "a candle's high"),
            "low": host_number(row.get("low"), "a candle's low"),
            "close": host_number(row.get("close"), "a candle's close"),
            "volume": host_number(row.get("volume"), "a candle's volume"),
        }

    def indicator(self, name: str, args: tuple[object, ...]) -> object:
        defaults = INDICATOR_DEFAULTS[name]
        for arg in args:
            if type(arg) is not float or not math.isfinite(arg):  # type: ignore[arg-type]
                raise LangError(f"{self.type_name}.{name} needs numbers, got {show(arg)}")
        full: tuple[float, ...] = args + defaults[len(args) :]  # type: ignore[assignment,operator]
        return norm_indicator(name, self.view.indicator(name, full))


def _indicator_member(name: str) -> Callable[..., object]:
    def member(self: Market, *args: object) -> object:
        return self.indicator(name, args)

    member.__name__ = f"ind_{name}"
    return member


class Ctx(Market):
    """The `ctx` of one runner: the market view of the run plus account, params, state and orders."""

    __slots__ = (
        "account",
        "cut_log",
        "dropped_logs",
        "log_bytes_left",
        "max_log_bytes",
        "max_reason",
        "hold_reason",
        "logs",
        "max_logs",
        "max_orders",
        "orders",
        "params",
        "params_run",
        "fast_globals",
        "flat_state",
        "lazy_state",
        "state",
        "state_run",
        "trigger",
        "trigger_run",
    )  # fmt: skip
    type_name = "ctx"
    FIELDS: ClassVar[dict[str, Spec]] = CTX_FIELDS
    METHODS: ClassVar[dict[str, Spec]] = CTX_METHODS

    def __init__(
        self,
        rt: Runtime,
        view: MarketView,
        account: AccountView,
        params: dict[str, object],
        state: dict[str, object],
        trigger: dict[str, object],
    ) -> None:
        super().__init__(rt, view)
        self.account = account
        self.params = params
        self.state = state
        self.flat_state: dict[str, object] | None = None
        """`state` itself when the runner found it flat (identity: assigning a new `state` drops it)."""
        self.fast_globals: dict[str, Any] | None = None
        """The program globals in which `get_state` may install a getter of the working copy."""
        self.trigger = trigger
        limits = rt.budget.limits
        self.max_orders = limits.max_orders
        self.max_logs = limits.max_logs
        self.max_log_bytes = limits.max_log_bytes
        self.max_reason = limits.max_reason
        self.orders: list[dict[str, object]] = []
        self.logs: list[str] = []
        self.state_run: dict[str, object] | None = None
        self.reset()

    def describe(self) -> str:
        return "<ctx>"

    def bind_globals(self, program_globals: dict[str, Any]) -> None:
        """Let `get_state` install a fast getter in these globals (when the program reads `ctx.state`)."""
        self.fast_globals = program_globals if "_cf_state" in program_globals else None
        self.lazy_state = program_globals.get("_cf_state")

    def reset(self, reuse_empty: bool = False) -> None:
        """Forget the previous run's orders, logs and working copies. New lists, unless `reuse_empty`
        and the previous run left them empty (a caller may keep a finished run's lists: they are
        never changed afterwards)."""
        if not (reuse_empty and not self.orders):
            self.orders = []
        if not (reuse_empty and not self.logs and not self.dropped_logs):
            self.logs = []
            self.dropped_logs = 0
            self.cut_log = False
            self.log_bytes_left = self.max_log_bytes
        self.hold_reason: str | None = None
        self.params_run: dict[str, object] | None = None
        self.trigger_run: dict[str, object] | None = None
        if self.state_run is not None:
            self.state_run = None
            if self.fast_globals is not None:
                self.fast_globals["_cf_state"] = self.lazy_state

    # ---- data ------------------------------------------------------------------------------------

    def get_balance(self) -> float:
        balance = self.account.balance
        if type(balance) is float and not isnan(balance):
            return balance
        return _required_number(balance, "the account balance")

    def get_equity(self) -> float:
        equity = self.account.equity
        if type(equity) is float and not isnan(equity):
            return equity
        return _required_number(equity, "the account equity")

    def _working_copy(self, source: dict[str, object]) -> dict[str, object]:
        if len(source) > 16:
            self.rt.budget.charge(len(source))
        return copy_value(source)  # type: ignore[return-value]

    def get_params(self) -> dict[str, object]:
        if self.params_run is None:
            self.params_run = self._working_copy(self.params)
        return self.params_run

    def get_state(self) -> dict[str, object]:
        working = self.state_run
        if working is None:
            state = self.state
            if state is self.flat_state:
                if len(state) > 16:
                    self.rt.budget.charge(len(state))
                working = state.copy()
            else:
                working = self._working_copy(state)
            self.state_run = working
            if self.fast_globals is not None:
                self.fast_globals["_cf_state"] = repeat(working).__next__
        return working

    def get_trigger(self) -> dict[str, object]:
        if self.trigger_run is None:
            self.trigger_run = self._working_copy(self.trigger)
        return self.trigger_run

    def market(self, symbol: object, timeframe: object = None) -> Market:
        if type(symbol) is not str:
            raise LangError(f'ctx.market needs a symbol string like "ETH", got {a_type(symbol)}')
        if timeframe is not None and type(timeframe) is not str:
            raise LangError(f'ctx.market needs a timeframe string like "4h", got {a_type(timeframe)}')
        try:
            view = self.view.market(symbol, timeframe)  # type: ignore[arg-type]
        except UnknownSymbolError:
            where = f" with timeframe `{timeframe}`" if timeframe is not None else ""
            raise LangError(f"no market data for symbol `{symbol}`{where}") from None
        return Market(self.rt, view)

    def position(self, symbol: object = None) -> dict[str, object] | None:
        if symbol is None:
            symbol = self.view.symbol
        elif type(symbol) is not str:
            raise LangError(f"ctx.position needs a symbol string, got {a_type(symbol)}")
        held = self.account.position(symbol)  # type: ignore[arg-type]
        if held is None:
            return None
        return {
            "side": str(held.get("side")),
            "size": host_number(held.get("size"), "the position size"),
            "entry_price": host_number(held.get("entry_price"), "the position's entry price"),
            "unrealized_pnl": host_number(held.get("unrealized_pnl"), "the position's unrealized pnl"),
        }

    # ---- decisions -------------------------------------------------------------------------------

    def _record(self, order: dict[str, object]) -> None:
        if len(self.orders) >= self.max_orders:
            raise LimitError(f"too many orders in one run (more than {self.max_orders})")
        self.orders.append(order)

    @staticmethod
    def _symbol(action: str, symbol: object) -> str:
        if type(symbol) is not str or not symbol:
            raise LangError(f'ctx.{action} needs a symbol string like "BTC" first, got {show(symbol)}')
        return symbol  # type: ignore[return-value]

    def _reason(self, action: str, reason: object) -> str | None:
        if reason is not None:
            if type(reason) is not str:
                raise LangError(f"ctx.{action}: the reason must be a string, got {a_type(reason)}")
            if len(reason) > self.max_reason:  # type: ignore[arg-type]
                raise LimitError(f"ctx.{action}: the reason is too long (more than {self.max_reason:,} characters)")
        return reason  # type: ignore[return-value]

    def _trade(self, action: str, symbol: object, quantity: object, options: object) -> None:
        name = self._symbol(action, symbol)
        if type(quantity) is not float or not 0 < quantity < math.inf:  # type: ignore[operator]
            raise LangError(f"ctx.{action} needs a positive quantity, got {show(quantity)}")
        order: dict[str, object] = {"action": action, "symbol": name, "quantity": quantity, "reason": None}
        if type(options) is dict:
            for key, value in options.items():  # type: ignore[attr-defined]
                if key not in _ORDER_OPTIONS:
                    raise LangError(f"ctx.{action}: unknown option `{key}` (use {', '.join(_ORDER_OPTIONS)})")
                if key == "reason":
                    order["reason"] = self._reason(action, value)
                elif value is not None:
                    if type(value) is not float or not 0 < value < math.inf:
                        raise LangError(f"ctx.{action}: `{key}` must be a positive number, got {show(value)}")
                    order[key] = value
        else:
            order["reason"] = self._reason(action, options)
        self._record(order)

    def buy(self, symbol: object, quantity: object, options: object = None) -> None:
        self._trade("buy", symbol, quantity, options)

    def sell(self, symbol: object, quantity: object, options: object = None) -> None:
        self._trade("sell", symbol, quantity, options)

    def close(self, symbol: object, reason: object = None) -> None:
        name = self._symbol("close", symbol)
        held = self.account.position(name)
        size = host_number(held.get("size"), "the position size") if held else None
        self._record(
            {"action": "close", "symbol": name, "quantity": size or 0.0, "reason": self._reason("close", reason)}
        )

    def hold(self, reason: object = None) -> None:
        text = self._reason("hold", reason)
        if self.hold_reason is None:
            self.hold_reason = text

    def log(self, value: object) -> None:
        text = format_value(value, limit=self.rt.max_string)
        self.rt.budget.charge(len(text))
        if len(self.logs) >= self.max_logs or self.log_bytes_left <= 0:
            self.dropped_logs += 1
            return
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size > self.log_bytes_left:
            keep = max(0, self.log_bytes_left - len(_CUT.encode()))
            text = text.encode("utf-8", "surrogatepass")[:keep].decode("utf-8", "ignore") + _CUT
            self.cut_log = True
            size = self.log_bytes_left
        self.log_bytes_left -= size
        self.logs.append(text)


_CUT = " …"
"""Ends a log line cut at the byte limit."""


def _fill_tables(cls: type[Market], fields: dict[str, Spec], methods: dict[str, Spec]) -> None:
    cls.FIELD_IMPL = {name: getattr(cls, spec.helper) for name, spec in fields.items()}
    impls: dict[str, tuple[Spec, Callable[..., Any]]] = {}
    for name, spec in methods.items():
        impl = _indicator_member(name) if name in INDICATOR_DEFAULTS else getattr(cls, spec.helper)
        impls[name] = (spec, impl)
    cls.METHOD_IMPL = impls


_fill_tables(Market, MARKET_FIELDS, MARKET_METHODS)
_fill_tables(Ctx, CTX_FIELDS, CTX_METHODS)
