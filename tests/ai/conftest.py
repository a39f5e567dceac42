"""A second platform for the model-backed assistant: its own nats-server (so its ai service, pointed
at the fake OpenAI-compatible server, never shares the `ai` queue group with the default platform's
built-in one), the real registry, executor and backtester, and the real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio

from shared.natsserver import NatsServer
from shared.settings import Settings, load_settings
from tests.ai.fake_openai import FakeOpenAI
from tests.harness import Api, RunningPlatform, start_platform

AI_TIMEOUT_S = 2.0
API_KEY = "sk-test-secret"


@pytest_asyncio.fixture(scope="session")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def model_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("ai-jetstream")) as server:
        yield server


@pytest.fixture(scope="session")
def model_settings(tmp_path_factory: pytest.TempPathFactory, model_nats: NatsServer, fake_openai: FakeOpenAI) -> Settings:
    return load_settings({
        "NATS_URL": model_nats.url, "DATA_DIR": str(tmp_path_factory.mktemp("ai-data")), "LOG_LEVEL": "warning",
        "LOG_FORMAT": "json", "AI_BASE_URL": fake_openai.url, "AI_API_KEY": API_KEY, "AI_MODEL": "fake-model",
        "AI_TIMEOUT_S": str(AI_TIMEOUT_S), "AI_REPAIR_ROUNDS": "2", "AI_MAX_TOOL_ROUNDS": "3",
    })


@pytest_asyncio.fixture(scope="session")
async def model_platform(model_settings: Settings) -> AsyncIterator[RunningPlatform]:
    from services.ai.service import build as build_ai
    from services.backtester.service import build as build_backtester
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    running = await start_platform(model_settings, [build_registry, build_executor, build_backtester, build_ai])
    yield running
    await running.stop()


@pytest.fixture
def model_api(model_platform: RunningPlatform, http_session: aiohttp.ClientSession, fake_openai: FakeOpenAI) -> Api:
    fake_openai.reset()
    return Api(http_session, model_platform.base_url)
