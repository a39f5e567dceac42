"""`python -m services.gateway`: settings → logging → serve HTTP until SIGTERM."""

from __future__ import annotations

import sys

from aiohttp import web

from services.gateway.app import init_app
from shared.logs import get_logger, setup_logging
from shared.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings, "gateway")
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    get_logger().info("gateway_listening", url=f"http://{settings.gateway_host}:{settings.gateway_port}")
    web.run_app(
        init_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        print=None,
        access_log=None,
        loop=loop_factory() if loop_factory else None,
        shutdown_timeout=10,
    )


main()
