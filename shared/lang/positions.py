"""Where in the program a runtime error happened, found after the fact from the Python traceback.

The compiler records, for every line of generated Python, the program position of its statement and
the column span of every generated sub-expression ("marks"). When a run fails, the innermost frame of
compiled code tells which instruction failed (`tb_lasti`), Python's `co_positions()` gives that
instruction's column span, and the smallest mark containing the span is the program expression that
failed. Nothing of this costs anything while the program runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

Mark = tuple[int, int, int, int]
"""(start column, end column, program line, program column) within one generated line."""


@dataclass(slots=True, frozen=True)
class LineInfo:
    line: int
    col: int
    report_caller: bool
    """True for a function's prologue: a limit hit there is reported where the function was called."""
    marks: tuple[Mark, ...]


class PositionMap:
    def __init__(self, filename: str, lines: list[LineInfo]) -> None:
        self.filename = filename
        self.lines = lines

    def lookup(self, pyline: int, start: int | None, end: int | None) -> tuple[int, int, bool]:
        info = self.lines[pyline - 1] if 0 < pyline <= len(self.lines) else None
        if info is None:
            return 0, 0, False
        best: Mark | None = None
        if start is not None and end is not None:
            for mark in info.marks:
                if mark[0] <= start and end <= mark[1] and (best is None or mark[1] - mark[0] < best[1] - best[0]):
                    best = mark
        if best is not None:
            return best[2], best[3], False
        return info.line, info.col, info.report_caller

    def locate(self, tb: TracebackType | None) -> tuple[int, int]:
        """Program (line, column) of the failure in `tb`, or (0, 0) when it is not in the program."""
        frames: list[tuple[int, int]] = []
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == self.filename:
                positions = list(code.co_positions())
                index = tb.tb_lasti // 2
                if 0 <= index < len(positions):
                    pyline, _, start, end = positions[index]
                    frames.append((pyline or tb.tb_lineno, start, end))  # type: ignore[arg-type]
                else:
                    frames.append((tb.tb_lineno, None, None))  # type: ignore[arg-type]
            tb = tb.tb_next
        for pyline, start, end in reversed(frames):
            line, col, report_caller = self.lookup(pyline, start, end)
            if not report_caller or len(frames) == 1:
                return line, col
        return 0, 0
