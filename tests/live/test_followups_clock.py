"""One sped-up market clock for every process: `MARKET_CLOCK_ANCHOR`, and how `hyperoru up` picks and keeps it."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from shared.market.factory import ANCHOR_ENV, ANCHOR_FILE, open_market_data, parse_clock_anchor, shared_clock_anchor
from shared.market.market_data import build_market_data
from shared.market.store_sqlite import SqliteCandleStore
from shared.settings import SettingsError, load_settings
from shared.timefmt import now_ms, parse_time

ANCHOR = parse_time("2026-01-01T00:00:00Z")


class Wall:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def test_processes_started_apart_agree_with_a_shared_anchor(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "c.db")
    wall = Wall(ANCHOR + 10_000)
    first = build_market_data(store, clock=wall, live_speed=30, clock_anchor_ms=ANCHOR)
    wall.t += 7_000  # a replica (or a restart) starting 7 s later
    second = build_market_data(store, clock=wall, live_speed=30, clock_anchor_ms=ANCHOR)
    alone = build_market_data(store, clock=wall, live_speed=30)
    wall.t += 2_000
    assert first.now() == second.now() == ANCHOR + 19_000 * 30
    assert alone.now() != first.now()  # anchored at its own start-up: the disagreement this setting removes
    assert build_market_data(store, clock=wall, clock_anchor_ms=ANCHOR).now() == wall.t  # speed 1: the wall clock


def test_anchor_parses_epoch_ms_and_iso_and_names_itself_when_bad() -> None:
    assert parse_clock_anchor(None) is None and parse_clock_anchor(" ") is None
    assert parse_clock_anchor(str(ANCHOR)) == ANCHOR == parse_clock_anchor("2026-01-01T00:00:00Z") == parse_clock_anchor("2026-01-01")
    assert load_settings({ANCHOR_ENV: "2026-01-01T00:00:00Z"}).market_clock_anchor == "2026-01-01T00:00:00Z"
    with pytest.raises(SettingsError, match=ANCHOR_ENV):
        load_settings({ANCHOR_ENV: "yesterday"})
    with pytest.raises(SettingsError, match=ANCHOR_ENV):
        parse_clock_anchor("2026-13-45")


async def test_services_read_the_anchor_from_settings(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "MARKET_LIVE_SPEED": "60", ANCHOR_ENV: str(ANCHOR)})
    async with AsyncExitStack() as stack:
        market, _ = await open_market_data(settings, stack)
        before = now_ms()
        now = market.now()
        after = now_ms()
    assert ANCHOR + (before - ANCHOR) * 60 <= now <= ANCHOR + (after - ANCHOR) * 60


def test_hyperoru_up_keeps_one_anchor_in_the_data_dir(tmp_path: Path) -> None:
    assert shared_clock_anchor(tmp_path, {}) == {}  # speed 1: market time is the wall clock, nothing written
    assert not (tmp_path / ANCHOR_FILE).exists()

    env = {"MARKET_LIVE_SPEED": "30"}
    first = shared_clock_anchor(tmp_path, env)
    stored = json.loads((tmp_path / ANCHOR_FILE).read_text())
    assert first == {ANCHOR_ENV: str(stored["anchor_ms"])} and stored["speed"] == 30
    assert shared_clock_anchor(tmp_path, env) == first  # a restart continues the same market clock
    assert load_settings({**env, **first}).market_clock_anchor == first[ANCHOR_ENV]  # children accept it

    other_speed = shared_clock_anchor(tmp_path, {"MARKET_LIVE_SPEED": "10"})
    assert json.loads((tmp_path / ANCHOR_FILE).read_text())["speed"] == 10
    assert int(other_speed[ANCHOR_ENV]) >= int(first[ANCHOR_ENV])  # a new speed starts a new clock

    (tmp_path / ANCHOR_FILE).write_text("{half a fi")  # unreadable (should not happen: replaced atomically)
    assert ANCHOR_ENV in shared_clock_anchor(tmp_path, env)
    # an anchor given by the operator wins over the stored one
    assert shared_clock_anchor(tmp_path, {**env, ANCHOR_ENV: "2026-01-01"}) == {ANCHOR_ENV: "2026-01-01"}
    with pytest.raises(SettingsError):
        shared_clock_anchor(tmp_path, {**env, ANCHOR_ENV: "2026-99-01"})
