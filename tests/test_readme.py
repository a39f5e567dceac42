"""The README's examples and tables are checked here, so the front door never lies.

Every shell walk-through runs as a user would paste it after `make up`, against the test platform:
- `curl …` lines are sent as written (method, path, headers, body; `-d` without a Content-Type header
  is a form post, as curl makes it); only the host changes, and the test adds its `X-Owner` (the test
  platform's gateway trusts it from loopback). Every call must answer 2xx.
- `NAME=$(curl … | python3 -c '…')` sends the curl and runs the python3 snippet, as written, in a real
  python3 subprocess on the reply's text; what it prints is `$NAME` from then on.
- `until curl … | python3 -c '…'; do sleep N; done` repeats until the snippet exits 0 (bounded here).
- `$NAME` and `${NAME}` are expanded as the shell does: not inside single quotes, and a variable that
  was never set fails the test (`set -u`). `printf '…' > file` makes a file for `--data-binary @file`.
Anything else in a walk-through fails the test, so the README cannot grow a line nobody ran.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared import subjects
from shared.settings import settings_table
from tests.harness import Api, RunningPlatform

README = (Path(__file__).parent.parent / "README.md").read_text()
HOST = "http://127.0.0.1:8080"
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_]\w*)=\$\((.*)\)")
UNTIL = re.compile(r"until (.*); do sleep (\d+(?:\.\d+)?); done")
VALUE = re.compile(r"[\w.:-]+")
"""What a walk-through may keep in a variable: ids and tokens (nothing the shell would split or quote)."""
WAIT_S = 120


def section(title: str) -> str:
    """The README's text from the heading `title` to the next `## ` heading."""
    assert README.count(f"\n{title}\n") == 1, f"README has no single heading {title!r}"
    return README.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0]


def shell_lines(title: str) -> list[str]:
    """The section's first ```sh block: continuation lines joined, comment lines dropped."""
    body = section(title).split("```sh\n", 1)[1].split("```", 1)[0]
    joined = body.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def expand(line: str, env: dict[str, str] | None) -> str:
    """`line` with its variables expanded where the shell would (`env` None: none expanded), and a
    trailing `# comment` dropped."""
    out: list[str] = []
    quote, i = "", 0
    while i < len(line):
        char = line[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            out.append(line[i : i + 2])
            i += 2
            continue
        elif char == '"':
            quote = "" if quote == '"' else '"'
        elif char == "'" and not quote:
            quote = "'"
        elif char == "#" and not quote and (i == 0 or line[i - 1].isspace()):
            break
        elif char == "$" and env is not None and (match := VARIABLE.match(line, i)):
            name = match[1] or match[2]
            assert name in env, f"the README uses ${name} before it sets it: {line}"
            out.append(env[name])
            i = match.end()
            continue
        out.append(char)
        i += 1
    assert not quote, f"unbalanced quotes: {line}"
    return "".join(out).rstrip()


@dataclass
class Reply:
    method: str
    path: str
    status: int
    content_type: str
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


Sender = Callable[[str, str, bytes | None, dict[str, str]], Awaitable[Reply]]


def api_sender(api: Api, base_url: str | None = None, *, as_owner: bool = True) -> Sender:
    """Sends a request the way curl would, to the test platform (as `api`'s owner unless told not to)."""

    async def send(method: str, path: str, data: bytes | None, headers: dict[str, str]) -> Reply:
        sent = {subjects.OWNER_HEADER: api.owner, **headers} if as_owner else dict(headers)
        async with api.session.request(method, (base_url or api.base_url) + path, data=data, headers=sent) as response:
            return Reply(method, path, response.status, response.content_type, await response.text())

    return send


@dataclass
class Shell:
    """Runs one walk-through; `env` holds its variables, `replies` every curl's reply in order."""

    send: Sender
    run_command: Callable[[list[str]], str] | None = None
    """Runs a non-curl command (e.g. `hyperoru token create`) and returns its stdout; None: not allowed."""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)

    async def run(self, title: str) -> Shell:
        for line in shell_lines(title):
            await self.line(line)
        return self

    async def line(self, line: str) -> None:
        line = expand(line, None)
        if match := ASSIGNMENT.fullmatch(line):
            name, inner = match[1], expand(match[2], self.env)
            value = (await self._pipeline(inner)).strip()
            assert VALUE.fullmatch(value), f"{name} would be {value!r}: {line}"
            self.env[name] = value
        elif match := UNTIL.fullmatch(line):
            async with asyncio.timeout(WAIT_S):
                while (await self._exit_code(expand(match[1], self.env), keep=False))[0] != 0:
                    await asyncio.sleep(float(match[2]) / 10)  # the test polls faster than a person would
        else:
            argv = shlex.split(expand(line, self.env))
            if argv[0] == "printf":
                assert argv[-2] == ">", line
                self.files[argv[-1]] = argv[1].encode().decode("unicode_escape").encode()
            elif argv[0] == "curl":
                await self.curl(argv)
            else:
                assert self.run_command, f"not a command this walk-through may run: {line}"
                self.run_command(argv)

    async def _pipeline(self, inner: str) -> str:
        returncode, out = await self._exit_code(inner)
        assert returncode == 0, (inner, out)
        return out

    async def _exit_code(self, inner: str, *, keep: bool = True) -> tuple[int, str]:
        """(exit code, stdout) of `command` or `command | python3 -c '…'`; `keep`: its reply goes in `replies`."""
        argv = shlex.split(inner)
        command = argv[: argv.index("|")] if "|" in argv else argv
        if command[0] == "curl":
            out = (await self.curl(command, keep=keep)).text
        else:
            assert self.run_command, f"not a command this walk-through may run: {inner}"
            out = self.run_command(command)
        return await python3(argv[argv.index("|") + 1 :], out) if "|" in argv else (0, out)

    async def curl(self, argv: list[str], *, keep: bool = True) -> Reply:
        method, url, data, headers = parse_curl(argv, self.files)
        assert url.startswith(HOST + "/"), f"examples call {HOST}: {argv}"
        reply = await self.send(method, url.removeprefix(HOST), data, headers)
        assert 200 <= reply.status < 300, (method, url, reply.status, reply.text)
        if keep:
            self.replies.append(reply)
        return reply


def parse_curl(argv: list[str], files: dict[str, bytes]) -> tuple[str, str, bytes | None, dict[str, str]]:
    """The request a curl command line makes (the options the README uses; any other fails)."""
    method, url, data, headers = "", "", None, {}
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg in ("-d", "--data-binary"):
            value = next(args)
            data = files[value[1:]] if arg == "--data-binary" and value.startswith("@") else value.encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")  # curl's, unless -H says
        elif arg == "-H":
            name, _, value = next(args).partition(": ")
            headers[name] = value
        elif arg in ("-s", "-N"):
            pass
        else:
            assert not arg.startswith("-") and not url, f"curl option the test does not know: {arg} in {argv}"
            url = arg
    return method or ("POST" if data is not None else "GET"), url, data, headers


async def python3(argv: list[str], stdin: str) -> tuple[int, str]:
    """Runs `python3 -c SNIPPET` (the README's extraction) on `stdin`, in a real interpreter."""
    assert len(argv) == 3 and argv[:2] == ["python3", "-c"], f"a pipe goes into python3 -c '…': {argv}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", argv[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate(stdin.encode())
    assert process.returncode == 0 or (process.returncode == 1 and not err), err.decode()  # 1: `sys.exit(True)`
    return process.returncode or 0, out.decode()


async def walk(api: Api, title: str) -> Shell:
    return await Shell(api_sender(api)).run(title)


# -- the tables --------------------------------------------------------------------------------------------


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    block = README.split("<!-- settings-table")[1].split("<!-- /settings-table -->")[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+?) \|$", block, re.MULTILINE)
    documented = [(name, default.strip("`")) for name, default, _ in rows]
    expected = [(name, "unset" if default in ("None", "") else default) for name, default, _ in settings_table()]
    assert documented == expected  # every setting, its default, in the order of shared/settings.py


def test_events_table_names_every_event_subject() -> None:
    table = section("## The programs API, by example").split("**Events.**", 1)[1].split("\n\n", 2)[1]
    documented = set()
    for cell in re.findall(r"^\| (.+?) \| ", table, re.MULTILINE)[2:]:
        for written in re.findall(r"`(evt\.[^`]+)`", cell):
            base, _, pasts = written.replace("\\|", "|").rpartition(".")
            documented |= {f"{base}.{past}" for past in pasts.split("|")}
    published = {value for name, value in vars(subjects).items() if name.startswith("EVT_")}
    assert documented == published


def test_dependency_table_lists_what_pyproject_declares() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=;\[ ]", requirement, maxsplit=1)[0].lower() for requirement in
                project["dependencies"] + project["optional-dependencies"]["test"]}  # fmt: skip
    table = section("## Dependencies, and why each")
    documented = set()
    for cell in re.findall(r"^\| ([^|]+?) \| ", table, re.MULTILINE)[2:]:
        if "not a Python package" not in cell:
            documented |= {name.strip().lower() for name in cell.split(",")}
    assert documented == declared


def test_layout_table_names_every_part_and_nothing_else() -> None:
    """Every folder of the code and tests, and every module of `shared/`, the services and `hyperoru/`, is
    in the Layout table: by its path, or by its name in the row of its folder; and every path it names exists."""
    root = Path(__file__).parent.parent
    rows = re.findall(r"^\| (`[^|]+?`) \| (.+) \|$", section("## Layout"), re.MULTILINE)
    table = "\n".join(" ".join(row) for row in rows)
    for first, _ in rows:
        folder = first.split("`")[1].removesuffix("/").rpartition("/")[0]
        for name in re.findall(r"`([^`]+)`", first):
            assert (root / name).exists() or (root / folder / name).exists(), name

    def named(path: Path) -> bool:
        relative = path.relative_to(root).as_posix()
        parent = path.parent.relative_to(root).as_posix() + "/"
        name = f"`{path.name}/" if path.is_dir() else f"`{path.name}`"
        return f"`{relative}" in table or any(f"`{parent}" in first and name in first + rest for first, rest in rows)

    parts = [*root.glob("services/*/*.py"), *root.glob("shared/*.py"), *root.glob("hyperoru/*.py")]
    parts = [path for path in parts if path.name not in ("__init__.py", "__main__.py")]
    parts += [path for pattern in ("services/*/*/", "shared/*/", "hyperoru/*/", "tests/*/", "deploy/*/", "docs/*/")
              for path in root.glob(pattern) if path.name != "__pycache__"]  # fmt: skip
    assert [path.relative_to(root).as_posix() for path in parts if not named(path)] == []


def test_links_lead_somewhere() -> None:
    """Every `[text](#anchor)` names a heading (GitHub's anchors), every relative link a file of the repository."""
    root = Path(__file__).parent.parent
    headings = {
        re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        for title in re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", README, flags=re.DOTALL), re.MULTILINE)
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith("#"):
            assert target[1:] in headings, target
        elif not target.startswith(("http://", "https://")):
            assert (root / target).exists(), target


def test_walk_throughs_use_the_ids_they_got_back() -> None:
    """No example names a literal id: a fresh machine's ids are not the reader's (issue 8, class 9)."""
    literal = re.compile(r"/api/programs/(?:[a-z-]+/)?\d|_ids?\"?[=:] ?\[?\d|\b(?:bt|trig|conv)-[0-9a-f]{4}")
    for title in WALK_THROUGHS:
        for line in shell_lines(title):
            assert not literal.search(line.replace("/versions/1", "")), line


WALK_THROUGHS = (
    "## The programs API, by example",
    "## Programs: validate, test-run, the guide",
    "## Market data, by example",
    "## Backtests, by example",
    "## Accounts, signal pools and bindings, by example",
    "## Live trading: how runs happen",
    "## AI assistant",
    "## Authentication and security",
)


def test_every_section_with_curl_examples_is_run_here() -> None:
    with_curl = {
        f"## {heading}" for heading, body in re.findall(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
        if re.search(r"```sh\n(?:(?!```).)*\bcurl ", body, re.DOTALL)
    }  # fmt: skip
    assert with_curl == set(WALK_THROUGHS)


# -- the walk-throughs, each as written ---------------------------------------------------------------------


async def test_programs_walk_through(api: Api) -> None:
    shell = await walk(api, "## The programs API, by example")
    program = int(shell.env["PROGRAM"])
    replies = shell.replies
    assert [reply.status for reply in replies] == [201, 200, 200, 200, 200, 200, 204, 200, 200, 200]
    assert replies[0].json["id"] == program and replies[2].json["id"] == program
    assert [p["id"] for p in replies[1].json] == [program]  # the new owner's only program
    assert replies[3].json["version"] == 2 and replies[5].json["version"] == 1
    assert (await api.get(f"/api/programs/{program}"))[0] == 404


async def test_language_walk_through(api: Api) -> None:
    validated, ran, guide = (await walk(api, "## Programs: validate, test-run, the guide")).replies
    assert validated.json["valid"] and ran.json["status"] == "ok" and "fn run" in guide.json["guide"]


async def test_market_walk_through(api: Api) -> None:
    symbols, snapshot, candles, imported = (await walk(api, "## Market data, by example")).replies
    assert imported.status == 201 and snapshot.json["source"] and len(candles.json["candles"]) == 7
    assert "BTC" in str(symbols.json)


async def test_backtests_walk_through(api: Api) -> None:
    shell = await walk(api, "## Backtests, by example")
    env, replies = shell.env, [reply.json for reply in shell.replies]
    assert len(replies) == 12
    assert replies[3] == {"backtest_id": env["BIG"], "status": "cancelled"}
    record = replies[4]
    assert record["id"] == env["BT"] and record["program_id"] == int(env["PROGRAM"])
    assert record["status"] == "completed" and record["fee_rate"] == 0.001 and record["total_trades"] >= 1
    assert replies[7][0]["id"] == replies[8]["id"] == env["TRIGGER"] and replies[8]["context"]["indicators"]
    assert [row["id"] for row in replies[-1]] == [env["BT"]]


async def test_accounts_walk_through(api: Api) -> None:
    shell = await walk(api, "## Accounts, signal pools and bindings, by example")
    env, replies = shell.env, [reply.json for reply in shell.replies]
    assert len(replies) == 12
    assert [b["id"] for b in replies[6]] == [int(env["SCHEDULED"]), int(env["BINDING"])]
    assert replies[7]["id"] == int(env["BINDING"]) and replies[7]["enabled"] is False
    assert replies[-1]["balance"] == 10000 and replies[-1]["id"] == int(env["ACCOUNT"])
    remaining = (await api.get(f"/api/programs/bindings?account_id={env['ACCOUNT']}"))[1]
    assert [b["id"] for b in remaining] == [int(env["BINDING"])]


async def test_live_runs_walk_through(api: Api) -> None:
    shell = await walk(api, "## Live trading: how runs happen")
    env, replies = shell.env, [reply.json for reply in shell.replies]
    assert len(replies) == 6
    preview = replies[3]
    assert preview["binding_id"] == int(env["BINDING"]) and preview["status"] == "ok"
    assert preview["logs"] == ["manual"] and preview["orders"][0]["action"] == "buy"
    assert all(execution["binding_id"] == int(env["BINDING"]) for execution in replies[4])


async def test_ai_assistant_walk_through(api: Api) -> None:
    """The streamed call's body is Server-Sent Events, ending with the `done` reply."""
    from tests.e2e.test_ai_api import parse_sse

    shell = await walk(api, "## AI assistant")
    answer, listed, picked, streamed, messages, deleted = shell.replies
    assert answer.json["provider"] == "builtin" and answer.json["diagnostics"]["valid"] and "ctx.rsi" in answer.json["code"]
    assert [c["id"] for c in listed.json] == [answer.json["conversation_id"]] == [shell.env["CONV"]]
    assert streamed.content_type == "text/event-stream"
    kind, done = parse_sse(streamed.text)[-1]
    assert kind == "done" and done["conversation_id"] == shell.env["CONV"] and "spacing_pct" in done["code"]
    assert len(messages.json) == 4 and deleted.status == 204


async def test_authentication_walk_through(platform: RunningPlatform, api: Api) -> None:
    """With a gateway in `AUTH_MODE=token` on the test platform: `hyperoru token …` runs as the real
    command on the platform's store, the curl carries the token it printed and nothing else."""
    from tests.api.auth_fixtures import gateway

    hyperoru = Path(sys.executable).parent / "hyperoru"
    env = {"PATH": str(hyperoru.parent), "DATA_DIR": platform.settings.data_dir, "LOG_LEVEL": "warning"}

    def run_command(argv: list[str]) -> str:
        assert argv[0] == "hyperoru", argv
        done = subprocess.run([str(hyperoru), *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done.stdout

    async with gateway(platform.settings, auth_mode="token") as base_url:
        shell = await Shell(api_sender(api, base_url, as_owner=False), run_command).run("## Authentication and security")
    assert shell.env["HYPERORU_TOKEN"].startswith("hyp_")
    (listed,) = shell.replies
    assert listed.status == 200 and isinstance(listed.json, list)


@pytest.mark.parametrize("line", [
    "curl -s 'http://127.0.0.1:8080/api/programs/$X'",
    "curl -s http://127.0.0.1:8080/api/programs/$UNSET",
    "X=$(curl -s http://127.0.0.1:8080/ | jq .id)",
    "X=$(curl -s http://127.0.0.1:8080/healthz | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"nope\"])')",
    "curl -s -d '{}' http://127.0.0.1:8080/api/programs/validate",
])  # fmt: skip
async def test_the_runner_refuses_what_a_shell_would_not_do(api: Api, line: str) -> None:
    """A variable in single quotes stays literal (here: a 404, so the line fails); an unset variable, a pipe
    into anything but python3, a snippet that breaks, and a body without its Content-Type (curl sends a form) fail."""
    with pytest.raises(AssertionError):
        await Shell(api_sender(api), env={"X": "1"}).line(line)
