"""Messages of the registry's programs and their versions, and the events about them."""

from __future__ import annotations

import msgspec

from shared.messages.base import Event, Id, Page, Reply, Request


class ProgramCreate(Request):
    name: str
    code: str
    description: str = ""
    enabled: bool = True


class ProgramUpdate(Request):
    """A partial update: only the fields present change."""

    id: Id
    name: str | msgspec.UnsetType = msgspec.UNSET
    code: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class ProgramRef(Request):
    id: Id


class ProgramList(Page):
    pass


class ProgramVersionRef(Request):
    id: Id
    version: Id


class Program(Reply):
    id: int
    name: str
    description: str
    code: str
    enabled: bool
    version: int
    created_at: str
    updated_at: str


class ProgramVersion(Reply):
    program_id: int
    version: int
    code: str
    created_at: str


class Deleted(Reply):
    id: int | str


class ProgramEvent(Event):
    """`evt.registry.program.created|updated|deleted`."""

    program_id: int
    version: int
    name: str
