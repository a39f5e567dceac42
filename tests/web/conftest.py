"""Fixtures of the web page's tests: a platform of their own and a real headless Chromium.

The platform is started here, not taken from the session: its market clock is sped up
(`MARKET_LIVE_SPEED=60`: a 1-minute candle closes every second) so a binding's schedule fires while the
test watches, and it runs with `AUTH_MODE=token`, so the page meets a real 401 and its login box takes a
real token made by `hyperoru token create`.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run`), driven by Playwright's Python
package through `executable_path` (no Playwright browser download). Without it the browser tests skip
and say why; the static-file tests still run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shared.natsserver import NatsServer
from shared.settings import load_settings
from tests.harness import RunningPlatform, start_platform

CHROMIUM = os.environ.get("HYPERORU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SPEED = 60
SCREENSHOTS = Path(
    os.environ.get("HYPERORU_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hyperoru-screenshots"
)
"""Where the browser test saves its screenshots: a temp folder, so `make test` leaves the checkout clean;
`HYPERORU_SCREENSHOTS=docs/screenshots make test` refreshes the ones the README shows."""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (`apt-get install -y chromium`; .ci/run installs it)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the `playwright` package is not installed (it is in the test extra)"
    return None


class WebPlatform:
    def __init__(self, running: RunningPlatform, token: str, owner: str, has_ai: bool) -> None:
        self.running = running
        self.has_ai = has_ai
        self.base_url = running.base_url
        self.token = token
        self.owner = owner


def _builders() -> list[Any]:
    from services.backtester.service import build as build_backtester
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    builders = [build_registry, build_executor, build_backtester]
    try:
        from services.ai.service import build as build_ai
    except ImportError:  # the assistant is optional for these tests: its panel says when it is missing
        return builders
    return [*builders, build_ai]


def make_token(data_dir: Path, owner: str) -> str:
    """A real API token, made the documented way: `hyperoru token create --owner … --json`."""
    cli = Path(sys.executable).with_name("hyperoru")
    command = [str(cli)] if cli.exists() else [sys.executable, "-c", "from hyperoru.cli import main; main()"]
    done = subprocess.run(
        [*command, "token", "create", "--owner", owner, "--name", "browser-test", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "DATA_DIR": str(data_dir)}, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["token"]


@pytest_asyncio.fixture(scope="package")
async def web_platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebPlatform]:
    data_dir = tmp_path_factory.mktemp("web-data")
    with NatsServer(tmp_path_factory.mktemp("web-js")) as server:
        settings = load_settings({
            "NATS_URL": server.url, "DATA_DIR": str(data_dir), "LOG_LEVEL": "warning", "LOG_FORMAT": "json",
            "MARKET_LIVE_SPEED": str(SPEED), "LIVE_WORKERS": "1", "BACKTEST_WORKERS": "1", "WORKER_PROCESSES": "1",
            "AUTH_MODE": "token", "RATE_LIMIT_PER_S": "0",
        })
        builders = _builders()
        running = await start_platform(settings, builders, trust_loopback=False)
        try:
            yield WebPlatform(running, make_token(data_dir, "web-ui"), "web-ui", has_ai=len(builders) == 4)
        finally:
            await running.stop()


@pytest_asyncio.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
