"""Base classes and field types every message derives from or uses.

Requests forbid unknown fields so a typo in a client's JSON is a 422 naming the field, not a silently
ignored option. Events are frozen: once published they are facts.

Every integer field is bounded (use the types below, never a bare `int` in a request): a number the
store cannot hold (SQLite and MongoDB integers are 64-bit) is a 422 naming the field at the door,
never an overflow deep inside. Ids stay within JavaScript's exact range (2^53 - 1) because browsers
read them as doubles.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from shared.errors import describe_pattern


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Reply(msgspec.Struct, kw_only=True):
    pass


class Event(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    time: str
    owner: str
    correlation_id: str


INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_SAFE_INT = 2**53 - 1
"""The largest integer a JSON client (JavaScript) reads exactly; ids and counts never exceed it."""

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
"""Any integer the stores can hold."""

NonNegative = Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INT)]
"""Counts, offsets, sizes."""

EpochMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INT, description="milliseconds since 1970-01-01 UTC")]

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_SAFE_INT)]
"""A numeric id from a store counter. In a URL path an id out of this range is a 404 (it names nothing)."""

LIMIT_MAX = 500
Limit = Annotated[int, msgspec.Meta(ge=1, le=LIMIT_MAX, description="items on one page, 1-500")]
"""`limit` of every list: how many items one page holds at most."""

DateText = Annotated[str, msgspec.Meta(max_length=40, description="ISO date or date-time, UTC unless it says otherwise")]
"""A date or date-time a client gives (`2024-03-01`, `2024-03-01T12:00:00Z`); parsed by the service."""

CURSOR_MAX_CHARS = 512

Cursor = Annotated[str, msgspec.Meta(min_length=1, max_length=CURSOR_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")]
"""An opaque page cursor (`shared.paging.encode_cursor`), passed back as `?cursor=`."""


class Page(Request):
    """Paging of every list: `limit` items at most, continued with the `cursor` of the previous page.

    `offset` is kept for the lists that documented it; a list answers either by cursor or by offset.
    """

    limit: Limit = 50
    offset: NonNegative = 0
    cursor: Cursor | None = None


# Characters a name must not contain: C0 and C1 control characters (NUL, newline, escape...), the
# Unicode line and paragraph separators, and the bidirectional controls that can make a name read
# differently from what it is ("Trojan Source": U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069).
_NAME_FORBIDDEN = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
NAME_PATTERN = f"^[^{_NAME_FORBIDDEN}]*(?![\\s\\S])"
"""Ends with "nothing follows" rather than `$`, which in Python also matches before a final newline
(`"x\\n"` would pass); the lookahead means the same in JSON Schema's (ECMA) regex dialect."""
NAME_MAX_CHARS = 100

describe_pattern(NAME_PATTERN, "without control or bidirectional-control characters")

Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=NAME_MAX_CHARS,
        pattern=NAME_PATTERN,
        description="1-100 characters, no control or bidirectional-control characters",
    ),
]
"""A human-given name (program, account, pool...): printable text a list can show safely."""


def check_name(value: str, field: str = "name", max_chars: int = NAME_MAX_CHARS) -> str:
    """Trim a name and check it, for names that arrive outside a `Name` field (or need trimming first).

    Raises InvalidRequest naming `field`; returns the trimmed name.
    """
    from shared.errors import InvalidRequest

    trimmed = value.strip()
    reason = None
    if not 1 <= len(trimmed) <= max_chars:
        reason = f"must be 1 to {max_chars} characters (after trimming spaces)"
    else:
        bad = next((c for c in trimmed if _is_forbidden(c)), None)
        if bad is not None:
            reason = f"must not contain control or bidirectional-control characters (found U+{ord(bad):04X})"
    if reason is not None:
        raise InvalidRequest(f"{field}: {reason}", details={"field": field, "reason": reason})
    return trimmed


def _is_forbidden(char: str) -> bool:
    code = ord(char)
    return (
        code <= 0x1F
        or 0x7F <= code <= 0x9F
        or code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029)
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
    )
