"""The `hyperoru` API commands against the test platform: real processes, real HTTP, exit codes.

Each call runs the installed `hyperoru` script in a subprocess (the platform serves on this test's
event loop meanwhile), as one owner per test (`HYPERORU_OWNER`: the test gateway trusts X-Owner from
loopback, AUTH_MODE=proxy).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.executor.guide import examples
from tests.harness import Api, RunningPlatform

HYPERORU = str(Path(sys.executable).with_name("hyperoru"))
CODE = examples()["sma_ema_crossover"]
BROKEN = "fn run(ctx) {\n    let x = ;\n}\n"


class Cli:
    def __init__(self, url: str, owner: str, tmp: Path) -> None:
        self.env = {**os.environ, "HYPERORU_URL": url, "HYPERORU_OWNER": owner, "COLUMNS": "200"}
        self.env.pop("HYPERORU_TOKEN", None)
        self.tmp = tmp

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    async def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            HYPERORU, *args, env={**self.env, **(env or {})}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        code, out, err = await self.run(*args, "--json")
        assert code == 0, (code, out, err)
        return json.loads(out)


@pytest.fixture
def cli(platform: RunningPlatform, tmp_path: Path) -> Cli:
    return Cli(platform.base_url, f"cli-{uuid.uuid4().hex[:10]}", tmp_path)


async def test_programs_create_list_get_update_delete(cli: Cli) -> None:
    source = cli.file("cross.hyp", CODE)
    created = await cli.json("programs", "create", source, "--name", "Crossover", "--description", "from the guide")
    assert created["name"] == "Crossover" and created["version"] == 1 and created["code"] == CODE
    pid = str(created["id"])
    listed = await cli.json("programs", "list")
    assert [p["id"] for p in listed] == [created["id"]]
    code, out, _ = await cli.run("programs", "list")
    assert code == 0 and "Crossover" in out and "ID" in out
    assert (await cli.json("programs", "get", pid))["description"] == "from the guide"
    code, out, _ = await cli.run("programs", "get", pid, "--code")
    assert code == 0 and out.strip() == CODE.strip()
    updated = await cli.json("programs", "update", pid, "--name", "Renamed", "--file", cli.file("v2.hyp", CODE + "\n// v2\n"))
    assert updated["name"] == "Renamed" and updated["version"] == 2
    assert await cli.json("programs", "delete", pid) == {"deleted": created["id"]}
    code, out, err = await cli.run("programs", "get", pid, "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "not_found" and "404 not_found" in err


async def test_a_program_that_does_not_compile_is_refused_with_exit_1(cli: Cli) -> None:
    code, out, err = await cli.run("programs", "create", cli.file("bad.hyp", BROKEN), "--name", "Bad")
    assert code == 1, (out, err)
    assert "422" in err


async def test_validate_prints_diagnostics_and_exits_1_when_invalid(cli: Cli) -> None:
    good = cli.file("good.hyp", CODE)
    code, out, _ = await cli.run("validate", good)
    assert (code, out.strip()) == (0, f"{good}: valid")
    bad = cli.file("bad.hyp", BROKEN)
    code, out, err = await cli.run("validate", bad)
    assert code == 1
    assert f"{bad}:2:" in out and "error:" in out and "1 error(s)" in err
    result = json.loads((await cli.run("validate", bad, "--json"))[1])
    assert result["valid"] is False and result["errors"][0]["line"] == 2


async def test_test_run_a_file_and_a_saved_program(cli: Cli) -> None:
    source = cli.file("cross.hyp", CODE)
    result = await cli.json("test-run", source, "--symbol", "BTC", "--param", "fast=10")
    assert result["status"] == "ok" and result["symbol"] == "BTC" and result["source"]
    code, out, _ = await cli.run("test-run", source, "--symbol", "BTC")
    assert code == 0 and out.startswith("ok: ")
    program = await cli.json("programs", "create", source, "--name", "Saved")
    assert (await cli.json("test-run", "--program-id", str(program["id"]), "--symbol", "ETH"))["program_id"] == program["id"]
    failing = cli.file("fails.hyp", 'fn run(ctx) {\n    let x = 1 / 0;\n    ctx.hold("never");\n}\n')
    code, out, err = await cli.run("test-run", failing, "--symbol", "BTC")
    assert code == 1 and "the run failed" in err, (out, err)


async def test_backtest_watch_shows_the_result_table(cli: Cli) -> None:
    source = cli.file("cross.hyp", CODE)
    args = ("backtest", source, "--symbol", "BTC", "--start", "2024-01-01", "--end", "2024-01-15", "--watch")
    code, out, err = await cli.run(*args)
    assert code == 0, (out, err)
    assert "completed" in out and "trades" in out and "final equity" in out
    assert "bars" in err  # the progress bar (its last state, as stderr is no terminal)
    record = await cli.json(*args)
    assert record["status"] == "completed" and record["bars_done"] == record["bars_total"] > 0
    assert record["final_equity"] is not None


async def test_backtest_without_watch_prints_the_job_and_bad_input_exits_1(cli: Cli) -> None:
    source = cli.file("cross.hyp", CODE)
    accepted = await cli.json("backtest", source, "--symbol", "BTC", "--start", "2024-01-01", "--end", "2024-01-03")
    assert accepted["backtest_id"].startswith("bt-") and accepted["status"] == "queued"
    code, out, err = await cli.run("backtest", source, "--symbol", "BTC", "--start", "yesterday-ish")
    assert code == 1 and "start_date" in err, (out, err)


async def test_bindings_and_executions(cli: Cli, api: Api) -> None:
    api.owner = cli.env["HYPERORU_OWNER"]
    program = await cli.json("programs", "create", cli.file("cross.hyp", CODE), "--name", "Live")
    status, account = await api.post("/api/programs/accounts", {"name": "Paper"})
    assert status == 201
    binding = await cli.json("bindings", "create", "--program-id", str(program["id"]), "--account-id", str(account["id"]),
                             "--symbol", "BTC", "--timeframe", "1h", "--interval", "1h", "--param", "fast=12")
    assert binding["schedule"] == {"interval": "1h"} and binding["params"] == {"fast": 12}
    bid = str(binding["id"])
    assert [b["id"] for b in await cli.json("bindings", "list")] == [binding["id"]]
    code, out, _ = await cli.run("bindings", "list")
    assert code == 0 and "every 1h" in out
    assert (await cli.json("bindings", "update", bid, "--disable"))["enabled"] is False
    assert (await cli.json("bindings", "get", bid))["enabled"] is False
    preview = await cli.json("bindings", "preview", bid)
    assert preview["binding_id"] == binding["id"] and preview["status"] in ("ok", "error")
    assert await cli.json("executions", "list", "--binding-id", bid) == []
    code, _, err = await cli.run("executions", "get", "1")
    assert code == 1 and "404" in err
    code, _, err = await cli.run("programs", "delete", str(program["id"]))
    assert code == 1 and "409 conflict" in err  # a binding uses it
    assert await cli.json("bindings", "delete", bid) == {"deleted": binding["id"]}
    code, _, err = await cli.run("bindings", "update", bid, "--enable")
    assert code == 1 and "404" in err


async def test_exit_codes_for_usage_and_unavailable(cli: Cli, unused_tcp_port: int) -> None:
    code, _, err = await cli.run("programs", "list", "--bogus")
    assert code == 2 and "No such option" in err
    code, _, err = await cli.run("validate", str(cli.tmp / "missing.hyp"))
    assert code == 2
    code, _, err = await cli.run("programs", "list", env={"HYPERORU_URL": f"http://127.0.0.1:{unused_tcp_port}"})
    assert code == 3 and "cannot reach the API" in err


async def test_the_token_goes_out_as_bearer_and_5xx_is_exit_3(cli: Cli, unused_tcp_port: int) -> None:
    seen: list[str | None] = []

    async def programs(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response([])

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "unavailable", "message": "no service"}}, status=503)

    app = web.Application()
    app.router.add_get("/api/programs", programs)
    app.router.add_get("/api/programs/{id}", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        url = {"HYPERORU_URL": f"http://127.0.0.1:{unused_tcp_port}"}
        code, out, _ = await cli.run("programs", "list", "--json", env={**url, "HYPERORU_TOKEN": "s3cret"})
        assert (code, json.loads(out), seen) == (0, [], ["Bearer s3cret"])
        code, _, err = await cli.run("programs", "get", "1", env=url)
        assert code == 3 and "503 unavailable: no service" in err
    finally:
        await runner.cleanup()
