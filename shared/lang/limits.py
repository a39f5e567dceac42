"""Resource limits of one run, and the budget that enforces them while it runs.

Steps are counted by compiled code itself: a module-global counter `_S` in the program's globals is
decremented at every loop iteration and function entry and compared with zero, which is the cheapest
check Python offers. When it drops below zero the code calls `Budget.refill`, which hands out the next
chunk of steps (so the total is exact) and looks at the wall clock (so a slow step cannot hide). Bulk
work done by helpers (building strings and collections, scanning them) is charged to a separate data
budget, which is what bounds memory: no per-collection limit alone can stop a program from keeping
100,000 copies of a 100,000-element array.

What leaves a run is bounded by its serialized size, not by element counts: state by the characters
of its strings each time they appear (`max_state_text`), logs by bytes (`max_log_bytes`), reasons by
length. Inside a run, sharing is free (pushing one string 10,000 times stores 10,000 references),
but it can never come out of the run as 10,000 copies.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import msgspec

from shared.limits import MAX_LOG_BYTES_PER_RUN

from .errors import LimitError

STEP_CHUNK = 1024
"""Steps handed out between two looks at the wall clock."""

CLOCK_TICK = 200_000
"""Data units (elements or characters) processed between two looks at the wall clock."""


class RunLimits(msgspec.Struct, frozen=True):
    """What one run may use. Defaults are those of a live or test run (LANGUAGE.md, "Limits")."""

    steps: int = 1_000_000
    call_depth: int = 64
    max_collection: int = 100_000
    max_string: int = 1_000_000
    wall_clock_s: float = 2.0
    memory: int = 10_000_000
    """Data budget: elements, map entries and characters a run may create in total."""
    max_orders: int = 1_000
    max_logs: int = 1_000
    """Log lines kept per run; later lines are counted in one final line, not kept."""
    max_log_bytes: int = MAX_LOG_BYTES_PER_RUN
    """UTF-8 bytes of log lines kept per run; past it lines are cut and counted in the final line."""
    max_state_text: int = 1_000_000
    """Characters of strings and keys in the state a run hands back, counted every time a string
    appears (a string stored 1,000 times is written out 1,000 times)."""
    max_reason: int = 1_000
    """Characters of one order or hold reason."""

    @classmethod
    def backtest(cls, **overrides: Any) -> RunLimits:
        """Limits for one bar of a backtest: a smaller step and data budget, the rest as live."""
        values: dict[str, Any] = {"steps": 10_000, "memory": 1_000_000}
        values.update(overrides)
        return cls(**values)


def _count(n: float) -> str:
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,}"


class Budget:
    """Enforces one run's limits. One instance per runner, reset at the start of every run."""

    __slots__ = ("data_left", "deadline", "first_chunk", "globals", "granted", "limits", "started", "tick")

    def __init__(self, limits: RunLimits, program_globals: dict[str, Any]) -> None:
        self.limits = limits
        self.globals = program_globals
        self.granted = 0
        self.data_left = 0
        self.tick = 0
        self.deadline = 0.0
        self.started = 0.0
        self.first_chunk = min(STEP_CHUNK, limits.steps)

    def start(self) -> float:
        """Reset for a new run; returns its start time (`perf_counter`)."""
        first = self.first_chunk
        self.granted = first
        self.globals["_S"] = first
        self.data_left = self.limits.memory
        self.tick = CLOCK_TICK
        self.started = started = perf_counter()
        self.deadline = started + self.limits.wall_clock_s
        return started

    def steps_used(self) -> int:
        return min(self.granted - self.globals["_S"], self.limits.steps)

    def refill(self) -> None:
        """Called by compiled code when the step counter went below zero."""
        program_globals = self.globals
        left = program_globals["_S"]
        if self.granted - left > self.limits.steps:
            raise LimitError(f"step limit exceeded ({_count(self.limits.steps)} steps)")
        self.check_clock()
        chunk = min(STEP_CHUNK, self.limits.steps - self.granted)
        self.granted += chunk
        program_globals["_S"] = left + chunk

    def enter(self, depth_left: int) -> None:
        """Slow path of a function's prologue: out of steps, or too deep."""
        if self.globals["_S"] < 0:
            self.refill()
        if depth_left < 0:
            raise LimitError(f"call depth limit exceeded ({self.limits.call_depth} nested calls)")

    def check_clock(self) -> None:
        if perf_counter() > self.deadline:
            raise LimitError(f"time limit exceeded ({_count(self.limits.wall_clock_s)} s)")

    def charge(self, units: int) -> None:
        """Account for `units` elements or characters about to be created."""
        self.data_left -= units
        if self.data_left < 0:
            raise LimitError(
                f"memory limit exceeded (the run created more than {_count(self.limits.memory)} values and characters)"
            )
        self.scan(units)

    def scan(self, units: int) -> None:
        """Account for `units` elements or characters about to be looked at (time only)."""
        self.tick -= units
        if self.tick < 0:
            self.tick = CLOCK_TICK
            self.check_clock()

    def check_string(self, length: int) -> None:
        if length > self.limits.max_string:
            raise LimitError(f"string too long (more than {_count(self.limits.max_string)} characters)")
        self.charge(length)

    def check_collection(self, size: int, what: str = "array") -> None:
        if size > self.limits.max_collection:
            raise LimitError(f"{what} too large (more than {_count(self.limits.max_collection)} elements)")
