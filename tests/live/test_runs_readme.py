"""The README's "Live trading: how runs happen" walk-through runs as written, with the ids it got back
(tests/test_readme.py runs it too; this keeps the live-runs details of its preview)."""

from __future__ import annotations

from tests.harness import Api
from tests.test_readme import walk

SECTION = "## Live trading: how runs happen"


async def test_live_runs_walk_through_runs_as_written(api: Api) -> None:
    shell = await walk(api, SECTION)
    replies = [reply.json for reply in shell.replies]
    assert len(replies) == 6
    preview = replies[3]
    assert preview["binding_id"] == int(shell.env["BINDING"])
    assert preview["action"] == "buy" and preview["symbol"] == "BTC" and preview["fills"][0]["quantity"] == 0.01
    assert preview["logs"] == ["manual"]
    assert isinstance(replies[4], list) and isinstance(replies[5], list)
