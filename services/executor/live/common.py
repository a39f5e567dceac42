"""Small helpers the live resources share: field errors, list cursors, events, "who uses this"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from shared.context import RequestContext
from shared.errors import Conflict, InvalidRequest
from shared.messages.base import MAX_SAFE_INT, Event
from shared.messages.live import LiveResourceEvent
from shared.paging import decode_cursor
from shared.signals import SignalError
from shared.timefmt import parse_time

Publish = Callable[[str, Event], Awaitable[None]]
NAMED_MAX = 20
"""How many ids a 409 names (the message says how many more there are)."""


def field_error(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {reason}", details={"field": field, "reason": reason})


def signal_error(exc: SignalError) -> InvalidRequest:
    return field_error(exc.field, exc.message)


def id_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page; a cursor we did not make is a 422 naming `cursor`."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if isinstance(key, bool) or not isinstance(key, int) or not 1 <= key <= MAX_SAFE_INT:
        raise field_error("cursor", "not a cursor this API gave out")
    return key


def time_cursor(cursor: str | None) -> tuple[int, int | str] | None:
    """`[time_ms, id]` of the last item of the previous page (fills)."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if (
        not isinstance(key, list)
        or len(key) != 2
        or isinstance(key[0], bool)
        or not isinstance(key[0], int)
        or isinstance(key[1], bool)
        or not isinstance(key[1], int | str)
    ):
        raise field_error("cursor", "not a cursor this API gave out")
    return int(key[0]), key[1]


def filters(req: object, names: Sequence[str]) -> dict[str, Any]:
    """The equality filters of a list request that were given (`None` = not given), by field name."""
    return {name: value for name in names if (value := getattr(req, name)) is not None}


def since_ms(since: str | None) -> int | None:
    """A list's `since` (ISO date or date-time, UTC) in epoch ms; one that is neither is a 422 naming `since`."""
    if since is None:
        return None
    try:
        return parse_time(since)
    except ValueError:
        raise field_error("since", f"not an ISO-8601 date or date-time: {since!r}") from None


def in_use(what: str, by: str, ids: Sequence[int], total: int | None = None, hint: str = "") -> Conflict:
    """A 409 naming the resources in the way: `details.<by>_ids`."""
    total = len(ids) if total is None else total
    shown = ", ".join(str(i) for i in ids[:NAMED_MAX])
    more = f" and {total - NAMED_MAX} more" if total > NAMED_MAX else ""
    message = f"{what}: {by} {shown}{more}" + (f"; {hint}" if hint else "")
    return Conflict(message, details={f"{by.rstrip('s').replace(' ', '_')}_ids": list(ids[:NAMED_MAX]), "count": total})


async def announce(publish: Publish, subject: str, ctx: RequestContext, resource: str, resource_id: int, enabled: bool | None = None) -> None:
    await publish(subject, LiveResourceEvent(**ctx.event_fields(), resource=resource, resource_id=resource_id, enabled=enabled))


def unset(value: Any) -> bool:
    """A field a partial update (PUT) did not send."""
    return value is msgspec.UNSET
