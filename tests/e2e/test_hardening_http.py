"""Hardening regressions over real HTTP (issue 8): one test (or a few) per class of failure found.

Sizes: a list pages by bytes, a body that would not fit on the bus is a 413 and costs nothing else.
Bad input: every unreadable request is a JSON 400/404/405/415/422, aiohttp's own parser errors too.
Lax validation: the Content-Type is checked, query strings set no body fields, `X-Owner` must be a
token, names refuse control and bidi characters.

These tests serve the app with `GatewayRunner` (what `python -m services.gateway` runs) against the
test platform's services.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import pytest_asyncio

from services.gateway.app import init_app
from services.gateway.security import API_CSP, HEADERS
from services.gateway.server import GatewayRunner
from shared.limits import MAX_PAYLOAD_BYTES, MIB
from shared.settings import Settings
from tests.harness import Api, RunningPlatform

CODE = 'fn run(ctx) { ctx.buy("BTC", 0.01) }'


async def serve_gateway(settings: Settings) -> tuple[GatewayRunner, str]:
    from aiohttp import web

    runner = GatewayRunner(init_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest_asyncio.fixture(scope="module")
async def gateway(platform: RunningPlatform) -> AsyncIterator[str]:
    runner, url = await serve_gateway(platform.settings)
    yield url
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module")
async def roomy_gateway(platform: RunningPlatform) -> AsyncIterator[str]:
    """A gateway whose HTTP body limit is above the bus limit, so the bus check itself is what answers."""
    runner, url = await serve_gateway(msgspec.structs.replace(platform.settings, max_body_bytes=MAX_PAYLOAD_BYTES + MIB))
    yield url
    await runner.cleanup()


@pytest.fixture
def gw(gateway: str, http_session: aiohttp.ClientSession) -> Api:
    return Api(http_session, gateway)


def assert_envelope(status: int, body: object, expected_status: int, code: str | None = None) -> dict:
    assert status == expected_status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def raw_http(url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client would send these) and read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes after an error
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


async def create(api: Api, name: str = "p", code: str = CODE) -> dict:
    status, body = await api.post("/api/programs", {"name": name, "code": code})
    assert status == 201, body
    return body


# --- 1. Message size ---------------------------------------------------------------------------


async def test_18_programs_of_60_kb_list_in_pages_by_bytes_following_the_cursor(gw: Api) -> None:
    padding = "// " + "x" * (60_000 - len(CODE) - 4) + "\n"
    created = [(await create(gw, f"big-{i}", padding + CODE))["id"] for i in range(18)]
    seen: list[int] = []
    pages = 0
    cursor: str | None = None
    while True:
        status, items = await gw.get("/api/programs" + (f"?cursor={cursor}" if cursor else ""))
        assert status == 200, items
        pages += 1
        seen += [p["id"] for p in items]
        cursor = gw.last_headers.get("X-Next-Cursor")
        if cursor is None:
            break
        assert pages < 18
    assert seen == created[::-1]  # newest first, each exactly once
    assert pages >= 2  # 1 MB of programs does not come as one reply


async def test_count_pages_and_offset_pages_agree(gw: Api) -> None:
    ids = [(await create(gw, f"p{i}"))["id"] for i in range(5)]
    status, first = await gw.get("/api/programs?limit=2")
    cursor = gw.last_headers["X-Next-Cursor"]
    status, second = await gw.get(f"/api/programs?limit=2&cursor={cursor}")
    assert [p["id"] for p in first + second] == ids[::-1][:4]
    status, by_offset = await gw.get("/api/programs?limit=2&offset=2")
    assert status == 200 and by_offset == second


@pytest.mark.parametrize("query", ["cursor=bm90LWEtbnVtYmVy", "cursor=%25%25", "cursor=MQ&offset=1"])
async def test_bad_cursor_or_cursor_with_offset_is_422(gw: Api, query: str) -> None:
    status, body = await gw.get(f"/api/programs?{query}")
    assert_envelope(status, body, 422)


async def test_versions_are_paged_too(gw: Api) -> None:
    program = await create(gw)
    for n in range(3):
        status, _ = await gw.put(f"/api/programs/{program['id']}", {"code": CODE + f"\n// v{n + 2}"})
        assert status == 200
    status, page = await gw.get(f"/api/programs/{program['id']}/versions?limit=3")
    assert [v["version"] for v in page] == [4, 3, 2]
    cursor = gw.last_headers["X-Next-Cursor"]
    status, rest = await gw.get(f"/api/programs/{program['id']}/versions?limit=3&cursor={cursor}")
    assert [v["version"] for v in rest] == [1] and "X-Next-Cursor" not in gw.last_headers


async def test_a_body_of_exactly_the_bus_limit_is_413_and_the_next_request_works(
    roomy_gateway: str, http_session: aiohttp.ClientSession
) -> None:
    api = Api(http_session, roomy_gateway)
    envelope = b'{"name": "big", "code": "' + b'"}'
    body = envelope[:-2] + b"x" * (MAX_PAYLOAD_BYTES - len(envelope)) + b'"}'
    assert len(body) == MAX_PAYLOAD_BYTES
    status, reply = await api.post("/api/programs", raw=body)
    error = assert_envelope(status, reply, 413, "payload_too_large")
    assert error["details"]["limit"] == "message_bytes" and error["details"]["size"] >= MAX_PAYLOAD_BYTES
    # the connection to NATS is intact: the very next requests work
    status, created = await api.post("/api/programs", {"name": "after", "code": CODE})
    assert status == 201, created
    status, ready = await api.get("/readyz")
    assert status == 200 and ready["nats"] == "connected"


async def test_a_body_over_the_http_limit_is_a_json_413_naming_the_limit(gw: Api, platform: RunningPlatform) -> None:
    limit = platform.settings.max_body_bytes
    status, reply = await gw.post("/api/programs", raw=b" " * (limit + 1))
    error = assert_envelope(status, reply, 413, "payload_too_large")
    assert error["details"] == {"limit": "body_bytes", "max": limit}


# --- 4. Bad input answers a JSON 4xx, never a 500 or plain text ---------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "x",',
        b"\xff\xfe{}",
        b'{"name": "\\ud800", "code": "x"}',  # a lone surrogate is not text
        b"[" * 65 + b"]" * 65,
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["truncated", "not-utf8", "lone-surrogate", "depth-65", "depth-100000"],
)
async def test_unreadable_json_is_400(gw: Api, raw: bytes) -> None:
    status, reply = await gw.post("/api/programs", raw=raw)
    assert_envelope(status, reply, 400, "bad_request")


async def test_json_at_the_depth_limit_is_read(gw: Api) -> None:
    status, reply = await gw.post("/api/programs", raw=b'{"colour": ' + b"[" * 63 + b"]" * 63 + b"}")
    assert_envelope(status, reply, 422)  # read fine; refused for the unknown field, not the depth
    assert reply["error"]["details"]["field"] == "colour"


async def test_false_or_unknown_content_encoding_is_400(gw: Api) -> None:
    status, reply = await gw.post("/api/programs", raw=b'{"name": "x"}', headers={"Content-Encoding": "gzip"})
    assert_envelope(status, reply, 400, "bad_request")
    status, reply = await gw.post("/api/programs", raw=b'{"name": "x"}', headers={"Content-Encoding": "compress"})
    assert_envelope(status, reply, 400, "bad_request")
    zipped = gzip.compress(json.dumps({"name": "zipped", "code": CODE}).encode())
    status, reply = await gw.post("/api/programs", raw=zipped, headers={"Content-Encoding": "gzip"})
    assert status == 201 and reply["name"] == "zipped"


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=zz", "multipart/form-data"],
    ids=["garbage-after-boundary", "no-boundary"],
)
async def test_malformed_multipart_is_400(gw: Api, content_type: str) -> None:
    path = "/api/programs/market-data/import?symbol=MPX&timeframe=1h"
    status, reply = await gw.post(path, raw=b"this is not a form", headers={"Content-Type": content_type})
    assert_envelope(status, reply, 400, "bad_request")


@pytest.mark.parametrize(
    "path",
    [
        "/api/programs/9223372036854775808",
        "/api/programs/99999999999999999999999999999",
        "/api/programs/9007199254740992",
        "/api/programs/1/versions/9223372036854775808",
        "/api/programs/9223372036854775808/versions",
    ],
)
async def test_ids_out_of_range_in_a_path_are_404(gw: Api, path: str) -> None:
    for method in ("GET", "PUT", "DELETE") if path.count("/") == 3 else ("GET",):
        status, reply = await gw.call(method, path, {"name": "x"} if method == "PUT" else None)
        assert_envelope(status, reply, 404, "not_found")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/programs?limit=99999999999999999999", "limit"),
        ("/api/programs?offset=9223372036854775808", "offset"),
        ("/api/programs?offset=-1", "offset"),
    ],
)
async def test_integers_out_of_range_in_a_query_are_422(gw: Api, path: str, field: str) -> None:
    status, reply = await gw.get(path)
    assert assert_envelope(status, reply, 422)["details"]["field"] == field


async def test_integers_out_of_range_in_a_body_are_422_naming_the_field(gw: Api) -> None:
    status, reply = await gw.post("/api/programs", raw=b'{"name": "n", "code": "c", "enabled": 18446744073709551616}')
    assert assert_envelope(status, reply, 422)["details"]["field"] == "enabled"
    status, reply = await gw.post("/api/programs/validate", raw=b'{"code": 1e999999}')
    assert status in (400, 422), reply


LONG_DECIMAL = b"0.00532872318763111251234"  # 23 fraction digits: a float, whatever its length


@pytest.mark.parametrize(
    ("number", "field"),
    [(b"9223372036854775808", "signals[0].value"), (b"-9223372036854775809", "signals[0].value"),
     (b"100000000000000000000000", "signals[0].value")],
)  # fmt: skip
async def test_a_long_decimal_in_a_body_is_a_number_and_a_long_integer_is_422(gw: Api, number: bytes, field: str) -> None:
    def pool(value: bytes) -> bytes:
        return (b'{"name": "long numbers", "logic": "OR", "signals": [{"symbol": "BTC", "timeframe": "1h", '
                b'"metric": "price", "operator": ">", "value": ' + value + b"}]}")

    status, reply = await gw.post("/api/programs/signal-pools/", raw=pool(LONG_DECIMAL))
    assert status == 201, reply
    assert reply["signals"][0]["value"] == float(LONG_DECIMAL)  # read as the float it is, not refused
    status, reply = await gw.post("/api/programs/signal-pools/", raw=pool(number))
    error = assert_envelope(status, reply, 422)
    assert error["details"]["field"] == field and "out of range" in error["message"], error


def test_the_body_scan_flags_long_integers_only() -> None:
    """The gateway and the store share one scan (shared/jsonints.py): a long decimal never sets it off."""
    from services.gateway import requests
    from services.gateway.requests import decode_json_body
    from shared.errors import InvalidRequest
    from shared.jsonints import may_hold_long_int
    from shared.store import query

    assert requests.may_hold_long_int is query.may_hold_long_int is may_hold_long_int
    assert not may_hold_long_int(b'{"v": ' + LONG_DECIMAL + b', "w": [-0.12345678901234567890123, 1e19]}')
    assert decode_json_body(b'{"v": ' + LONG_DECIMAL + b"}") == {"v": float(LONG_DECIMAL)}
    for raw, field in ((b'{"a": {"b": [1, 9223372036854775808]}}', "a.b[1]"), (b'{"n":\n-9223372036854775809}', "n"),
                       (b'{"n":\t12345678901234567890}', "n")):  # fmt: skip
        assert may_hold_long_int(raw)
        with pytest.raises(InvalidRequest) as caught:
            decode_json_body(raw)
        assert caught.value.details["field"] == field
    assert decode_json_body(b'{"n": 9223372036854775807, "m": -9223372036854775808}')["n"] == 2**63 - 1


async def test_wrong_method_is_405_with_allow(gw: Api) -> None:
    status, reply = await gw.call("PATCH", "/api/programs")
    assert_envelope(status, reply, 405, "method_not_allowed")
    allowed = set(gw.last_headers["Allow"].split(","))
    assert allowed == {"GET", "POST"}
    assert set(reply["error"]["details"]["allowed"]) == allowed


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/programs HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"G@T /api/programs HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/programs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET /api/programs HTTP/1.1\r\nHost: x\r\nX-Owner: a\x01b\r\n\r\n",
        b"POST /api/programs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
    ],
    ids=["bad-request-line", "bad-method", "header-too-long", "control-char-in-header", "bad-content-length", "tls"],
)
async def test_aiohttp_parser_errors_are_json_envelopes(gateway: str, request_bytes: bytes) -> None:
    status, headers, body = await raw_http(gateway, request_bytes)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert_envelope(status, json.loads(body), 400, "bad_request")
    # the app never sees these requests, yet they carry its security headers
    for name, value in {**HEADERS, "content-security-policy": API_CSP, "cache-control": "no-store"}.items():
        assert headers[name.lower()] == value, name


async def test_non_utf8_owner_header_is_a_json_400(gateway: str) -> None:
    status, headers, body = await raw_http(gateway, b"GET /api/programs HTTP/1.1\r\nHost: x\r\nX-Owner: \xff\xfe\r\nConnection: close\r\n\r\n")
    assert headers["content-type"].startswith("application/json")
    assert_envelope(status, json.loads(body), 400, "bad_request")


# --- 8. Lax validation ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv", "image/png"])
async def test_json_routes_refuse_other_content_types_with_415(gw: Api, content_type: str) -> None:
    status, reply = await gw.post("/api/programs", raw=json.dumps({"name": "x", "code": CODE}).encode(), headers={"Content-Type": content_type})
    assert assert_envelope(status, reply, 415, "unsupported_media_type")["details"]["field"] == "Content-Type"


@pytest.mark.parametrize("content_type", [None, "application/json", "application/json; charset=utf-8", "application/vnd.hyperoru+json"])
async def test_json_routes_read_json_and_untyped_bodies(gw: Api, http_session: aiohttp.ClientSession, content_type: str | None) -> None:
    headers = {"X-Owner": gw.owner} | ({"Content-Type": content_type} if content_type else {})
    data = json.dumps({"name": "typed", "code": CODE}).encode()
    async with http_session.post(gw.base_url + "/api/programs", data=data, headers=headers, skip_auto_headers=["Content-Type"]) as response:
        assert response.status == 201, await response.text()


async def test_the_csv_import_refuses_json_with_415(gw: Api) -> None:
    status, reply = await gw.post("/api/programs/market-data/import?symbol=JSX&timeframe=1h", raw=b"time,open\n")
    assert_envelope(status, reply, 415, "unsupported_media_type")


async def test_a_query_string_never_sets_a_body_field(gw: Api) -> None:
    program = await create(gw, "keep")
    status, reply = await gw.put(f"/api/programs/{program['id']}?name=evil", {"description": "d"})
    assert assert_envelope(status, reply, 422)["details"]["field"] == "name"
    status, reply = await gw.post("/api/programs?name=evil", {"name": "x", "code": CODE})
    assert assert_envelope(status, reply, 422)["details"]["field"] == "name"
    status, current = await gw.get(f"/api/programs/{program['id']}")
    assert current == program


async def test_a_path_field_cannot_be_given_again_in_the_query_and_parameters_are_not_repeated(gw: Api) -> None:
    program = await create(gw)
    status, reply = await gw.get(f"/api/programs/{program['id']}?id=1")
    assert assert_envelope(status, reply, 422)["details"]["field"] == "id"
    status, reply = await gw.get("/api/programs?limit=1&limit=2")
    assert assert_envelope(status, reply, 422)["details"]["field"] == "limit"


@pytest.mark.parametrize("owner", ["", " ", "a b", "x" * 65, "tab\tbed", "ünïcode"])
async def test_owner_must_be_a_printable_token(gw: Api, owner: str) -> None:
    status, reply = await gw.get("/api/programs", headers={"X-Owner": owner})
    assert assert_envelope(status, reply, 400, "bad_request")["details"]["field"] == "X-Owner"


@pytest.mark.parametrize(
    "name",
    ["nul\x00byte", "new\nline", "trailing\n", "\u202eevil.exe", "rlm\u200f", "isolate\u2066x\u2069", "c1\x85", "esc\x1b[31m"],
)
async def test_names_refuse_control_and_bidi_characters(gw: Api, name: str) -> None:
    status, reply = await gw.post("/api/programs", {"name": name, "code": CODE})
    error = assert_envelope(status, reply, 422)
    assert error["details"]["field"] == "name" and "control" in error["message"]
    program = await create(gw)
    status, reply = await gw.put(f"/api/programs/{program['id']}", {"name": name})
    assert assert_envelope(status, reply, 422)["details"]["field"] == "name"


async def test_names_keep_ordinary_unicode(gw: Api) -> None:
    program = await create(gw, "Grid Bot — ü 日本 🚀")
    assert program["name"] == "Grid Bot — ü 日本 🚀"


def test_deploy_configures_nats_max_payload_to_the_platform_limit(tmp_path: Path) -> None:
    """Production NATS gets the same max_payload as the embedded one, and nats-server accepts the file."""
    import re
    import subprocess

    from shared.natsserver import find_binary

    manifest = (Path(__file__).parents[2] / "deploy" / "k8s" / "nats.yaml").read_text()
    conf = re.search(r"nats\.conf: \|\n((?:    .*\n|\n)+)", manifest)
    assert conf is not None
    text = "\n".join(line[4:] for line in conf.group(1).splitlines())
    assert int(re.search(r"^max_payload: (\d+)$", text, re.M).group(1)) == MAX_PAYLOAD_BYTES  # type: ignore[union-attr]
    conf_file = tmp_path / "nats.conf"
    conf_file.write_text(text.replace("/data/jetstream", str(tmp_path / "js")))
    checked = subprocess.run([find_binary(), "-c", str(conf_file), "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
