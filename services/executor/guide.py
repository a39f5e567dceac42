"""The program authors' guide served at `GET /api/programs/dev-guide`, and the example programs in it.

The guide is a Markdown file kept beside its examples (`guide/examples/*.hyp`); a test compiles and runs
every example and checks that the guide shows each one as it is, so the guide cannot drift from the
language.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

GUIDE_DIR = Path(__file__).parent / "guide"


@cache
def dev_guide() -> str:
    return (GUIDE_DIR / "dev-guide.md").read_text()


def examples() -> dict[str, str]:
    """Example name → program source."""
    return {path.stem: path.read_text() for path in sorted((GUIDE_DIR / "examples").glob("*.hyp"))}
