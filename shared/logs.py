"""structlog set-up: one JSON line per event, carrying request id, service and owner.

Request-scoped fields (`request_id`, `owner`) live in contextvars, bound by the gateway middleware and
again by the service runtime for each NATS request, so every line logged while a request is handled
carries them without being passed around.
"""

from __future__ import annotations

import logging
import sys

import msgspec
import structlog

from shared.settings import Settings


def setup_logging(settings: Settings, service: str) -> None:
    level = getattr(logging, settings.log_level.upper())
    console = settings.log_format == "console" or (settings.log_format == "auto" and sys.stdout.isatty())
    # JSON lines are encoded by msgspec straight to bytes: about twice as fast as json.dumps, and the
    # log line is on the path of every request.
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout) if console else structlog.BytesLoggerFactory(file=sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json_line(event: dict[str, object], **_: object) -> bytes:
    return _encoder.encode(event)


def get_logger() -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger()
