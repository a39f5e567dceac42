"""Every size limit of the platform, owned in one place.

A limit reached is a clear 4xx (`413 payload_too_large`, or `422` with a `limit` code), never a 500
and never a lost connection. The NATS server is configured from these numbers (embedded and
`deploy/`), so nothing depends on a server default.
"""

from __future__ import annotations

from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

MAX_PAYLOAD_BYTES: Final = 8 * MIB
"""nats-server `max_payload`: the largest message (request or reply) the bus carries."""

HEADER_ALLOWANCE_BYTES: Final = 64 * KIB
"""Room kept free in every message for NATS headers (request id, owner, error headers)."""

MAX_MESSAGE_BYTES: Final = MAX_PAYLOAD_BYTES - HEADER_ALLOWANCE_BYTES
"""The largest request or reply body a service or the gateway may put on the bus."""

MAX_PAGE_BYTES: Final = 512 * KIB
"""A list reply stops adding items once its encoded items reach this size (the rest: next cursor).
Half of nats-server's *default* `max_payload`, so lists keep working even on a bus someone left at
its defaults, and a page stays quick for a browser (8 programs of maximal 64 KiB code per page)."""

CODE_MAX_BYTES: Final = 64 * KIB
"""Largest program source accepted anywhere (save, validate, test-run, backtest, AI)."""

MAX_LOG_BYTES_PER_RUN: Final = 256 * KIB
"""A run's log lines kept in a reply or record; past it the log is cut with a marker line."""

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of a JSON request body (params, state) the gateway accepts."""

MAX_BINDING_PARAMS_BYTES: Final = 64 * KIB
"""A binding's `params` (the program's `ctx.params`), encoded as JSON."""
