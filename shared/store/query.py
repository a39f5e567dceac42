"""Checks and normal forms shared by every adapter, so each one accepts and rejects exactly the same input.

Field and collection names end up inside SQL text (SQLite expression indexes only match a literal JSON
path, so the path cannot be a bound parameter) and inside Mongo filters (where a `$`-name is an
operator), so they are validated against a strict pattern before either adapter sees them. Values are
always bound or passed as data, never formatted into a query.

What keeps the adapters identical, and is therefore refused or normalised here: filter values are
scalars only (Mongo's array-containment equality has no SQL twin), ranges need a number or a string,
sorts always end with `id`, and `limit=0` means "no documents" (Mongo would read it as "no limit").
Documents themselves must hold JSON types only (str, int, float, bool, None, list, dict): SQLite
stores JSON, so a datetime would come back from it as a string but from MongoDB as a datetime.

Integers are 64-bit in both databases, and Python's are not: an int outside that range in a query
(an id of 2^70, a filter value) would raise an overflow inside the driver. Here it becomes the float
of the same value, which compares as numbers do and equals no stored integer, so a lookup finds
nothing (as it should: no document can have that id) and a range compares correctly. A *document*
holding such an int is refused (InvalidQueryError): it could not be stored faithfully. Messages bound
their integer fields (`shared.messages.base`), so user input never gets this far; this is the last guard.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from shared.jsonints import may_hold_long_int  # one scan for the store and the gateway (re-exported here)
from shared.store.port import CollectionSpec, OrderBy, Where

Op = Literal["$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in"]

FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
COLLECTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_FIELDS = frozenset({"_id"})  # Mongo's primary key; our documents call it `id`
IMMUTABLE_FIELDS = frozenset({"id", "owner"})  # changing these would break the primary key or owner scoping
COUNTERS = "_counters"  # the counters table / collection; collection names cannot start with "_"

RANGE_OPS: frozenset[str] = frozenset({"$lt", "$lte", "$gt", "$gte"})
OPERATORS: frozenset[str] = RANGE_OPS | {"$ne", "$in"}
_SCALARS = (str, int, float, bool, type(None))
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_encode = msgspec.json.Encoder().encode


def int64_safe(value: Any) -> Any:
    """`value`, except that an int no database can hold becomes the float of it (±inf past float range)."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def _check_int_range(value: Any, where: str) -> None:
    """Refuse a value holding an int beyond 64 bits (a cheap scan of its JSON first: the usual case)."""
    try:
        encoded = _encode(value)
    except (msgspec.EncodeError, TypeError, UnicodeEncodeError, OverflowError):
        return  # not JSON at all: other checks (or the adapter) say so
    if not may_hold_long_int(encoded):
        return
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise InvalidQueryError(f"{where} holds the integer {node}, beyond the 64 bits a store keeps")


class InvalidQueryError(ValueError):
    """A field name, operator, value or document the store refuses: a programming error, never user input."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one top-level field; `$eq` stands for plain equality."""

    field: str
    op: Op
    value: Any


def check_field(name: object) -> str:
    """Return `name` if it is a safe top-level field name (`^[a-z_][a-z0-9_]*$`, not `_id`)."""
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name) or name in RESERVED_FIELDS:
        raise InvalidQueryError(f"invalid field name {name!r}: expected ^[a-z_][a-z0-9_]*$ and not _id")
    return name


def check_collection_name(name: object) -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name) or name.startswith("sqlite_"):
        raise InvalidQueryError(f"invalid collection name {name!r}: expected ^[a-z][a-z0-9_]*$")
    return name


def check_id(id: object) -> int | str:
    """Ids are ints (from `next_id`) or non-empty strings; bools are ints to Python but not to us."""
    if isinstance(id, bool) or not isinstance(id, int | str) or id == "":
        raise InvalidQueryError(f"invalid id {id!r}: expected an int or a non-empty string")
    return int64_safe(id)  # type: ignore[no-any-return]


def check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not owner:
        raise InvalidQueryError(f"invalid owner {owner!r}: expected a non-empty string")
    return owner


def check_doc(doc: Mapping[str, Any]) -> tuple[int | str, str]:
    """Validate a document to be stored and return its (id, owner)."""
    if not isinstance(doc, Mapping):
        raise InvalidQueryError(f"a document must be a mapping, got {type(doc).__name__}")
    if "id" not in doc or "owner" not in doc:
        raise InvalidQueryError("a document must carry `id` and `owner`")
    if any(key in RESERVED_FIELDS for key in doc):
        raise InvalidQueryError("a document must not carry `_id`; its key is `id`")
    _check_int_range(doc, "the document")
    return check_id(doc["id"]), check_owner(doc["owner"])


def check_changes(changes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Fields an `update` may set: valid names, and never `id` or `owner`."""
    for name in changes:
        check_field(name)
        if name in IMMUTABLE_FIELDS:
            raise InvalidQueryError(f"`{name}` cannot be changed by update")
    _check_int_range(dict(changes), "the update")
    return changes


def _check_scalar(field: str, value: Any) -> Any:
    # Arrays and sub-documents have different equality rules in Mongo (array containment) and SQL.
    if not isinstance(value, _SCALARS):
        raise InvalidQueryError(f"{field}: only str, int, float, bool or None can be compared, got {type(value).__name__}")
    return value


def _condition(field: str, op: str, value: Any) -> Condition:
    if op == "$in":
        if not isinstance(value, list | tuple | set | frozenset):
            raise InvalidQueryError(f"{field}: $in takes a list, got {type(value).__name__}")
        return Condition(field, "$in", tuple(int64_safe(_check_scalar(field, v)) for v in value))
    if op not in OPERATORS:
        raise InvalidQueryError(f"{field}: unsupported operator {op!r}; use one of {sorted(OPERATORS)}")
    _check_scalar(field, value)
    if op in RANGE_OPS and (value is None or isinstance(value, bool)):
        raise InvalidQueryError(f"{field}: {op} needs a number or a string, got {value!r}")
    return Condition(field, op, int64_safe(value))  # type: ignore[arg-type]


def parse_where(where: Where | None) -> list[Condition]:
    """Turn a Mongo-shaped filter into conditions: `{"f": v}` or `{"f": {"$op": v, ...}}` per field."""
    if not where:
        return []
    conditions: list[Condition] = []
    for field, spec in where.items():
        check_field(field)
        if isinstance(spec, Mapping):
            if not spec:
                raise InvalidQueryError(f"{field}: empty operator mapping")
            conditions.extend(_condition(field, op, value) for op, value in spec.items())
        else:
            conditions.append(Condition(field, "$eq", int64_safe(_check_scalar(field, spec))))
    return conditions


def normalize_order(order_by: OrderBy) -> list[tuple[str, int]]:
    """Validated sort keys, ending with `id` as a tie-breaker so that limit/offset pages are stable.

    The tie-breaker takes the direction of the last key (newest-first stays newest-first).
    """
    keys: list[tuple[str, int]] = []
    for field, direction in order_by:
        check_field(field)
        if direction not in (1, -1) or isinstance(direction, bool):
            raise InvalidQueryError(f"{field}: sort direction must be 1 or -1, got {direction!r}")
        keys.append((field, direction))
    if not keys:
        return [("id", -1)]
    if all(field != "id" for field, _ in keys):
        keys.append(("id", keys[-1][1]))
    return keys


def check_page(limit: int | None, offset: int) -> tuple[int | None, int]:
    """The page, with a limit or offset past 64 bits clamped (no collection holds that many)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidQueryError(f"limit must be None or an int >= 0, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidQueryError(f"offset must be an int >= 0, got {offset!r}")
    return (None if limit is None else min(limit, INT64_MAX)), min(offset, INT64_MAX)


def index_fields(spec: CollectionSpec) -> list[tuple[str, ...]]:
    """The fields of every index to create after `owner`, each ending with `id`.

    `(owner, id)` serves the default listing (newest first); appending `id` to the declared indexes
    lets them also deliver the `id` tie-breaker of `normalize_order`, so sorts need no extra sort step.
    """
    indexes: list[tuple[str, ...]] = [("id",)]
    for fields in spec.indexes:
        if not fields:
            raise InvalidQueryError(f"{spec.name}: an index needs at least one field")
        checked = tuple(check_field(f) for f in fields)
        indexes.append(checked if checked[-1] == "id" else (*checked, "id"))
    return indexes


def check_counter(counter: object) -> str:
    if not isinstance(counter, str) or not counter:
        raise InvalidQueryError(f"invalid counter name {counter!r}")
    return counter


__all__ = [
    "COUNTERS",
    "Condition",
    "InvalidQueryError",
    "check_changes",
    "check_collection_name",
    "check_counter",
    "check_doc",
    "check_field",
    "check_id",
    "check_owner",
    "check_page",
    "index_fields",
    "int64_safe",
    "normalize_order",
    "parse_where",
]
