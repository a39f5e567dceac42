"""The program authors' guide served at `GET /api/programs/dev-guide`, and the example programs in it.

The guide is a Markdown file kept beside its examples (`guide/examples/*.hyp`); a test compiles and runs
every example and checks that the guide shows each one as it is, so the guide cannot drift from the
language. Sections kept in their own files (`SECTIONS`, e.g. the backtest metrics written with the
engine) are appended in order and listed at the end of the guide's contents, so one document is served.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

GUIDE_DIR = Path(__file__).parent / "guide"
SECTIONS = ("backtests.md",)
"""Files appended to `dev-guide.md`, each starting with its `## ` heading."""
CONTENTS_END = "\n12. Checklist\n"
"""The last line of the guide's contents list; appended sections are numbered after it."""


@cache
def dev_guide() -> str:
    guide = (GUIDE_DIR / "dev-guide.md").read_text()
    parts = [guide.rstrip("\n")]
    entries = []
    for number, name in enumerate(SECTIONS, start=13):
        text = (GUIDE_DIR / name).read_text().strip("\n")
        title = text.splitlines()[0].removeprefix("## ").strip()
        entries.append(f"{number}. {title}")
        parts.append(text)
    if entries and CONTENTS_END in parts[0]:
        parts[0] = parts[0].replace(CONTENTS_END, CONTENTS_END + "".join(f"{entry}\n" for entry in entries), 1)
    return "\n\n".join(parts) + "\n"


def examples() -> dict[str, str]:
    """Example name → program source."""
    return {path.stem: path.read_text() for path in sorted((GUIDE_DIR / "examples").glob("*.hyp"))}
