"""The README's "Live trading: how runs happen" walk-through runs as written (ids mapped to those created)."""

from __future__ import annotations

import re

from tests.harness import Api
from tests.test_readme import walk_through

SECTION = "## Live trading: how runs happen"


async def test_live_runs_walk_through_runs_as_written(api: Api) -> None:
    written = {"programs": 7, "accounts": 2, "bindings": 3}
    made: dict[str, int] = {}

    def rewrite(path: str) -> str:
        path = re.sub(r"/bindings/3/", lambda m: f"/bindings/{made['bindings']}/", path)
        return re.sub(r"binding_id=3", lambda m: f"binding_id={made['bindings']}", path)

    def rewrite_body(data: str) -> str:
        data = data.replace(f'"program_id": {written["programs"]}', f'"program_id": {made.get("programs")}')
        return data.replace(f'"account_id": {written["accounts"]}', f'"account_id": {made.get("accounts")}')

    replies = []
    kinds = iter(["programs", "accounts", "bindings"])
    async for method, body in walk_through(api, SECTION, rewrite, rewrite_body):
        replies.append(body)
        if len(replies) <= 3:
            made[next(kinds)] = body["id"]  # type: ignore[index]
    assert len(replies) == 6
    preview = replies[3]
    assert preview["action"] == "buy" and preview["symbol"] == "BTC" and preview["fills"][0]["quantity"] == 0.01  # type: ignore[index]
    assert preview["logs"] == ["manual"]  # type: ignore[index]
    assert isinstance(replies[4], list) and isinstance(replies[5], list)
