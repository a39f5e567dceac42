"""Integers past 64 bits never reach a database driver (SQLite raised OverflowError: a 500).

Same adapters as the contract suite: a lookup by such an id finds nothing, a filter or page with one
compares as numbers do, and a document holding one is refused as a programming error.
"""

from __future__ import annotations

import pytest

from shared.store import Collection, InvalidQueryError
from tests.store.test_contract import ALICE, item, items, store  # noqa: F401  (fixtures)

HUGE = 2**63
HUGER = 10**400  # past even float range


@pytest.mark.parametrize("big", [HUGE, -HUGE - 1, HUGER])
async def test_lookups_by_an_id_past_64_bits_find_nothing(items: Collection, big: int) -> None:  # noqa: F811
    await items.insert(item(1, kind="a"))
    assert await items.get(ALICE, big) is None
    assert await items.update(ALICE, big, {"kind": "b"}) is None
    assert await items.delete(ALICE, big) is False
    assert (await items.get(ALICE, 1))["kind"] == "a"


async def test_filters_with_an_int_past_64_bits_compare_as_numbers(items: Collection) -> None:  # noqa: F811
    for n in (1, 2, 3):
        await items.insert(item(n, rank=n))
    assert [d["id"] for d in await items.find(ALICE, {"rank": {"$lt": HUGE}})] == [3, 2, 1]
    assert await items.find(ALICE, {"rank": {"$gt": HUGE}}) == []
    assert await items.find(ALICE, {"rank": HUGE}) == []
    assert await items.find(ALICE, {"rank": {"$in": [HUGE, 2]}}) != []
    assert await items.count(ALICE, {"id": {"$gte": -HUGE - 1}}) == 3


async def test_a_page_past_64_bits_is_empty_not_an_error(items: Collection) -> None:  # noqa: F811
    await items.insert(item(1))
    assert await items.find(ALICE, offset=HUGE) == []
    assert len(await items.find(ALICE, limit=HUGE)) == 1


@pytest.mark.parametrize("doc", [item(HUGE), item(1, n=HUGE), item(1, nested={"deep": [1, -HUGE - 1]})])
async def test_a_document_holding_an_int_past_64_bits_is_refused(items: Collection, doc: dict) -> None:  # noqa: F811
    with pytest.raises(InvalidQueryError):
        await items.insert(doc)
    with pytest.raises(InvalidQueryError):
        await items.replace(doc)


async def test_an_update_setting_an_int_past_64_bits_is_refused(items: Collection) -> None:  # noqa: F811
    await items.insert(item(1, n=1))
    with pytest.raises(InvalidQueryError):
        await items.update(ALICE, 1, {"n": HUGE})
    assert (await items.get(ALICE, 1))["n"] == 1


async def test_long_digit_strings_are_not_numbers(items: Collection) -> None:  # noqa: F811
    await items.insert(item(1, note="12345678901234567890123"))
    assert (await items.get(ALICE, 1))["note"] == "12345678901234567890123"
