"""The README's examples and tables are checked here, so the front door never lies."""

from __future__ import annotations

import asyncio
import json
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


async def walk_through(
    api: Api, section: str, rewrite: Callable[[str], str] = str, rewrite_body: Callable[[str], str] = str
) -> AsyncIterator[tuple[str, object]]:
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
        data = rewrite_body(data) if data else data
        status, body = await api.call(method, path, raw=data.encode() if data else None, headers=headers)
        assert status in (200, 201, 202, 204), (method, path, body)
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


async def test_backtests_walk_through_runs_as_written(api: Api) -> None:
    """The section's ids are stand-ins: 1 is the program it created, bt-0123… its first job, bt-fedc… its second."""
    ids: dict[str, str] = {}

    def to_created(path: str) -> str:
        if "program" in ids:
            path = path.replace("/api/programs/1/", f"/api/programs/{ids['program']}/").replace("program_id=1&", f"program_id={ids['program']}&")
        for stand_in, key in (("bt-0123456789abcdef", "first"), ("bt-fedcba9876543210", "second")):
            if key in ids:
                path = path.replace(stand_in, ids[key]).replace("trig-" + stand_in[3:], "trig-" + ids[key][3:])
        return path

    replies = []
    async for method, body in walk_through(api, "## Backtests, by example", to_created):
        replies.append(body)
        if method == "POST" and isinstance(body, dict) and "program" not in ids:
            ids["program"] = str(body["id"])
        elif method == "POST" and isinstance(body, dict) and "backtest_id" in body and "first" not in ids:
            ids["first"] = body["backtest_id"]
            async with asyncio.timeout(60):  # let it finish before the walk-through reads its results
                while (await api.get(f"/api/programs/backtest/{ids['first']}"))[1]["status"] in ("queued", "running"):
                    await asyncio.sleep(0.1)
        elif method == "POST" and isinstance(body, dict) and "backtest_id" in body and "second" not in ids:
            ids["second"] = body["backtest_id"]
    assert len(replies) == 11
    record, history = replies[4], replies[-1]
    assert record["status"] == "completed" and record["fee_rate"] == 0.001 and record["total_trades"] >= 1
    assert replies[3] == {"backtest_id": ids["second"], "status": "cancelled"}
    assert [row["id"] for row in history] == [ids["first"]]
    assert replies[7]["context"]["indicators"]


async def test_live_resources_walk_through_runs_as_written(api: Api) -> None:
    """The walk-through's ids (program 6, account 1, pool 1, bindings 1 and 2) are those of a fresh
    `make up`; here each is mapped to the id its create call returned, in paths, queries and bodies."""
    ids: dict[str, list[int]] = {"programs": [], "accounts": [], "signal-pools": [], "bindings": []}
    readme = {"programs": [6], "accounts": [1], "signal-pools": [1], "bindings": [1, 2]}
    last = {"path": ""}

    def real(kind: str, written: str) -> str:
        return str(ids[kind][readme[kind].index(int(written))])

    def rewrite(path: str) -> str:
        path = re.sub(r"/api/programs/(accounts|signal-pools|bindings)/(\d+)", lambda m: f"/api/programs/{m[1]}/{real(m[1], m[2])}", path)
        path = re.sub(r"account_id=(\d+)", lambda m: f"account_id={real('accounts', m[1])}", path)
        last["path"] = path
        return path

    def rewrite_body(data: str) -> str:
        data = re.sub(r'"program_id": (\d+)', lambda m: f'"program_id": {real("programs", m[1])}', data)
        data = re.sub(r'"account_id": (\d+)', lambda m: f'"account_id": {real("accounts", m[1])}', data)
        return re.sub(r'"signal_pool_ids": \[(\d+)\]', lambda m: f'"signal_pool_ids": [{real("signal-pools", m[1])}]', data)

    replies = []
    async for method, body in walk_through(api, "## Accounts, signal pools and bindings, by example", rewrite, rewrite_body):
        replies.append(body)
        created = re.fullmatch(r"/api/programs/(accounts|signal-pools|bindings)?/?", last["path"])
        if method == "POST" and created:
            ids[created[1] or "programs"].append(body["id"])  # type: ignore[index]
    assert len(replies) == 12
    assert {kind: len(made) for kind, made in ids.items()} == {"programs": 1, "accounts": 1, "signal-pools": 1, "bindings": 2}
    assert replies[-1]["balance"] == 10000 and replies[-1]["id"] == ids["accounts"][0]  # type: ignore[index]


async def test_ai_assistant_walk_through_runs_as_written(api: Api) -> None:
    """Run as written; the streamed call's body is Server-Sent Events, ending with the `done` reply."""
    from tests.e2e.test_ai_api import parse_sse

    replies = []
    for line in shell_lines("## AI assistant"):
        method, url, data, headers = parse_curl(shlex.split(line), {})
        async with api.session.request(
            method, api.base_url + url.removeprefix("http://127.0.0.1:8080"), data=data.encode() if data else None,
            headers={"X-Owner": api.owner, **headers},
        ) as response:
            assert response.status == 200, await response.text()
            text = await response.text()
        replies.append(parse_sse(text)[-1][1] if response.content_type == "text/event-stream" else json.loads(text))
    assert len(replies) == 3
    answer, streamed, conversations = replies
    assert answer["provider"] == "builtin" and answer["diagnostics"]["valid"] and "ctx.rsi" in answer["code"]
    assert streamed["provider"] == "builtin" and "spacing_pct" in streamed["code"]
    assert {c["id"] for c in conversations} == {answer["conversation_id"], streamed["conversation_id"]}
