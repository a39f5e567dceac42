"""A cache of compiled programs bounded by estimated bytes, for every process that compiles many.

A count bound alone let 512 large programs (each with big constant arrays) hold gigabytes, so the
executor's, the live runs' and the backtester's workers all use this one class.
"""

from __future__ import annotations

from collections import OrderedDict

from .compiler import CompileResult, compile_program

MIB = 1024 * 1024


class CompileCache:
    """Compiled programs by source, least recently used first out, bounded by estimated bytes.

    A count bound alone let 512 large programs (each with big constant arrays) hold gigabytes. The
    estimate counts the source, the generated Python (code objects are a few times its size) and the
    elements of constant arrays and maps; a program larger than the whole budget is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._entries: OrderedDict[str, tuple[CompileResult, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, source: str) -> CompileResult:
        entry = self._entries.get(source)
        if entry is not None:
            self._entries.move_to_end(source)
            return entry[0]
        result = compile_program(source)
        size = estimate_bytes(source, result)
        if size <= self.max_bytes:
            self._entries[source] = (result, size)
            self.used += size
            while self.used > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.used -= dropped
        return result


def estimate_bytes(source: str, result: CompileResult) -> int:
    size = 2 * len(source.encode("utf-8", "surrogatepass")) + 200 * (len(result.errors) + len(result.warnings))
    program = result.program
    if program is not None:
        size += 8 * len(program.python_source)
        for _, value in program.collection_consts:
            size += 64 * _elements(value)
    return size + 1024


def _elements(value: object) -> int:
    count = 0
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            count += len(current)
            stack.extend(v for v in current.values() if isinstance(v, dict | list))
        elif isinstance(current, list):
            count += len(current)
            stack.extend(v for v in current if isinstance(v, dict | list))
        elif isinstance(current, str):
            count += len(current) // 16
    return count
