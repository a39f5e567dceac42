"""The live store's claims and index on SQLite and on the MongoDB double (no services): the crash cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.executor.live.store import BINDING_KEYS, BINDINGS, CLAIM_GRACE_MS, LiveStore, binding_key
from shared.store import Store
from shared.store.sqlite import SqliteStore
from shared.timefmt import now_ms

OWNER = "alice"
KEY = binding_key(1, 2, "BTC")


@pytest_asyncio.fixture(params=["sqlite", "mongo"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveStore]:
    if request.param == "sqlite":
        raw: Store = SqliteStore(tmp_path / "live.db")
    else:
        from shared.store.mongo import MongoStore
        from tests.doubles.mongo import AsyncMongoClientDouble

        raw = MongoStore(AsyncMongoClientDouble(), "hyperoru")  # type: ignore[arg-type]
    yield await LiveStore.open(raw)
    await raw.close()


def binding(id: int, enabled: bool = True, symbol: str = "BTC") -> dict[str, object]:
    return {"id": id, "owner": OWNER, "program_id": 1, "account_id": 2, "symbol": symbol, "enabled": enabled}


async def test_a_young_claim_is_honoured_before_its_binding_is_written(store: LiveStore) -> None:
    assert await store.claim_binding_key(OWNER, KEY, 10) is None
    assert await store.claim_binding_key(OWNER, KEY, 11) == 10  # binding 10 is not written yet: still its claim
    assert await store.claim_binding_key(OWNER, KEY, 10) is None  # re-claiming your own claim is fine
    await store.release_binding_key(OWNER, KEY, 11)  # releasing someone else's claim does nothing
    assert await store.claim_binding_key(OWNER, KEY, 11) == 10
    await store.release_binding_key(OWNER, KEY, 10)
    assert await store.claim_binding_key(OWNER, KEY, 11) is None


async def test_an_old_claim_left_by_a_crash_is_taken_over(store: LiveStore) -> None:
    old = now_ms() - CLAIM_GRACE_MS - 1
    await store.insert(BINDING_KEYS, {"id": f"{OWNER}/{KEY}", "owner": OWNER, "binding_id": 10, "claimed_ms": old})
    assert await store.claim_binding_key(OWNER, KEY, 11) is None  # binding 10 never got written
    assert (await store.get(BINDING_KEYS, OWNER, f"{OWNER}/{KEY}"))["binding_id"] == 11  # type: ignore[index]


async def test_an_old_claim_of_an_enabled_binding_still_holds(store: LiveStore) -> None:
    await store.insert(BINDINGS, binding(10))
    await store.insert(BINDING_KEYS, {"id": f"{OWNER}/{KEY}", "owner": OWNER, "binding_id": 10, "claimed_ms": now_ms() - CLAIM_GRACE_MS - 1})
    assert await store.claim_binding_key(OWNER, KEY, 11) == 10
    await store.update(BINDINGS, OWNER, 10, {"enabled": False})  # disabled, and the release was lost in a crash
    assert await store.claim_binding_key(OWNER, KEY, 11) is None


async def test_claims_are_per_owner(store: LiveStore) -> None:
    assert await store.claim_binding_key(OWNER, KEY, 10) is None
    assert await store.claim_binding_key("bob", KEY, 11) is None


async def test_index_is_a_superset_readers_filter(store: LiveStore) -> None:
    await store.insert(BINDINGS, binding(10))
    await store.insert(BINDINGS, binding(11, enabled=False))
    for ref in (10, 11, 12):  # 11 disabled, 12 never written: both stale entries
        await store.index_add("binding", OWNER, ref)
    assert [d["id"] for d in await store.enabled_bindings_all()] == [10]
    await store.index_remove("binding", OWNER, 10)
    assert await store.enabled_bindings_all() == []
