"""The programs API over real HTTP: gateway → NATS → registry → SQLite, as api-reference.md documents it."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import Api

GRID = 'fn run(ctx) { ctx.buy("BTC", 0.01) }'


async def create(api: Api, name: str = "Grid Bot", code: str = GRID, **extra: object) -> dict:
    status, body = await api.post("/api/programs/", {"name": name, "code": code, **extra})
    assert status == 201, body
    return body


async def test_create_returns_the_program_with_reference_fields(api: Api) -> None:
    body = await create(api, description="Grid trading strategy")
    assert body["id"] >= 1
    assert body["name"] == "Grid Bot"
    assert body["description"] == "Grid trading strategy"
    assert body["code"] == GRID
    assert body["enabled"] is True
    assert body["version"] == 1
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]


async def test_get_returns_what_create_stored(api: Api) -> None:
    created = await create(api)
    status, body = await api.get(f"/api/programs/{created['id']}")
    assert status == 200
    assert body == created


@pytest.mark.parametrize("path", ["/api/programs", "/api/programs/"])
async def test_list_works_with_and_without_trailing_slash_newest_first(api: Api, path: str) -> None:
    first = await create(api, "first")
    second = await create(api, "second")
    status, body = await api.get(path)
    assert status == 200
    assert [p["id"] for p in body] == [second["id"], first["id"]]


async def test_list_pages_with_limit_and_offset(api: Api) -> None:
    ids = [(await create(api, f"p{i}"))["id"] for i in range(5)]
    status, body = await api.get("/api/programs/?limit=2&offset=1")
    assert status == 200
    assert [p["id"] for p in body] == [ids[3], ids[2]]


async def test_get_with_trailing_slash(api: Api) -> None:
    created = await create(api)
    status, body = await api.get(f"/api/programs/{created['id']}/")
    assert status == 200 and body["id"] == created["id"]


async def test_put_is_a_partial_update_and_keeps_version_when_code_is_unchanged(api: Api) -> None:
    created = await create(api, description="keep me")
    status, body = await api.put(f"/api/programs/{created['id']}", {"name": "Renamed", "enabled": False})
    assert status == 200
    assert body["name"] == "Renamed" and body["enabled"] is False
    assert body["description"] == "keep me" and body["code"] == GRID
    assert body["version"] == 1


async def test_code_change_makes_a_new_version_and_keeps_the_old_one(api: Api) -> None:
    created = await create(api)
    new_code = 'fn run(ctx) { ctx.sell("BTC", 0.02) }'
    status, body = await api.put(f"/api/programs/{created['id']}", {"code": new_code})
    assert status == 200 and body["version"] == 2
    status, versions = await api.get(f"/api/programs/{created['id']}/versions")
    assert status == 200
    assert [(v["version"], v["code"]) for v in versions] == [(2, new_code), (1, GRID)]
    status, old = await api.get(f"/api/programs/{created['id']}/versions/1")
    assert status == 200 and old["code"] == GRID and old["program_id"] == created["id"]


async def test_unknown_version_is_404(api: Api) -> None:
    created = await create(api)
    status, body = await api.get(f"/api/programs/{created['id']}/versions/7")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_delete_returns_204_and_then_the_program_is_gone(api: Api) -> None:
    created = await create(api)
    status, body = await api.delete(f"/api/programs/{created['id']}")
    assert status == 204 and body is None
    status, body = await api.get(f"/api/programs/{created['id']}")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _ = await api.get(f"/api/programs/{created['id']}/versions")
    assert status == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_id_is_404(api: Api, method: str) -> None:
    status, body = await api.call(method, "/api/programs/999999", {"name": "x"} if method == "PUT" else None)
    assert status == 404
    assert body["error"]["code"] == "not_found" and "999999" in body["error"]["message"]


async def test_another_owner_cannot_see_change_or_delete_a_program(api: Api) -> None:
    created = await create(api)
    intruder = Api(api.session, api.base_url)
    pid = created["id"]
    assert (await intruder.get(f"/api/programs/{pid}"))[0] == 404
    assert (await intruder.put(f"/api/programs/{pid}", {"name": "mine"}))[0] == 404
    assert (await intruder.delete(f"/api/programs/{pid}"))[0] == 404
    assert (await intruder.get("/api/programs/"))[1] == []
    assert (await api.get(f"/api/programs/{pid}"))[1]["name"] == "Grid Bot"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "code": GRID}, "name"),
        ({"name": "   ", "code": GRID}, "name"),
        ({"name": "x" * 101, "code": GRID}, "name"),
        ({"name": "ok", "code": ""}, "code"),
        ({"name": "ok", "code": "   \n"}, "code"),
        ({"name": "ok", "code": "x" * (64 * 1024 + 1)}, "code"),
        ({"name": "ok", "code": GRID, "description": "d" * 2001}, "description"),
        ({"name": "ok", "code": GRID, "enabled": "yes"}, "enabled"),
        ({"name": 5, "code": GRID}, "name"),
        ({"code": GRID}, "name"),
        ({"name": "ok", "code": GRID, "colour": "red"}, "colour"),
    ],
)
async def test_invalid_create_is_422_naming_the_field(api: Api, body: dict, field: str) -> None:
    status, reply = await api.post("/api/programs/", body)
    assert status == 422, reply
    assert reply["error"]["details"]["field"] == field
    assert reply["error"]["message"]


async def test_name_is_trimmed(api: Api) -> None:
    body = await create(api, "  Padded  ")
    assert body["name"] == "Padded"


async def test_invalid_update_writes_nothing(api: Api) -> None:
    created = await create(api)
    status, reply = await api.put(f"/api/programs/{created['id']}", {"name": "fine", "description": "d" * 2001})
    assert status == 422 and reply["error"]["details"]["field"] == "description"
    assert (await api.get(f"/api/programs/{created['id']}"))[1] == created


async def test_id_in_the_body_of_an_update_is_rejected(api: Api) -> None:
    created = await create(api)
    status, reply = await api.put(f"/api/programs/{created['id']}", {"id": 77})
    assert status == 422 and reply["error"]["details"]["field"] == "id"


async def test_malformed_json_is_400(api: Api) -> None:
    status, reply = await api.post("/api/programs/", raw=b'{"name": "x",')
    assert status == 400 and reply["error"]["code"] == "bad_request"


async def test_non_object_body_is_422(api: Api) -> None:
    status, reply = await api.post("/api/programs/", raw=b"[1, 2]")
    assert status == 422


async def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    status, reply = await api.post("/api/programs/", raw=b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert status == 413 and reply["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1", "limit=501", "colour=red"])
async def test_bad_query_parameters_are_422(api: Api, query: str) -> None:
    status, reply = await api.get(f"/api/programs/?{query}")
    assert status == 422 and reply["error"]["details"]["field"] in query


async def test_unknown_route_is_a_json_404(api: Api) -> None:
    status, reply = await api.get("/api/nothing-here")
    assert status == 404 and reply["error"]["code"] == "not_found"


async def test_non_numeric_id_does_not_match_the_id_route(api: Api) -> None:
    status, reply = await api.get("/api/programs/abc")
    assert status == 404 and reply["error"]["code"] == "not_found"


async def test_wrong_method_is_405(api: Api) -> None:
    status, reply = await api.call("PATCH", "/api/programs/1")
    assert status == 405 and reply["error"]["code"] == "method_not_allowed"


async def test_request_id_is_echoed_when_given_and_made_when_not(api: Api) -> None:
    await api.get("/api/programs/", headers={"X-Request-ID": "abc-123"})
    assert api.last_headers["X-Request-ID"] == "abc-123"
    await api.get("/api/programs/")
    assert len(api.last_headers["X-Request-ID"]) == 32


async def test_bad_owner_header_is_400(api: Api) -> None:
    status, reply = await api.get("/api/programs/", headers={"X-Owner": "no spaces allowed"})
    assert status == 400


async def test_a_write_the_client_got_504_for_leaves_nothing_behind(settings, tmp_path, http_session) -> None:  # type: ignore[no-untyped-def]
    """The gateway gives up at its deadline (504); the registry, slow to check the code, then finds the
    deadline (less than its write margin away) and writes nothing: no program, no new version."""
    import time

    import msgspec

    from services.registry.service import build as build_registry, compile_errors
    from shared.natsserver import NatsServer
    from tests.harness import start_platform

    slow = {"on": False}

    def slow_check(code: str):  # type: ignore[no-untyped-def]
        if slow["on"]:
            time.sleep(1.3)  # blocks this (test) event loop: the gateway cannot answer before it ends either
        return compile_errors(code)

    async def build(s):  # type: ignore[no-untyped-def]
        return await build_registry(s, check_code=slow_check)

    with NatsServer(tmp_path / "js") as server:
        own = msgspec.structs.replace(settings, nats_url=server.url, data_dir=str(tmp_path / "data"), request_timeout_s=1.0)
        running = await start_platform(own, [build])
        api = Api(http_session, running.base_url)
        try:
            status, kept = await api.post("/api/programs", {"name": "kept", "code": GRID})
            assert status == 201, kept
            slow["on"] = True
            status, reply = await api.post("/api/programs", {"name": "late", "code": GRID})
            assert status == 504 and reply["error"]["code"] == "timeout"
            status, reply = await api.put(f"/api/programs/{kept['id']}", {"code": GRID + "\n// changed"})
            assert status == 504 and reply["error"]["code"] == "timeout"
            slow["on"] = False
            await asyncio.sleep(0)  # let the registry finish whatever it still had
            status, listed = await api.get("/api/programs")
            assert [p["name"] for p in listed] == ["kept"] and listed[0]["version"] == 1
            status, versions = await api.get(f"/api/programs/{kept['id']}/versions")
            assert [v["version"] for v in versions] == [1]
        finally:
            await running.stop()
