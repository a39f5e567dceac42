"""Schedules: interval and cron next-fire times on the market clock, and the fire times a backtest replays."""

from __future__ import annotations

import numpy as np
import pytest

from shared.signals import SignalError, next_fire, parse_schedule
from shared.signals.schedule import fire_times
from shared.timefmt import parse_time, to_iso

T0 = parse_time("2026-04-09T12:00:00Z")  # a Thursday


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ({"interval": "15m"}, "2026-04-09T12:00:00Z", "2026-04-09T12:15:00Z"),  # strictly after
        ({"interval": "15m"}, "2026-04-09T12:07:31Z", "2026-04-09T12:15:00Z"),
        ({"interval": "1m"}, "2026-04-09T12:00:59.999Z", "2026-04-09T12:01:00Z"),
        ({"interval": "4h"}, "2026-04-09T13:00:00Z", "2026-04-09T16:00:00Z"),  # epoch-aligned, like candles
        ({"interval": "1d"}, "2026-04-09T12:00:00Z", "2026-04-10T00:00:00Z"),
        ({"interval": "90m"}, "2026-04-09T12:00:00Z", "2026-04-09T13:30:00Z"),
        ({"cron": "*/15 * * * *"}, "2026-04-09T12:00:00Z", "2026-04-09T12:15:00Z"),
        ({"cron": "*/15 * * * *"}, "2026-04-09T12:14:59Z", "2026-04-09T12:15:00Z"),
        ({"cron": "0 9 * * MON"}, "2026-04-09T12:00:00Z", "2026-04-13T09:00:00Z"),
        ({"cron": "30 0 1 * *"}, "2026-04-09T12:00:00Z", "2026-05-01T00:30:00Z"),
        ({"cron": "0  0   * * *"}, "2026-04-09T23:59:00Z", "2026-04-10T00:00:00Z"),  # extra spaces are fine
    ],
)
def test_next_fire(schedule: dict[str, str], after: str, expected: str) -> None:
    assert to_iso(next_fire(parse_schedule(schedule), parse_time(after))) == expected


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({}, "schedule"),
        ({"interval": "15m", "cron": "* * * * *"}, "schedule"),
        ({"every": "15m"}, "schedule.every"),
        ({"interval": "15"}, "schedule.interval"),
        ({"interval": "30s"}, "schedule.interval"),
        ({"interval": "0m"}, "schedule.interval"),
        ({"interval": "8d"}, "schedule.interval"),
        ({"interval": "fifteen minutes"}, "schedule.interval"),
        ({"cron": "61 * * * *"}, "schedule.cron"),
        ({"cron": "* * * *"}, "schedule.cron"),
        ({"cron": "0 * * * * *"}, "schedule.cron"),  # seconds: refused
        ({"cron": "0 0 30 2 *"}, "schedule.cron"),  # never fires
        ({"cron": ""}, "schedule.cron"),
    ],
)
def test_bad_schedules_name_their_field(schedule: dict[str, str], field: str) -> None:
    with pytest.raises(SignalError) as caught:
        parse_schedule(schedule)
    assert caught.value.field == field
    assert caught.value.message


@pytest.mark.parametrize("schedule", [{"interval": "15m"}, {"interval": "1h"}, {"cron": "*/15 * * * *"}, {"cron": "5 */2 * * *"}])
def test_fire_times_are_the_chain_of_next_fire(schedule: dict[str, str]) -> None:
    """The backtest's list and the live clock's step-by-step view agree."""
    parsed = parse_schedule(schedule)
    start, end = T0 - 7, T0 + 2 * 86_400_000
    times = fire_times(parsed, start, end)
    chain, t = [], start
    while (t := next_fire(parsed, t)) <= end:
        chain.append(t)
    assert times.tolist() == chain
    assert len(chain) > 10
    assert np.all(np.diff(times) > 0)


def test_interval_and_equivalent_cron_fire_together() -> None:
    a = fire_times(parse_schedule({"interval": "15m"}), T0, T0 + 86_400_000)
    b = fire_times(parse_schedule({"cron": "*/15 * * * *"}), T0, T0 + 86_400_000)
    assert a.tolist() == b.tolist() and len(a) == 96


def test_schedule_round_trips_to_its_doc() -> None:
    assert parse_schedule({"cron": " */5  * * * * "}).to_doc() == {"cron": "*/5 * * * *"}
    assert parse_schedule({"interval": "1h"}).to_doc() == {"interval": "1h"}
