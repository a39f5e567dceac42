"""`python -m services.gateway`: settings → logging → serve HTTP until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from services.gateway.app import init_app
from services.gateway.server import GatewayRunner
from shared.logs import get_logger, setup_logging
from shared.settings import Settings, SettingsError, load_settings


async def serve(settings: Settings) -> None:
    """Serve until signalled; `GatewayRunner` (not `web.run_app`) so parser errors are JSON too."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    runner = GatewayRunner(init_app(settings), access_log=None, shutdown_timeout=10)
    setup = asyncio.create_task(runner.setup())  # waits for NATS: a signal meanwhile must still stop us
    signalled = asyncio.create_task(stopping.wait())
    await asyncio.wait({setup, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not setup.done():
        setup.cancel()
        return
    signalled.cancel()
    setup.result()
    try:
        await web.TCPSite(runner, settings.gateway_host, settings.gateway_port).start()
        get_logger().info("gateway_listening", url=f"http://{settings.gateway_host}:{settings.gateway_port}")
        await stopping.wait()
        get_logger().info("gateway_stopping")
    finally:
        await runner.cleanup()


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
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


main()
