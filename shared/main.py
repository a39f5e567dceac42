"""What every `python -m services.<name>` does: settings → logging → run. One copy for all services."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from shared.logs import get_logger, setup_logging
from shared.runtime import Service, run_service
from shared.settings import SettingsError, load_settings


def service_main(name: str, build: Callable[..., Awaitable[Service]]) -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings, name)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional outside Linux/macOS
        asyncio.run(run_service(build, settings))
    else:
        uvloop.run(run_service(build, settings))
    get_logger().info("exited")
