"""Messages of a service's own health (beside `$SRV.PING`, which only says that it is there)."""

from __future__ import annotations

from typing import Literal

from shared.messages.base import Reply, Request


class HealthQuery(Request):
    pass


class Health(Reply):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]  # dependency → "ok" or why not, e.g. {"store": "unavailable"}
