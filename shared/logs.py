"""structlog set-up: one JSON line per event, carrying request id, service and owner.

Request-scoped fields (`request_id`, `owner`) live in contextvars, bound by the gateway middleware and
again by the service runtime for each NATS request, so every line logged while a request is handled
carries them without being passed around.
"""

from __future__ import annotations

import logging
import sys

import structlog

from shared.settings import Settings


def setup_logging(settings: Settings, service: str) -> None:
    level = getattr(logging, settings.log_level.upper())
    console = settings.log_format == "console" or (settings.log_format == "auto" and sys.stdout.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger() -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger()
