"""What a program can call: builtin functions, methods of arrays/maps/strings, and ctx members.

One table per kind, shared by the checker (names and arity), the compiler (helper to call and the
static type of the result) and the runtime (dispatch when the receiver's type is only known at run
time). A member that is not in these tables does not exist for a program: there is no other path
from a name in the source to a Python attribute.
"""

from __future__ import annotations

from typing import NamedTuple

from .diagnostics import did_you_mean
from .values import ANY, ARR, BOOL, HOST, MAP, NULL, NUM, STR


class Spec(NamedTuple):
    min_args: int
    max_args: int | None
    """None: any number of arguments."""
    helper: str
    """Name of the implementing method of `runtime.Runtime` (or of the host class for ctx members)."""
    result: int
    """Static type of the result."""


def arity_text(name: str, spec: Spec) -> str:
    """`abs` takes 1 argument / `slice` takes 1 or 2 arguments / `min` takes at least 1 argument."""
    lo, hi = spec.min_args, spec.max_args
    if hi is None:
        count = f"at least {lo}"
    elif lo == hi:
        count = str(lo)
    elif hi == lo + 1:
        count = f"{lo} or {hi}"
    else:
        count = f"{lo} to {hi}"
    plural = "" if (hi == lo == 1) else "s"
    return f"`{name}` takes {count} argument{plural}"


def arity_ok(spec: Spec, count: int) -> bool:
    return spec.min_args <= count and (spec.max_args is None or count <= spec.max_args)


BUILTINS: dict[str, Spec] = {
    "abs": Spec(1, 1, "b_abs", NUM),
    "min": Spec(1, None, "b_min", NUM | NULL),
    "max": Spec(1, None, "b_max", NUM | NULL),
    "round": Spec(1, 2, "b_round", NUM),
    "floor": Spec(1, 1, "b_floor", NUM),
    "ceil": Spec(1, 1, "b_ceil", NUM),
    "sqrt": Spec(1, 1, "b_sqrt", NUM),
    "pow": Spec(2, 2, "b_pow", NUM),
    "log": Spec(1, 2, "b_log", NUM),
    "exp": Spec(1, 1, "b_exp", NUM),
    "clamp": Spec(3, 3, "b_clamp", NUM),
    "len": Spec(1, 1, "b_len", NUM),
    "str": Spec(1, 1, "b_str", STR),
    "num": Spec(1, 1, "b_num", NUM | NULL),
    "is_null": Spec(1, 1, "b_is_null", BOOL),
}

ARRAY_METHODS: dict[str, Spec] = {
    "len": Spec(0, 0, "arr_len", NUM),
    "push": Spec(1, 1, "arr_push", NULL),
    "pop": Spec(0, 0, "arr_pop", ANY),
    "contains": Spec(1, 1, "arr_contains", BOOL),
    "slice": Spec(1, 2, "arr_slice", ARR),
    "sum": Spec(0, 0, "arr_sum", NUM),
    "min": Spec(0, 0, "arr_min", NUM | NULL),
    "max": Spec(0, 0, "arr_max", NUM | NULL),
    "avg": Spec(0, 0, "arr_avg", NUM | NULL),
}

MAP_METHODS: dict[str, Spec] = {
    "len": Spec(0, 0, "map_len", NUM),
    "keys": Spec(0, 0, "map_keys", ARR),
    "values": Spec(0, 0, "map_values", ARR),
    "contains": Spec(1, 1, "map_contains", BOOL),
    "get": Spec(1, 2, "map_get", ANY),
    "remove": Spec(1, 1, "map_remove", ANY),
}

STRING_METHODS: dict[str, Spec] = {
    "len": Spec(0, 0, "str_len", NUM),
    "upper": Spec(0, 0, "str_upper", STR),
    "lower": Spec(0, 0, "str_lower", STR),
    "contains": Spec(1, 1, "str_contains", BOOL),
    "starts_with": Spec(1, 1, "str_starts_with", BOOL),
    "split": Spec(1, 1, "str_split", ARR),
}

VALUE_METHODS: dict[int, dict[str, Spec]] = {ARR: ARRAY_METHODS, MAP: MAP_METHODS, STR: STRING_METHODS}

# ---- ctx and market views --------------------------------------------------------------------------

INDICATOR_DEFAULTS: dict[str, tuple[float, ...]] = {
    "rsi": (14.0,),
    "sma": (20.0,),
    "ema": (20.0,),
    "atr": (14.0,),
    "vwap": (),
    "obv": (),
    "macd": (12.0, 26.0, 9.0),
    "bbands": (20.0, 2.0),
    "stoch": (14.0, 3.0),
    "volume_spike": (20.0, 2.0),
}
"""Arguments passed to `MarketView.indicator` for those the program leaves out."""

INDICATOR_KEYS: dict[str, tuple[str, ...]] = {
    "macd": ("value", "signal", "histogram"),
    "bbands": ("upper", "middle", "lower"),
    "stoch": ("k", "d"),
}
"""Indicators whose value is a map, and its keys."""


def indicator_result(name: str) -> int:
    if name in INDICATOR_KEYS:
        return MAP
    if name == "volume_spike":
        return BOOL | NULL
    return NUM | NULL


MARKET_FIELDS: dict[str, Spec] = {
    "symbol": Spec(0, 0, "get_symbol", STR),
    "timeframe": Spec(0, 0, "get_timeframe", STR),
    "price": Spec(0, 0, "get_price", NUM),
    "time": Spec(0, 0, "get_time", STR),
    "timestamp": Spec(0, 0, "get_timestamp", NUM),
}

MARKET_METHODS: dict[str, Spec] = {
    "candles": Spec(1, 1, "candles", ARR),
    **{
        name: Spec(0, len(defaults), f"ind_{name}", indicator_result(name))
        for name, defaults in INDICATOR_DEFAULTS.items()
    },
}

CTX_FIELDS: dict[str, Spec] = {
    **MARKET_FIELDS,
    "balance": Spec(0, 0, "get_balance", NUM),
    "equity": Spec(0, 0, "get_equity", NUM),
    "params": Spec(0, 0, "get_params", MAP),
    "state": Spec(0, 0, "get_state", MAP),
    "trigger": Spec(0, 0, "get_trigger", MAP),
}

CTX_METHODS: dict[str, Spec] = {
    **MARKET_METHODS,
    "market": Spec(1, 2, "market", HOST),
    "position": Spec(0, 1, "position", MAP | NULL),
    "buy": Spec(2, 3, "buy", NULL),
    "sell": Spec(2, 3, "sell", NULL),
    "close": Spec(1, 2, "close", NULL),
    "hold": Spec(0, 1, "hold", NULL),
    "log": Spec(1, 1, "log", NULL),
}


def _union_arity(*tables: dict[str, Spec]) -> dict[str, Spec]:
    merged: dict[str, Spec] = {}
    for table in tables:
        for name, spec in table.items():
            old = merged.get(name)
            if old is None:
                merged[name] = spec
            else:
                hi = None if old.max_args is None or spec.max_args is None else max(old.max_args, spec.max_args)
                merged[name] = Spec(min(old.min_args, spec.min_args), hi, "", old.result | spec.result)
    return merged


ANY_METHOD: dict[str, Spec] = _union_arity(ARRAY_METHODS, MAP_METHODS, STRING_METHODS, CTX_METHODS)
"""Every method name that exists on some value, with the loosest arity: what `x.m(...)` may call
when the type of `x` is not known until the program runs."""


def host_member_error(owner: str, fields: dict[str, Spec], methods: dict[str, Spec], name: str, called: bool) -> str:
    """The message for `owner.name` (or `owner.name(...)` when `called`) that is not a valid member."""
    if called and name in fields:
        return f"`{owner}.{name}` is a value, not a method — write `{owner}.{name}` without `()`"
    if not called and name in methods:
        return f"`{owner}.{name}` is a method — call it, like `{owner}.{name}(...)`"
    return f"unknown {owner} member `{name}`{did_you_mean(name, [*fields, *methods])}"
