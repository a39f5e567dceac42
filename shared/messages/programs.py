"""Messages of the registry's programs and their versions, and the events about them."""

from __future__ import annotations

import msgspec

from shared.messages.base import Event, Id, Name, Page, Reply, Request


class ProgramCreate(Request):
    name: Name
    code: str
    description: str = ""
    enabled: bool = True


class ProgramUpdate(Request):
    """A partial update: only the fields present change."""

    id: Id
    name: Name | msgspec.UnsetType = msgspec.UNSET
    code: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class ProgramRef(Request):
    id: Id


class ProgramList(Page):
    """Newest first; by `cursor` (or the documented `offset`)."""


class ProgramVersionList(Page, kw_only=True):
    """A program's versions, newest first."""

    id: Id


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
