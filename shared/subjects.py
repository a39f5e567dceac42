"""Every NATS subject of the platform, built in one place.

Requests are `<service>.<resource>.<verb>`, served as `nats.micro` endpoints in queue group
`<service>`; events are `evt.<service>.<entity>.<past>` on the JetStream stream `EVENTS`.
"""

from __future__ import annotations

from typing import Final

SERVICES: Final = ("registry", "executor", "backtester", "ai")

# Headers that travel with every request.
REQUEST_ID_HEADER: Final = "X-Request-ID"
OWNER_HEADER: Final = "X-Owner"

# registry
PROGRAMS_CREATE: Final = "registry.programs.create"
PROGRAMS_LIST: Final = "registry.programs.list"
PROGRAMS_GET: Final = "registry.programs.get"
PROGRAMS_UPDATE: Final = "registry.programs.update"
PROGRAMS_DELETE: Final = "registry.programs.delete"
PROGRAM_VERSIONS_LIST: Final = "registry.program_versions.list"
PROGRAM_VERSIONS_GET: Final = "registry.program_versions.get"

# executor
LANG_VALIDATE: Final = "executor.programs.validate"
LANG_TEST_RUN: Final = "executor.programs.test_run"
LANG_DEV_GUIDE: Final = "executor.dev_guide.get"
MARKET_SYMBOLS: Final = "executor.market.symbols"
MARKET_QUERY: Final = "executor.market.query"
MARKET_CANDLES: Final = "executor.market.candles"
MARKET_IMPORT: Final = "executor.market.import"

# events
EVENTS_STREAM: Final = "EVENTS"
EVENTS_ALL: Final = "evt.>"
EVT_PROGRAM_CREATED: Final = "evt.registry.program.created"
EVT_PROGRAM_UPDATED: Final = "evt.registry.program.updated"
EVT_PROGRAM_DELETED: Final = "evt.registry.program.deleted"
EVT_CANDLES_IMPORTED: Final = "evt.executor.candles.imported"


def health(service: str) -> str:
    """The endpoint every service serves to say whether its dependencies (its store) answer."""
    return f"{service}.health.check"


def ping(service: str) -> str:
    """The `nats.micro` discovery subject answering for every instance of `service`."""
    return f"$SRV.PING.{service}"
