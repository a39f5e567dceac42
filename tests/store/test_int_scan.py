"""The scan that lets a document skip the exact walk for integers past 64 bits (shared/store/query.py).

`may_hold_long_int` must never miss an integer token of 19+ digits, and must not be set off by what a
result document is full of (floats with long fractions, exponents); the exact walk decides, so a false
alarm (digits inside a string) only costs time, never a refusal. Then, through the store: values at and
around the 64-bit edges are stored or refused as they should be.
"""

from __future__ import annotations

import msgspec
import pytest

from shared.store import Collection, InvalidQueryError
from shared.store.query import INT64_MAX, INT64_MIN, check_doc, may_hold_long_int
from tests.store.test_contract import ALICE, item, items, store  # noqa: F401  (fixtures)


def scan(value: object) -> bool:
    return may_hold_long_int(msgspec.json.encode(value))


@pytest.mark.parametrize(
    "value",
    [
        0.0053287231876311125,  # 19 fraction digits: not an integer
        [1.0000000000000002, -0.00012345678901234567],
        1e19, 1.2345678901234567e19, 1e-300, -2.5e+300,
        {"x": 123456789012345678},  # 18 digits
        10**18 - 1, -(10**18 - 1),  # 18 digits
        {"t": 1704067200000, "e": [1704067200000.0, 1000000.0]},
    ],
)  # fmt: skip
def test_numbers_that_fit_do_not_set_the_scan_off(value: object) -> None:
    assert not scan(value)


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, 10**19, -(10**19), 10**400, [1, {"deep": [0.5, 2**64]}], {"a": 1.5, "b": 2**70}],
)
def test_every_integer_past_64_bits_sets_the_scan_off(value: object) -> None:
    assert scan(value)


def test_integers_of_19_digits_inside_64_bits_are_only_a_false_alarm() -> None:
    for value in (10**18, INT64_MAX, INT64_MIN):  # 19 digits: the walk decides
        assert scan(value)
    check_doc({"id": 1, "owner": ALICE, "n": 1_000_000_000_000_000_000, "m": INT64_MAX, "k": INT64_MIN})


def test_digits_inside_strings_are_never_refused() -> None:
    doc = {"id": "bt-12345678901234567890123", "owner": ALICE, "note": "12345678901234567890123", "keys": {"1234567890123456789012": 1}}
    assert scan(doc)  # a false alarm …
    assert check_doc(doc) == ("bt-12345678901234567890123", ALICE)  # … that the walk clears


def test_the_walk_finds_the_integer_the_scan_flagged() -> None:
    with pytest.raises(InvalidQueryError, match="9223372036854775808"):
        check_doc({"id": 1, "owner": ALICE, "values": [0.0053287231876311125, {"n": 2**63}]})
    with pytest.raises(InvalidQueryError, match="-9223372036854775809"):
        check_doc({"id": 1, "owner": ALICE, "n": -(2**63) - 1})


async def test_edges_of_64_bits_through_the_store(items: Collection) -> None:  # noqa: F811
    await items.insert(item(1, hi=INT64_MAX, lo=INT64_MIN, frac=0.0053287231876311125, big=1.2345678901234567e19))
    got = await items.get(ALICE, 1)
    assert (got["hi"], got["lo"], got["frac"], got["big"]) == (INT64_MAX, INT64_MIN, 0.0053287231876311125, 1.2345678901234567e19)
    for bad in (2**63, -(2**63) - 1):
        with pytest.raises(InvalidQueryError):
            await items.insert(item(2, n=bad))
    with pytest.raises(InvalidQueryError):
        await items.update(ALICE, 1, {"hi": 2**63})
    assert (await items.get(ALICE, 1))["hi"] == INT64_MAX
