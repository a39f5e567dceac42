from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from shared.natsserver import NatsServer
from shared.settings import Settings, load_settings
from tests.harness import TEST_AUTH, Api, RunningPlatform, start_platform


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("jetstream")) as server:
        yield server


@pytest.fixture(scope="session")
def settings(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return load_settings({
        "NATS_URL": nats_server.url, "DATA_DIR": str(data_dir), "LOG_LEVEL": "warning", "LOG_FORMAT": "json",
        # Tests isolate themselves by owner (`X-Owner`), which only a trusted proxy may set; limits off
        # so no test is throttled (tests/api/test_auth*.py and test_rate_limit.py build their own apps).
        **TEST_AUTH,
    })


@pytest_asyncio.fixture(scope="session")
async def platform(settings: Settings) -> AsyncIterator[RunningPlatform]:
    from services.ai.service import build as build_ai
    from services.backtester.service import build as build_backtester
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry
    from shared.logs import setup_logging

    setup_logging(settings, "tests")
    running = await start_platform(settings, [build_registry, build_executor, build_backtester, build_ai])
    yield running
    await running.stop()


@pytest_asyncio.fixture(scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(platform: RunningPlatform, http_session: aiohttp.ClientSession) -> Api:
    """A fresh owner per test: tests never see each other's records."""
    return Api(http_session, platform.base_url)
