"""The README's examples and tables are checked here, so the front door never lies."""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shared.settings import settings_table
from tests.harness import Api

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    block = README.split("<!-- settings-table")[1].split("<!-- /settings-table -->")[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+?) \|$", block, re.MULTILINE)
    documented = {name: default.strip("`") for name, default, _ in rows}
    expected = {name: ("unset" if default in ("None", "") else default) for name, default, _ in settings_table()}
    assert documented == expected


def shell_lines(section: str) -> list[str]:
    body = README.split(section, 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    joined = body.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def parse_curl(argv: list[str], files: dict[str, str]) -> tuple[str, str, str | None, dict[str, str]]:
    method, url, data, headers = "GET", "", None, {}
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-d":
            data = next(args)
            method = "POST" if method == "GET" else method
        elif arg == "--data-binary":
            data = files[next(args).removeprefix("@")]
            method = "POST" if method == "GET" else method
        elif arg == "-H":
            name, _, value = next(args).partition(": ")
            headers[name] = value
        elif not arg.startswith("-"):
            url = arg
    return method, url, data, headers


async def walk_through(api: Api, section: str, rewrite: Callable[[str], str] = str) -> AsyncIterator[tuple[str, object]]:
    """Runs the section's curl lines (and the `printf … > file` lines that make files for them) against
    the test platform, yielding (method, reply body); `rewrite` adjusts each path just before its call."""
    files: dict[str, str] = {}
    for line in shell_lines(section):
        argv = shlex.split(line)
        if argv[0] == "printf":
            files[argv[-1]] = argv[1].encode().decode("unicode_escape")
            continue
        method, url, data, headers = parse_curl(argv, files)
        path = rewrite(url.removeprefix("http://127.0.0.1:8080"))
        status, body = await api.call(method, path, raw=data.encode() if data else None, headers=headers)
        assert status in (200, 201, 204), (method, path, body)
        yield method, body


async def test_programs_walk_through_runs_as_written(api: Api) -> None:
    created: dict[str, int] = {}

    def to_created_program(path: str) -> str:  # the walk-through's `/1` is the program it created
        return path.replace("/api/programs/1", f"/api/programs/{created['id']}") if created else path

    calls = 0
    async for method, body in walk_through(api, "## The programs API, by example", to_created_program):
        calls += 1
        if not created and method == "POST" and isinstance(body, dict):
            created["id"] = body["id"]
    assert calls == 9 and created


@pytest.mark.parametrize(("section", "calls"), [("## Market data, by example", 4), ("## Programs: validate, test-run, the guide", 3)])
async def test_walk_through_runs_as_written(api: Api, section: str, calls: int) -> None:
    assert len([reply async for reply in walk_through(api, section)]) == calls
