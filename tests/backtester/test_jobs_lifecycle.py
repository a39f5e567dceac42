"""The one job transition table: every allowed move, and every other move refused."""

from __future__ import annotations

import itertools

import pytest

from shared.jobs import STATUSES, TERMINAL, IllegalTransition, can_transition, is_terminal, transition

ALLOWED = {
    ("queued", "running"),  # a replica claimed it
    ("queued", "cancelled"),  # cancelled before any replica took it
    ("queued", "failed"),  # gave up / message lost
    ("running", "running"),  # redelivered and claimed again
    ("running", "queued"),  # start-up recovery put it back
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(STATUSES, STATUSES)))
def test_only_the_moves_of_the_table_are_allowed(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) == target
        assert can_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(current, target)
        assert (raised.value.current, raised.value.target) == (current, target)
        assert not can_transition(current, target)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_states_never_change(status: str) -> None:
    assert is_terminal(status)
    for target in STATUSES:
        with pytest.raises(IllegalTransition):
            transition(status, target)


def test_unknown_states_are_refused_both_ways() -> None:
    with pytest.raises(IllegalTransition):
        transition("queued", "paused")
    with pytest.raises(IllegalTransition):
        transition("paused", "running")
    assert not is_terminal("queued") and not is_terminal("running")
