"""Pages of list replies: bounded by count *and* by bytes, continued with an opaque cursor.

Every list endpoint replies with a `ListPage` (`items`, `next_cursor`). The gateway sends the items
as the JSON array the API reference shows and the cursor in the `X-Next-Cursor` header (absent on
the last page); the client passes it back as `?cursor=…`. A cursor is the sort key of the last item
returned, so pages stay stable while new items arrive (newest-first lists never repeat an item).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from shared.errors import InvalidRequest
from shared.limits import MAX_PAGE_BYTES
from shared.messages.base import Reply

T = TypeVar("T")

NEXT_CURSOR_HEADER = "X-Next-Cursor"
_encoder = msgspec.json.Encoder()


class ListPage(Reply):
    """What every list endpoint replies; the gateway unwraps it (items as body, cursor as header)."""

    items: list[Any]
    next_cursor: str | None = None


def encode_cursor(key: Any) -> str:
    """An opaque, URL-safe cursor for a JSON-able sort key (an id, or `[created_at, id]`)."""
    return base64.urlsafe_b64encode(_encoder.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "cursor") -> Any:
    """The sort key inside a cursor, or None without one; a cursor we did not make is a 422."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequest(f"`{field}` is not a cursor this API gave out", details={"field": field, "reason": "invalid cursor"}) from None


def page(
    items: Sequence[T],
    limit: int,
    key: Callable[[T], Any],
    *,
    max_bytes: int = MAX_PAGE_BYTES,
    has_more: bool | None = None,
) -> ListPage:
    """Take up to `limit` items while their encoded size stays under `max_bytes` (at least one item).

    Pass `limit + 1` fetched items (or `has_more`) so the last page can be told from a full one.
    An item alone larger than `max_bytes` still goes out on its own page: the reply limit
    (`MAX_MESSAGE_BYTES`) is what finally guards the bus.
    """
    taken: list[T] = []
    size = 2
    for item in items[:limit]:
        item_size = len(_encoder.encode(item)) + 1
        if taken and size + item_size > max_bytes:
            break
        taken.append(item)
        size += item_size
    more = len(taken) < len(items) if has_more is None else (has_more or len(taken) < min(limit, len(items)))
    return ListPage(items=taken, next_cursor=encode_cursor(key(taken[-1])) if more and taken else None)
