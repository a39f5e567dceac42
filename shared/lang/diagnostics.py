"""Compile diagnostics: where (line, column, both 1-based) and what, in words a trader understands."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import msgspec

MAX_ERRORS = 50
"""Errors reported per compile; past that the program is too broken for more to help."""


class Diagnostic(msgspec.Struct, frozen=True):
    line: int
    column: int
    message: str


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` — did you mean `price`?` when a candidate is close to `name`, else an empty string."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" — did you mean `{close[0]}`?" if close else ""


class Diagnostics:
    """Collects errors and warnings of one compile, without duplicates, in source order."""

    def __init__(self) -> None:
        self._errors: dict[tuple[int, int, str], Diagnostic] = {}
        self._warnings: dict[tuple[int, int, str], Diagnostic] = {}

    def error(self, line: int, column: int, message: str) -> None:
        if len(self._errors) < MAX_ERRORS:
            self._errors.setdefault((line, column, message), Diagnostic(line, column, message))

    def warning(self, line: int, column: int, message: str) -> None:
        if len(self._warnings) < MAX_ERRORS:
            self._warnings.setdefault((line, column, message), Diagnostic(line, column, message))

    @property
    def full(self) -> bool:
        return len(self._errors) >= MAX_ERRORS

    @property
    def has_errors(self) -> bool:
        return bool(self._errors)

    def errors(self) -> list[Diagnostic]:
        return sorted(self._errors.values(), key=lambda d: (d.line, d.column))

    def warnings(self) -> list[Diagnostic]:
        return sorted(self._warnings.values(), key=lambda d: (d.line, d.column))
