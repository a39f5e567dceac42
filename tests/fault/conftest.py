"""Fault suite: every test here is marked `fault`; the shared fixtures live in `tests/fault/platform.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.platform import up_platform  # noqa: F401  (a fixture, re-exported for every module here)

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)
