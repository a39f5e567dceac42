"""`hyperoru token create|list|revoke`, straight on a real SQLite store, as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperoru.cli import main
from shared.messages.tokens import hash_token, looks_like_token


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, ["token", *args, "--data-dir", str(tmp_path)], env={"AUTH_MODE": None})
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_create_prints_the_token_once_and_stores_only_its_hash(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("create", "--owner", "alice", "--name", "laptop")
    assert code == 0, err
    token = out.strip()
    assert looks_like_token(token) and out == token + "\n"  # stdout holds the token alone: $(...) works
    assert "cannot be shown again" in err
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("hyperoru.db*"))
    assert token.encode() not in stored and token[4:].encode() not in stored
    assert hash_token(token).encode() in stored


def test_list_shows_tokens_without_the_secret(run) -> None:  # type: ignore[no-untyped-def]
    _, first, _ = run("create", "--owner", "alice", "--name", "laptop")
    _, second, _ = run("create", "--owner", "bob")
    code, out, _ = run("list")
    assert code == 0
    assert "laptop" in out and "alice" in out and "bob" in out and "never" in out
    assert first.strip() not in out and second.strip() not in out
    code, out, _ = run("list", "--owner", "bob", "--json")
    listed = json.loads(out)
    assert code == 0 and [(t["id"], t["owner"], t["name"], t["last_used_at"]) for t in listed] == [(2, "bob", "token", None)]


def test_json_create_and_revoke(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("create", "--owner", "carol", "--json")
    created = json.loads(out)
    assert code == 0 and looks_like_token(created["token"]) and created["owner"] == "carol"
    code, out, _ = run("revoke", str(created["id"]), "--json")
    assert code == 0 and json.loads(out)["id"] == created["id"]
    assert json.loads(run("list", "--json")[1]) == []


def test_revoking_an_unknown_id_fails_with_exit_code_1(run) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("revoke", "42")
    assert code == 1 and "no token with id 42" in err


@pytest.mark.parametrize("owner", ["", "has space", "x" * 65, "semi;colon", "$tokens"])
def test_a_bad_owner_is_a_usage_error(run, owner: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("create", "--owner", owner)
    assert code == 2 and "--owner" in err
