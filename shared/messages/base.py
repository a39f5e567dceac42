"""Base classes every message derives from.

Requests forbid unknown fields so a typo in a client's JSON is a 422 naming the field, not a silently
ignored option. Events are frozen: once published they are facts.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Reply(msgspec.Struct, kw_only=True):
    pass


class Event(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    time: str
    owner: str
    correlation_id: str


class Page(Request):
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0


Id = Annotated[int, msgspec.Meta(ge=1)]
