"""The README's examples and tables are checked here, so the front door never lies."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from shared.settings import settings_table
from tests.harness import Api

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    block = README.split("<!-- settings-table")[1].split("<!-- /settings-table -->")[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+?) \|$", block, re.MULTILINE)
    documented = {name: default.strip("`") for name, default, _ in rows}
    expected = {name: ("unset" if default in ("None", "") else default) for name, default, _ in settings_table()}
    assert documented == expected


def curl_commands(section: str) -> list[list[str]]:
    body = README.split(section, 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    joined = body.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("curl")]


def parse_curl(argv: list[str]) -> tuple[str, str, str | None]:
    method, url, data = "GET", "", None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-d":
            data = next(args)
        elif arg == "-H":
            next(args)
        elif not arg.startswith("-"):
            url = arg
    return method, url, data


async def test_programs_walk_through_runs_as_written(api: Api) -> None:
    program_id = None
    for argv in curl_commands("## The programs API, by example"):
        method, url, data = parse_curl(argv)
        path = url.removeprefix("http://127.0.0.1:8080")
        if program_id is not None:
            path = path.replace("/api/programs/1", f"/api/programs/{program_id}")
        status, body = await api.call(method, path, raw=data.encode() if data else None)
        assert status in (200, 201, 204), (method, path, body)
        if program_id is None and method == "POST":
            program_id = body["id"]
    assert program_id is not None
