"""Exceptions a running program raises to stop itself.

Runtime helpers raise these without a position: they do not know where in the program they were
called from. The runner finds the position afterwards from the traceback (see `positions.py`), so the
hot path never pays for bookkeeping that is only needed when something goes wrong.
"""

from __future__ import annotations


class LangError(Exception):
    """The program did something the language forbids (type error, unknown key, division by zero…)."""

    kind = "runtime"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LimitError(LangError):
    """The program hit a resource limit (steps, call depth, sizes, memory, wall clock)."""

    kind = "limit"
