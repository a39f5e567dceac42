"""Helpers that compiled programs call, for everything not inlined by the compiler.

Compiled code inlines the common case of an operation (two numbers, a map with the key) and calls a
helper here for the rest: the rare type combinations, every error, and any operation that allocates
or scans data and so must be measured against the run's limits *before* it happens.

Pure helpers are module functions. Helpers that need the run's limits are methods of `Runtime` (one
per runner); the runner binds the ones a program uses into the program's globals under the names in
`PURE_HELPERS` / `RUNTIME_HELPERS`.

Semantics decided here (LANGUAGE.md leaves them open):
- Conditions (`if`, `while`, `&&`, `||`, `!`) must be bools; anything else is a type error, never a
  silent truthiness rule.
- `%` is the floored remainder: the result has the sign of the divisor (`-7 % 3` is 2), as in Python.
- `x / 0` and `x % 0` are errors ("division by zero"); other arithmetic follows IEEE doubles (a sum can
  overflow to infinity), except `**`/`pow`, whose overflow is an error.
- Indexes must be whole numbers; negative ones count from the end; out of range is an error.
- `round(x, d)` rounds half away from zero on the number's shortest decimal form (`round(2.5)` is 3,
  `round(1.005, 2)` is 1.01); `min`/`max`/`avg` of an empty array are null; `sum` of one is 0.
- `num(text)` is null when the text is not a number (programs cannot catch errors).
- Looping over an array or a map's keys visits a snapshot taken when the loop starts.
- `slice(i, j)` takes whole-number bounds like indexes (negative from the end) and clamps them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal, localcontext
from math import isnan
from typing import Any

from .diagnostics import did_you_mean
from .errors import LangError
from .library import (
    ARRAY_METHODS,
    BUILTINS,
    INDICATOR_KEYS,
    MAP_METHODS,
    STRING_METHODS,
    Spec,
    arity_ok,
    arity_text,
)
from .limits import Budget, RunLimits
from .values import Host, a_type, equal, format_number, format_value

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_SUGGESTED_KEYS = 200


def show(value: object) -> str:
    """A value inside an error message: short, quoted when it is text."""
    if type(value) is float:
        return format_number(value)  # type: ignore[arg-type]
    if type(value) is str:
        text = value if len(value) <= 40 else value[:37] + "..."  # type: ignore[index]
        return '"' + text + '"'
    try:
        text = format_value(value, limit=60)
    except LangError:
        return a_type(value)
    return text


def null_hint(*values: object) -> str:
    if any(value is None for value in values):
        return " — check for null first (indicators are null until they have enough history)"
    return ""


# ---- pure helpers ----------------------------------------------------------------------------------


def cond_error(value: object) -> bool:
    """Slow path of a condition: `False` stays false; anything that is not a bool is an error."""
    if value is False:
        return False
    raise LangError(f"a condition must be true or false, got {a_type(value)}{null_hint(value)}")


def bool_error(op: str, value: object) -> bool:
    raise LangError(f"`{op}` needs true or false on both sides, got {a_type(value)}")


def arith_error(op: str, a: object, b: object) -> float:
    raise LangError(f"`{op}` needs two numbers, got {a_type(a)} and {a_type(b)}{null_hint(a, b)}")


def neg_error(value: object) -> float:
    raise LangError(f"`-` needs a number, got {a_type(value)}{null_hint(value)}")


def not_error(value: object) -> bool:
    raise LangError(f"`!` needs true or false, got {a_type(value)}")


def power(a: object, b: object) -> float:
    if type(a) is not float or type(b) is not float:
        raise LangError(f"`**` needs two numbers, got {a_type(a)} and {a_type(b)}{null_hint(a, b)}")
    try:
        return math.pow(a, b)  # type: ignore[arg-type]
    except OverflowError:
        raise LangError("number too large (the result of `**` overflows)") from None
    except ValueError:
        if a == 0:
            raise LangError("division by zero (0 raised to a negative power)") from None
        raise LangError("a negative number cannot be raised to a fractional power") from None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compare(op: str, a: object, b: object) -> bool:
    """Slow path of `<` `<=` `>` `>=`: two strings compare by code point; other pairs are errors."""
    kind = type(a)
    if kind is type(b) and (kind is str or kind is float):
        return _COMPARE[op](a, b)
    raise LangError(f"`{op}` needs two numbers or two strings, got {a_type(a)} and {a_type(b)}{null_hint(a, b)}")


def whole(value: object, what: str) -> int:
    """A number that must be whole (an index, a count) as a Python int."""
    if type(value) is not float:
        raise LangError(f"{what} must be a number, got {a_type(value)}")
    if not value.is_integer():  # type: ignore[attr-defined]
        raise LangError(f"{what} must be a whole number, got {show(value)}")
    return int(value)  # type: ignore[call-overload]


def _position(i: object, length: int, what: str) -> int:
    n = whole(i, "an index")
    if n < 0:
        n += length
    if not 0 <= n < length:
        raise LangError(f"index {show(i)} is out of range for {what} of length {length}")
    return n


def missing_key(mapping: dict[str, object], key: object) -> object:
    if type(key) is not str:
        raise LangError(f"map keys are strings, got {a_type(key)}")
    hint = did_you_mean(key, mapping) if len(mapping) <= _MAX_SUGGESTED_KEYS else ""  # type: ignore[arg-type]
    raise LangError(f"map has no key `{key}`{hint} (use `.get(key, default)` when it may be missing)")


def index(obj: object, i: object) -> object:
    kind = type(obj)
    if kind is list:
        return obj[_position(i, len(obj), "an array")]  # type: ignore[index,arg-type]
    if kind is dict:
        if type(i) is str and i in obj:  # type: ignore[operator]
            return obj[i]  # type: ignore[index]
        return missing_key(obj, i)  # type: ignore[arg-type]
    if kind is str:
        return obj[_position(i, len(obj), "a string")]  # type: ignore[index,arg-type]
    raise LangError(f"cannot index {a_type(obj)} with `[...]`")


def field(obj: object, name: str) -> object:
    if type(obj) is dict:
        if name in obj:  # type: ignore[operator]
            return obj[name]  # type: ignore[index]
        return missing_key(obj, name)  # type: ignore[arg-type]
    if isinstance(obj, Host):
        return obj.field(name)  # type: ignore[attr-defined]
    raise LangError(f"cannot read field `{name}` of {a_type(obj)}")


def _bounds(a: object, b: object, inclusive: bool) -> range:
    if type(a) is not float or type(b) is not float:
        raise LangError(f"a range needs two numbers, got {a_type(a)} and {a_type(b)}")
    start = whole(a, "the start of a range")
    stop = whole(b, "the end of a range")
    return range(start, stop + 1 if inclusive else stop)


def range_iter(a: object, b: object) -> Iterator[float]:
    return map(float, _bounds(a, b, False))


def range_iter_incl(a: object, b: object) -> Iterator[float]:
    return map(float, _bounds(a, b, True))


def host_number(value: object, what: str) -> float | None:
    """A number handed over by the host (view, account, indicator) as a language number or null.

    numpy scalars and ints become floats; NaN means "no value" and becomes null.
    """
    if type(value) is float:
        return None if isnan(value) else value  # type: ignore[return-value,arg-type]
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise LangError(f"{what} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise LangError(f"{what} is not a number") from None
    return None if isnan(number) else number


def norm_indicator(name: str, value: object) -> object:
    """An indicator's value as the view returned it → a language value of the documented shape."""
    if name in INDICATOR_KEYS:
        if not isinstance(value, dict):
            if value is None:
                return dict.fromkeys(INDICATOR_KEYS[name])
            raise LangError(f"indicator `{name}` returned {type(value).__name__}, not a map")
        return {key: host_number(value.get(key), f"{name}.{key}") for key in INDICATOR_KEYS[name]}
    if name == "volume_spike":
        if value is None:
            return None
        try:
            return bool(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise LangError(f"indicator `{name}` did not return a bool") from None
    return host_number(value, f"indicator `{name}`")


PURE_HELPERS: dict[str, Callable[..., Any]] = {
    "_cond": cond_error,
    "_bool_error": bool_error,
    "_arith_error": arith_error,
    "_neg_error": neg_error,
    "_not_error": not_error,
    "_pow": power,
    "_compare": compare,
    "_index": index,
    "_field": field,
    "_missing_key": missing_key,
    "_range_iter": range_iter,
    "_range_iter_incl": range_iter_incl,
    "_norm_ind": norm_indicator,
}


# ---- helpers bound to a run's limits ---------------------------------------------------------------


def _numbers(values: list[object], what: str) -> list[float]:
    for value in values:
        if type(value) is not float:
            raise LangError(f"{what} needs numbers, found {a_type(value)}{null_hint(value)}")
    return values  # type: ignore[return-value]


def _number(value: object, what: str) -> float:
    if type(value) is not float:
        raise LangError(f"{what} needs a number, got {a_type(value)}{null_hint(value)}")
    return value  # type: ignore[return-value]


def _text(value: object, what: str) -> str:
    if type(value) is not str:
        raise LangError(f"{what} needs a string, got {a_type(value)}")
    return value  # type: ignore[return-value]


class Runtime:
    """Operations of one runner that must respect its limits (sizes, data budget, clock)."""

    __slots__ = ("budget", "max_collection", "max_string")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        limits: RunLimits = budget.limits
        self.max_collection = limits.max_collection
        self.max_string = limits.max_string

    # ---- operators -----------------------------------------------------------------------------

    def add(self, a: object, b: object) -> object:
        kind = type(a)
        if kind is type(b):
            if kind is float:
                return a + b  # type: ignore[operator]
            if kind is str:
                return self.cat(a, b)  # type: ignore[arg-type]
        raise LangError(
            f"`+` needs two numbers or two strings, got {a_type(a)} and {a_type(b)}"
            + (" — convert with str(x) to join text" if str in (kind, type(b)) else null_hint(a, b))
        )

    def cat(self, a: str, b: str) -> str:
        self.budget.check_string(len(a) + len(b))
        return a + b

    def eq(self, a: object, b: object) -> bool:
        return equal(a, b, 0, self.budget.scan)

    def ne(self, a: object, b: object) -> bool:
        return not self.eq(a, b)

    def set_index(self, obj: object, i: object, value: object) -> None:
        kind = type(obj)
        if kind is list:
            obj[_position(i, len(obj), "an array")] = value  # type: ignore[index,arg-type]
        elif kind is dict:
            self.map_set(obj, _text(i, "a map key"), value)  # type: ignore[arg-type]
        elif kind is str:
            raise LangError("strings cannot be changed; build a new one with `+`")
        else:
            raise LangError(f"cannot assign into {a_type(obj)} with `[...]`")

    def set_field(self, obj: object, name: str, value: object) -> None:
        if type(obj) is dict:
            self.map_set(obj, name, value)  # type: ignore[arg-type]
        elif isinstance(obj, Host):
            raise LangError(f"cannot change `{obj.type_name}.{name}`; it is read-only")
        else:
            raise LangError(f"cannot set field `{name}` of {a_type(obj)}")

    def map_set(self, mapping: dict[str, object], key: str, value: object) -> None:
        if key not in mapping:
            if len(mapping) >= self.max_collection:
                self.budget.check_collection(len(mapping) + 1, "map")
            self.budget.charge(1)
        mapping[key] = value

    def lit_array(self, items: list[object]) -> list[object]:
        """An array literal (its size is bounded by the source, so building it first is harmless)."""
        if len(items) > self.max_collection:
            self.budget.check_collection(len(items))
        self.budget.charge(len(items))
        return items

    def lit_map(self, entries: dict[str, object]) -> dict[str, object]:
        if len(entries) > self.max_collection:
            self.budget.check_collection(len(entries), "map")
        self.budget.charge(len(entries))
        return entries

    def range_list(self, a: object, b: object, inclusive: bool) -> list[float]:
        span = _bounds(a, b, inclusive)
        size = max(0, span.stop - span.start)  # not len(span): that overflows for huge bounds
        self.budget.check_collection(size)
        self.budget.charge(size)
        return list(map(float, span))

    def iterate(self, obj: object) -> tuple[object, ...]:
        kind = type(obj)
        if kind is list or kind is dict:
            self.budget.charge(len(obj))  # type: ignore[arg-type]
            return tuple(obj)  # type: ignore[arg-type]
        raise LangError(f"cannot loop over {a_type(obj)}; loop over a range (0..n), an array or a map")

    def meth(self, recv: object, name: str, *args: object) -> object:
        """A method call whose receiver's type is only known now."""
        table = _DISPATCH.get(type(recv))
        if table is None:
            if isinstance(recv, Host):
                return recv.call(name, args)  # type: ignore[attr-defined]
            raise LangError(f"{a_type(recv)} has no method `{name}`{null_hint(recv)}")
        entry = table.get(name)
        if entry is None:
            raise LangError(f"{a_type(recv)} has no method `{name}`{did_you_mean(name, table)}")
        spec, impl = entry
        if not arity_ok(spec, len(args)):
            raise LangError(arity_text(name, spec))
        return impl(self, recv, *args)

    # ---- builtins ------------------------------------------------------------------------------

    def b_abs(self, x: object) -> float:
        return abs(_number(x, "abs"))

    def _extreme(self, args: tuple[object, ...], pick: Callable[..., float], name: str) -> float | None:
        if len(args) == 1:
            only = args[0]
            if type(only) is not list:
                raise LangError(f"`{name}` needs two or more numbers, or one array")
            self.budget.scan(len(only))  # type: ignore[arg-type]
            values = _numbers(only, f"`{name}`")  # type: ignore[arg-type]
            return pick(values) if values else None
        return pick(_numbers(list(args), f"`{name}`"))

    def b_min(self, *args: object) -> float | None:
        return self._extreme(args, min, "min")

    def b_max(self, *args: object) -> float | None:
        return self._extreme(args, max, "max")

    def b_round(self, x: object, digits: object = 0.0) -> float:
        value = _number(x, "round")
        places = whole(digits, "the digits of round")
        if not -15 <= places <= 15:
            raise LangError("round keeps between -15 and 15 digits")
        if not math.isfinite(value) or abs(value) >= 1e17:
            return value
        with localcontext() as context:
            context.prec = 60
            rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return float(rounded) + 0.0

    def b_floor(self, x: object) -> float:
        value = _number(x, "floor")
        return float(math.floor(value)) if math.isfinite(value) else value

    def b_ceil(self, x: object) -> float:
        value = _number(x, "ceil")
        return float(math.ceil(value)) if math.isfinite(value) else value

    def b_sqrt(self, x: object) -> float:
        value = _number(x, "sqrt")
        if value < 0:
            raise LangError(f"sqrt of a negative number ({show(value)})")
        return math.sqrt(value)

    def b_pow(self, a: object, b: object) -> float:
        return power(a, b)

    def b_log(self, x: object, base: object = None) -> float:
        value = _number(x, "log")
        if not value > 0:
            raise LangError(f"log needs a positive number, got {show(value)}")
        if base is None:
            return math.log(value)
        b = _number(base, "the base of log")
        if not b > 0 or b == 1:
            raise LangError(f"the base of log must be positive and not 1, got {show(b)}")
        return math.log(value) / math.log(b)

    def b_exp(self, x: object) -> float:
        try:
            return math.exp(_number(x, "exp"))
        except OverflowError:
            raise LangError("number too large (the result of exp overflows)") from None

    def b_clamp(self, x: object, lo: object, hi: object) -> float:
        value, low, high = _number(x, "clamp"), _number(lo, "clamp"), _number(hi, "clamp")
        if low > high:
            raise LangError(f"clamp: the low bound {show(low)} is above the high bound {show(high)}")
        return min(max(value, low), high)

    def b_len(self, x: object) -> float:
        if type(x) is list or type(x) is dict or type(x) is str:
            return float(len(x))  # type: ignore[arg-type]
        raise LangError(f"len needs an array, a map or a string, got {a_type(x)}")

    def b_str(self, x: object) -> str:
        text = format_value(x, limit=self.max_string)
        if type(x) is not str:
            self.budget.charge(len(text))
        return text

    def b_num(self, x: object) -> float | None:
        kind = type(x)
        if kind is float or x is None:
            return x  # type: ignore[return-value]
        if kind is bool:
            return 1.0 if x else 0.0
        if kind is str:
            text = x.strip()  # type: ignore[attr-defined]
            if len(text) > 400 or not _NUMBER_TEXT.fullmatch(text):
                return None
            number = float(text)
            return number if math.isfinite(number) else None
        raise LangError(f"num needs a string, a number or a bool, got {a_type(x)}")

    def b_is_null(self, x: object) -> bool:
        return x is None

    # ---- array methods -------------------------------------------------------------------------

    def arr_len(self, a: list[object]) -> float:
        return float(len(a))

    def arr_push(self, a: list[object], x: object) -> None:
        if len(a) >= self.max_collection:
            self.budget.check_collection(len(a) + 1)
        self.budget.charge(1)
        a.append(x)

    def arr_pop(self, a: list[object]) -> object:
        return a.pop() if a else None

    def arr_contains(self, a: list[object], x: object) -> bool:
        self.budget.scan(len(a))
        kind = type(x)
        if kind is str or x is None or (kind is float and x != 0.0 and x != 1.0):
            return x in a  # C-speed; exact for these types (no bool or int equals them)
        scan = self.budget.scan
        return any(equal(item, x, 0, scan) for item in a)

    def arr_slice(self, a: list[object], start: object, stop: object = None) -> list[object]:
        begin = whole(start, "the start of slice")
        end = len(a) if stop is None else whole(stop, "the end of slice")
        part = a[begin:end]
        self.budget.charge(len(part))
        return part

    def arr_sum(self, a: list[object]) -> float:
        self.budget.scan(len(a))
        return math.fsum(_numbers(a, "sum"))

    def arr_min(self, a: list[object]) -> float | None:
        self.budget.scan(len(a))
        values = _numbers(a, "min")
        return min(values) if values else None

    def arr_max(self, a: list[object]) -> float | None:
        self.budget.scan(len(a))
        values = _numbers(a, "max")
        return max(values) if values else None

    def arr_avg(self, a: list[object]) -> float | None:
        self.budget.scan(len(a))
        values = _numbers(a, "avg")
        return math.fsum(values) / len(values) if values else None

    # ---- map methods ---------------------------------------------------------------------------

    def map_len(self, m: dict[str, object]) -> float:
        return float(len(m))

    def map_keys(self, m: dict[str, object]) -> list[object]:
        self.budget.charge(len(m))
        return list(m)

    def map_values(self, m: dict[str, object]) -> list[object]:
        self.budget.charge(len(m))
        return list(m.values())

    def map_contains(self, m: dict[str, object], key: object) -> bool:
        return _text(key, "contains on a map") in m

    def map_get(self, m: dict[str, object], key: object, default: object = None) -> object:
        return m.get(_text(key, "get on a map"), default)

    def map_remove(self, m: dict[str, object], key: object) -> object:
        return m.pop(_text(key, "remove on a map"), None)

    # ---- string methods ------------------------------------------------------------------------

    def str_len(self, s: str) -> float:
        return float(len(s))

    def _bounded(self, text: str) -> str:
        self.budget.check_string(len(text))
        return text

    def str_upper(self, s: str) -> str:
        return self._bounded(s.upper())

    def str_lower(self, s: str) -> str:
        return self._bounded(s.lower())

    def str_contains(self, s: str, t: object) -> bool:
        self.budget.scan(len(s) >> 4)
        return _text(t, "contains on a string") in s

    def str_starts_with(self, s: str, t: object) -> bool:
        return s.startswith(_text(t, "starts_with"))

    def str_split(self, s: str, sep: object) -> list[object]:
        separator = _text(sep, "split")
        if not separator:
            raise LangError("split needs a non-empty separator")
        self.budget.scan(len(s) >> 4)
        self.budget.check_collection(s.count(separator) + 1)
        parts: list[object] = s.split(separator)  # type: ignore[assignment]
        self.budget.charge(len(parts) + len(s))
        return parts


def _table(methods: dict[str, Spec]) -> dict[str, tuple[Spec, Callable[..., Any]]]:
    return {name: (spec, getattr(Runtime, spec.helper)) for name, spec in methods.items()}


_DISPATCH: dict[type, dict[str, tuple[Spec, Callable[..., Any]]]] = {
    list: _table(ARRAY_METHODS),
    dict: _table(MAP_METHODS),
    str: _table(STRING_METHODS),
}

RUNTIME_HELPERS: dict[str, Callable[..., Any]] = {
    "_" + name: getattr(Runtime, name)
    for name in (
        "add", "cat", "eq", "ne", "set_index", "set_field", "map_set", "lit_array", "lit_map",
        "range_list", "iterate", "meth",
    )
}  # fmt: skip
RUNTIME_HELPERS.update(
    {"_" + spec.helper: getattr(Runtime, spec.helper) for spec in BUILTINS.values()}
    | {"_" + spec.helper: getattr(Runtime, spec.helper) for table in _DISPATCH.values() for spec, _ in table.values()}
)
"""Global name in compiled code → Runtime method, bound per runner."""
