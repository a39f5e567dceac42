"""Language values as Python objects, and everything that looks at a whole value.

A value is one of: `float` (number), `str`, `bool`, `None` (null), `list` (array), `dict` with `str`
keys (map), or a `Host` (ctx, a market view). Numbers are always `float`, never `int` or `bool`, so
`type(x) is float` is an exact number test (Python's `True == 1` never leaks into the language).

Static types are bit sets of the `NUM`…`HOST` flags; the compiler uses them to skip runtime checks
where the type of an operand is certain.

Everything recursive here is bounded by `MAX_DEPTH`, because a program can build arbitrarily deep (or
self-containing) arrays and maps: `a.push(a)` must produce an error, never a RecursionError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from .errors import LangError, LimitError

NUM, STR, BOOL, NULL, ARR, MAP, HOST = 1, 2, 4, 8, 16, 32, 64
ANY = 127
SCALAR = NUM | STR | BOOL | NULL

MAX_DEPTH = 100
"""Nesting of arrays and maps that printing, comparing and copying will follow."""

_TYPE_NAMES = {float: "number", str: "string", bool: "bool", type(None): "null", list: "array", dict: "map"}


class Host:
    """Base of objects the host lends a program (ctx, market views): opaque, compared by identity."""

    __slots__ = ()
    type_name = "host object"

    def describe(self) -> str:
        return f"<{self.type_name}>"


def type_name(value: object) -> str:
    """The language's name for the type of `value`, as error messages show it."""
    name = _TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    if isinstance(value, Host):
        return value.type_name
    return "unknown value"


def a_type(value: object) -> str:
    """`a number`, `an array`, `null`: the type with its article, for messages."""
    name = type_name(value)
    if name in ("null", "ctx"):
        return name
    return ("an " if name[0] in "aeiou" else "a ") + name


def static_type_of(value: object) -> int:
    kind = type(value)
    if kind is float:
        return NUM
    if kind is str:
        return STR
    if kind is bool:
        return BOOL
    if value is None:
        return NULL
    if kind is list:
        return ARR
    if kind is dict:
        return MAP
    return HOST


def too_deep() -> LimitError:
    return LimitError(f"value nested too deeply (more than {MAX_DEPTH} levels, or it contains itself)")


# ---- printing --------------------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Integers print without `.0` (`3`), others as Python's shortest round-trip form (`0.1`)."""
    if x.is_integer() and -1e21 < x < 1e21:
        return str(int(x))
    return repr(x)


def _is_plain_key(key: str) -> bool:
    from .lexer import KEYWORDS

    return key.isascii() and key.isidentifier() and not key.startswith("_") and key not in KEYWORDS


class _Printer:
    """Writes a value as text, stopping as soon as the text would exceed `limit` characters."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.left = limit

    def put(self, text: str) -> None:
        self.left -= len(text)
        if self.left < 0:
            raise LimitError("string too long (the printed value is longer than the string limit)")
        self.parts.append(text)

    def value(self, value: object, depth: int, nested: bool) -> None:
        kind = type(value)
        if kind is float:
            self.put(format_number(value))  # type: ignore[arg-type]
        elif kind is str:
            self.put(json.dumps(value, ensure_ascii=False) if nested else value)  # type: ignore[arg-type]
        elif kind is bool:
            self.put("true" if value else "false")
        elif value is None:
            self.put("null")
        elif kind is list or kind is dict:
            if depth >= MAX_DEPTH:
                raise too_deep()
            if kind is list:
                self.put("[")
                for i, item in enumerate(value):  # type: ignore[arg-type]
                    if i:
                        self.put(", ")
                    self.value(item, depth + 1, True)
                self.put("]")
            else:
                self.put("#{")
                for i, (key, item) in enumerate(value.items()):  # type: ignore[union-attr]
                    if i:
                        self.put(", ")
                    self.put(key if _is_plain_key(key) else json.dumps(key, ensure_ascii=False))
                    self.put(": ")
                    self.value(item, depth + 1, True)
                self.put("}")
        elif isinstance(value, Host):
            self.put(value.describe())
        else:
            self.put("<unknown>")


def format_value(value: object, limit: int = 1_000_000) -> str:
    """How `str()` and `ctx.log` show a value: `3`, `0.5`, `text`, `[1, "a"]`, `#{a: 1}`, `null`."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is float:
        return format_number(value)  # type: ignore[arg-type]
    printer = _Printer(limit)
    printer.value(value, 0, False)
    return "".join(printer.parts)


# ---- equality --------------------------------------------------------------------------------------


def equal(a: object, b: object, depth: int = 0, scan: Callable[[int], None] | None = None) -> bool:
    """The language's `==`: same type and same value; arrays and maps element by element.

    `scan(n)` is told about every pair of containers compared, so comparing values that share
    structure (`[big, big, …]`) is paid for like any other work and cannot run unmetered.
    """
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list:
        if a is b:
            return True
        if len(a) != len(b):  # type: ignore[arg-type]
            return False
        if depth >= MAX_DEPTH:
            raise too_deep()
        if scan is not None:
            scan(len(a))  # type: ignore[arg-type]
        for x, y in zip(a, b):  # type: ignore[call-overload]
            if not equal(x, y, depth + 1, scan):
                return False
        return True
    if kind is dict:
        if a is b:
            return True
        if len(a) != len(b):  # type: ignore[arg-type]
            return False
        if depth >= MAX_DEPTH:
            raise too_deep()
        if scan is not None:
            scan(len(a))  # type: ignore[arg-type]
        for key, x in a.items():  # type: ignore[union-attr]
            if key not in b or not equal(x, b[key], depth + 1, scan):  # type: ignore[operator,index]
                return False
        return True
    return a == b  # numbers and strings by value; hosts by identity (they define no __eq__)


# ---- crossing the host boundary --------------------------------------------------------------------


class ValueConversionError(ValueError):
    """Input from the host (params, state, trigger) that is not a JSON-like value."""


def from_host(value: Any, what: str, depth: int = 0) -> object:
    """JSON-decoded Python data → a language value (ints become floats; tuples become arrays)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise ValueConversionError(f"{what} holds a number that is not finite")
        return number
    if depth >= MAX_DEPTH:
        raise ValueConversionError(f"{what} is nested too deeply")
    if isinstance(value, list | tuple):
        return [from_host(item, what, depth + 1) for item in value]
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueConversionError(f"{what} has a key that is not a string: {key!r}")
            out[key] = from_host(item, what, depth + 1)
        return out
    raise ValueConversionError(f"{what} holds a value of unsupported type {type(value).__name__}")


def copy_value(value: object, depth: int = 0) -> object:
    """A deep copy of a language value (hosts are shared, not copied). Flat maps cost one `copy()`."""
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise too_deep()
        out = value.copy()  # type: ignore[attr-defined]
        for key, item in out.items():
            if type(item) is dict or type(item) is list:
                out[key] = copy_value(item, depth + 1)
        return out
    if kind is list:
        if depth >= MAX_DEPTH:
            raise too_deep()
        items: list[object] = value  # type: ignore[assignment]
        return [copy_value(item, depth + 1) if type(item) is dict or type(item) is list else item for item in items]
    return value


def check_storable(value: object, what: str, max_values: int, max_text: int | None = None) -> bool:
    """Raise a LangError unless `value` can be stored as JSON: no hosts, no inf/nan, not too deep,
    at most `max_values` values in all, and (when given) at most `max_text` characters of strings
    and keys. Shared arrays and strings count every time they appear, because that is what storing
    and copying them costs.

    Returns True when `value` is a flat map (only numbers, strings, bools and nulls in it): copying
    one is a single `dict.copy()`, which the runner uses for `ctx.state` (checked after every run)."""
    if type(value) is dict:  # the common state: a few scalars. One pass, no stack.
        text = 0
        for item in value.values():  # type: ignore[attr-defined]
            item_kind = type(item)
            if item_kind is float:
                if item - item != 0.0:  # inf and nan: the general walk below says so
                    break
            elif item_kind is str:
                text += len(item)  # type: ignore[arg-type]
            elif not (item_kind is bool or item is None):
                break
        else:
            if len(value) <= max_values and (max_text is None or text + sum(map(len, value)) <= max_text):  # type: ignore[arg-type]
                return True
    _check_storable_walk(value, what, max_values, max_text)
    return False


def _check_storable_walk(value: object, what: str, max_values: int, max_text: int | None) -> None:
    left = max_values
    text_left = max_text if max_text is not None else -1
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        kind = type(current)
        if kind is not dict and kind is not list:
            _check_storable_scalar(current, what)
            if kind is str and max_text is not None and len(current) > max_text:  # type: ignore[arg-type]
                raise _too_much_text(what, max_text)
            continue
        if depth >= MAX_DEPTH:
            raise LangError(f"{what} is nested too deeply (more than {MAX_DEPTH} levels, or contains itself)")
        items = current.values() if kind is dict else current  # type: ignore[union-attr]
        left -= len(items)  # type: ignore[arg-type]
        if left < 0:
            raise LangError(f"{what} is too large (more than {max_values:,} values in all)")
        if max_text is not None and kind is dict:
            text_left -= sum(map(len, current))  # type: ignore[arg-type]
            if text_left < 0:
                raise _too_much_text(what, max_text)
        for item in items:  # type: ignore[union-attr]
            item_kind = type(item)
            if item_kind is str:
                if max_text is not None:
                    text_left -= len(item)  # type: ignore[arg-type]
                    if text_left < 0:
                        raise _too_much_text(what, max_text)
            elif item_kind is float:
                if item - item != 0.0:  # inf and nan, without a function call
                    _check_storable_scalar(item, what)
            elif item_kind is dict or item_kind is list:
                stack.append((item, depth + 1))
            elif not (item_kind is bool or item is None):
                _check_storable_scalar(item, what)


def _too_much_text(what: str, max_text: int) -> LimitError:
    return LimitError(f"{what} is too large (more than {max_text:,} characters of text in all, counting repeats)")


def _check_storable_scalar(value: object, what: str) -> None:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise LangError(f"{what} can only hold finite numbers")
    elif not (kind is str or kind is bool or value is None):
        raise LangError(f"{what} can only hold numbers, strings, bools, null, arrays and maps, not {a_type(value)}")
