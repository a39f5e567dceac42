"""Contract fuzzing: schemathesis against the live test platform, every route, every phase.

The gateway is aiohttp (not ASGI), and the session's platform runs on this test's event loop, so
schemathesis runs as its CLI in a subprocess pointed at the platform's URL while the loop keeps serving.
It generates requests from `/openapi.json` (examples, coverage of edge values, random fuzzing, then the
stateful phase that follows the document's links: create → read → update → delete), and fails on any
500, any status the document does not list, any response (or header, or SSE event) that breaks its
schema, any schema-invalid request that is accepted, a resource still there after its DELETE, and
a wrong answer to an unsupported method.

Two checks are left out, both heuristics that misread this API's documented answers:
- `positive_data_acceptance` (a schema-valid request must not be a 4xx): rules a JSON Schema cannot
  state are 422s by design: a program's code must compile, a cursor must be one we gave out;
- `ensure_resource_availability` (a 404 right after a create means the created resource is missing):
  here a 404 also names anything else the request refers to that does not exist, e.g. an unknown
  `symbol` in the body of `POST /api/programs/{id}/backtest` (tests/e2e/test_backtest_api.py pins
  that 404). `use_after_free` (a resource still there after its DELETE) stays on.

Bounded: seed fixed, no example database, 25 examples per operation, 30 stateful steps; about 30 s on
2 cores with the 48 routes of today.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from tests.harness import RunningPlatform

pytestmark = pytest.mark.fuzz

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = """
[phases.stateful]
max-steps = 30
"""
TIMEOUT_S = 240


async def test_the_api_holds_its_contract_under_fuzzing(platform: RunningPlatform, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    owner = f"fuzz-{uuid.uuid4().hex[:8]}"  # one owner: what a create makes, the next step can read
    argv = [
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{platform.base_url}/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance,ensure_resource_availability",
        "-n", "25", "--seed", "1", "--generation-database", "none", "--workers", "2",
        "--request-timeout", "30", "-H", f"X-Owner: {owner}",
        "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"schemathesis did not finish within {TIMEOUT_S} s")
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-20000:]
    summary = text.split("SUMMARY", 1)[-1]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # each phase ran and passed (not skipped)
        assert f"✅ {phase}" in summary, text[-6000:]
    assert "Tested: " in summary and "failure" not in summary.lower(), text[-6000:]
