"""Finding the program in an answer: the last fenced code block that is a whole program.

The system prompt asks for the whole program in one fenced block; answers also show snippets (a
line of the guide, a JSON body), which are not programs and are not validated as such: the last
block that defines `fn run` is the proposal, and an answer without one proposes no code.
"""

from __future__ import annotations

import re

from shared.limits import CODE_MAX_BYTES

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str | None:
    programs = [body for lang, body in _FENCE.findall(text) if re.search(r"\bfn\s+run\s*\(", body)]
    return _clean(programs[-1]) if programs else None


def _clean(code: str) -> str | None:
    code = code.strip("\n") + "\n"
    return code if len(code.encode()) <= CODE_MAX_BYTES else None
