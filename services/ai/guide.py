"""The dev guide as the assistant reads it: sections by heading, and the example strategies' code.

The guide belongs to the executor (`GET /api/programs/dev-guide`, tested against the language: its
five example programs compile and run). The ai service asks the executor for it over NATS once and
keeps it, so the system prompt, the `read_guide_section` tool and the built-in assistant's templates
all come from the one tested text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.context import RequestContext

_HEADING = re.compile(r"^(#{2,3}) (.+)$", re.MULTILINE)
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)

EXAMPLE_TITLES = {
    "grid": "Grid trading",
    "rsi": "RSI mean reversion",
    "crossover": "SMA/EMA crossover",
    "breakout": "Breakout with ATR stop",
    "dca": "DCA (dollar-cost averaging)",
}


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    level: int
    text: str
    """The section's body, its sub-sections included for a `##` section."""


class Guide:
    def __init__(self, text: str) -> None:
        self.text = text
        self.digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        self.sections: list[Section] = []
        marks = list(_HEADING.finditer(text))
        for i, mark in enumerate(marks):
            level = len(mark.group(1))
            end = len(text)
            for later in marks[i + 1 :]:
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            self.sections.append(Section(mark.group(2).strip(), level, text[mark.end() : end].strip()))

    def section(self, query: str) -> Section | None:
        """The section whose title best matches `query` (exact, then contained, then most shared words)."""
        wanted = _normal(query)
        if not wanted:
            return None
        for section in self.sections:
            if _normal(section.title) == wanted:
                return section
        containing = [s for s in self.sections if wanted in _normal(s.title)]
        if containing:
            return min(containing, key=lambda s: len(s.title))
        words = set(re.findall(r"[a-z0-9_.]+", wanted))
        scored = [(len(words & set(re.findall(r"[a-z0-9_.]+", _normal(s.title)))), s) for s in self.sections]
        best = max(scored, key=lambda pair: pair[0], default=(0, None))
        return best[1] if best[0] > 0 else None

    def titles(self) -> list[str]:
        return [s.title for s in self.sections]

    def example(self, key: str) -> str:
        """The code of one example strategy (`EXAMPLE_TITLES` keys)."""
        section = self.section(EXAMPLE_TITLES[key])
        block = _FENCE.search(section.text) if section else None
        if block is None:
            raise LookupError(f"the dev guide has no example `{EXAMPLE_TITLES[key]}`")
        return block.group(1)


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("`", "").split())


class GuideBook:
    """Fetches the guide once (through `fetch`, a call to the executor) and keeps it."""

    def __init__(self, fetch: Callable[[RequestContext], Awaitable[str]]) -> None:
        self._fetch = fetch
        self._guide: Guide | None = None

    async def load(self, ctx: RequestContext) -> Guide:
        if self._guide is None:
            self._guide = Guide(await self._fetch(ctx))
        return self._guide

    @property
    def cached(self) -> Guide:
        if self._guide is None:
            raise RuntimeError("the guide is loaded at the start of every answer")
        return self._guide
