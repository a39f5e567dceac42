"""Fixtures of the market-data tests: stores on a temp file, and the bundled history loaded once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from shared.market import CandleArrays, SqliteCandleStore, ensure_bundled_history, load_bundle
from shared.market.simulator import Simulator


class FakeClock:
    """A settable clock in epoch ms; `sleep` advances it instead of waiting (no real time passes)."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(1, int(seconds * 1000))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteCandleStore]:
    store = SqliteCandleStore(tmp_path / "hyperoru.db")
    yield store
    store.close_sync()


@pytest_asyncio.fixture(scope="session")
async def bundled_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SqliteCandleStore]:
    """A store with the bundled real history loaded (shared by read-only tests: loading takes ~1 s)."""
    store = SqliteCandleStore(tmp_path_factory.mktemp("bundled") / "hyperoru.db")
    await ensure_bundled_history(store)
    yield store
    await store.close()


@pytest.fixture(scope="session")
def bundle() -> dict[str, CandleArrays]:
    return load_bundle()


@pytest.fixture(scope="session")
def simulator() -> Simulator:
    return Simulator(seed=42)
