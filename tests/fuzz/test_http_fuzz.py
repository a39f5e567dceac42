"""Property-based HTTP fuzz of every route of the route table against the live test platform.

For any method, path (ids in and out of range, junk segments), query string, body (JSON built from the
route's own fields with random values, deep nesting, huge integers, raw bytes, false gzip) and headers
(Content-Type, Content-Encoding, X-Owner), the gateway must answer without a 5xx other than a JSON
503/504, and every error must be the JSON envelope `{"error": {"code", "message", ...}}`.

It iterates `ROUTES`, so routes added later are fuzzed with no change here. Requests go through
`http.client` in a worker thread (hypothesis drives a synchronous function) while the platform keeps
running on the test's event loop. Derandomized, with a bounded number of examples: about a minute in
all on a slow machine, and the same examples every run.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import re
import socket
import string
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from services.gateway.app import init_app
from services.gateway.routes import ROUTES, Route
from services.gateway.server import GatewayRunner
from tests.harness import RunningPlatform

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(240)]

EXAMPLES = 250
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
_PARAM = re.compile(r"\{(\w+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")


@pytest_asyncio.fixture(scope="module")
async def gateway(platform: RunningPlatform) -> AsyncIterator[str]:
    from aiohttp import web

    runner = GatewayRunner(init_app(platform.settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


# --- strategies ---------------------------------------------------------------------------------

big_ints = st.sampled_from([2**53, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, -1, 0])
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), big_ints, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def segment_for(pattern: str | None) -> st.SearchStrategy[str]:
    """A path parameter: usually one its pattern matches (so the route is reached), sometimes junk."""
    matching = st.from_regex(f"\\A(?:{pattern or '[^/]+'})\\Z").filter(lambda s: "/" not in s and s not in (".", ".."))
    junk = st.one_of(st.text(min_size=1, max_size=30), big_ints.map(str), st.just("0"), st.just("-1"))
    return st.one_of(matching, matching, junk).map(lambda s: quote(s, safe=""))


@st.composite
def paths(draw: st.DrawFn, route: Route) -> str:
    path = route.path
    for name, pattern in _PARAM.findall(route.path):
        placeholder = f"{{{name}:{pattern}}}" if pattern else f"{{{name}}}"
        path = path.replace(placeholder, draw(segment_for(pattern)), 1)
    return path + draw(st.sampled_from(["", "", "/", "/extra", "//"]))


def field_names(route: Route) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(route.request)]


@st.composite
def queries(draw: st.DrawFn, route: Route) -> str:
    names = st.sampled_from(field_names(route) or ["x"]) | st.text(string.ascii_letters + "_", min_size=1, max_size=8)
    values = st.one_of(st.text(max_size=20), big_ints.map(str), st.integers(-5, 600).map(str), st.just(""))
    pairs = draw(st.lists(st.tuples(names, values), max_size=4))
    return ("?" + urlencode(pairs)) if pairs else ""


@st.composite
def bodies(draw: st.DrawFn, route: Route) -> bytes | None:
    kind = draw(st.sampled_from(["none", "fields", "fields", "json", "raw", "deep"]))
    if kind == "none":
        return None
    if kind == "fields":  # the route's own fields, with values of any JSON type
        names = field_names(route)
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))) if names else []
        return json.dumps({name: draw(json_values) for name in chosen}).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 2000]))
        return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    return draw(st.binary(max_size=200))


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20)
content_types = st.sampled_from(
    [None, "application/json", "application/problem+json", "text/csv", "text/plain", "multipart/form-data",
     "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "image/png", "garbage"]
) | header_text
owners = st.sampled_from([None, "fuzz-owner", "", " ", "a b", "x" * 70, "ü"]) | header_text
encodings = st.sampled_from([None, None, "gzip", "gzip-real", "deflate", "br", "compress", "identity"])


# --- checks ---------------------------------------------------------------------------------------


def check_response(method: str, status: int, headers: dict[str, str], body: bytes, what: str) -> None:
    assert status < 500 or status in (503, 504), f"{status} for {what}: {body[:300]!r}"
    if method == "HEAD" or status in (204, 304):
        return
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/json"), f"{status} not JSON for {what}: {body[:200]!r}"
        envelope = json.loads(body)
        assert isinstance(envelope, dict) and set(envelope) == {"error"}, f"{what}: {envelope}"
        error = envelope["error"]
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str) and error["message"], what
    elif body:
        json.loads(body)  # a success is JSON too


def send(host: str, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


# --- the fuzz -------------------------------------------------------------------------------------


def fuzz_routes(host: str) -> None:
    @FUZZ
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        route = data.draw(st.sampled_from(ROUTES), label="route")
        method = data.draw(st.sampled_from([route.method] * 4 + METHODS), label="method")
        target = data.draw(paths(route), label="path") + data.draw(queries(route), label="query")
        body = data.draw(bodies(route), label="body")
        headers: dict[str, str] = {}
        owner = data.draw(owners, label="owner")
        if owner is not None:
            headers["X-Owner"] = owner
        content_type = data.draw(content_types, label="content_type")
        if content_type is not None and body is not None:
            headers["Content-Type"] = content_type
        coding = data.draw(encodings, label="encoding")
        if coding is not None and body is not None:
            if coding == "gzip-real":
                body, coding = gzip.compress(body), "gzip"
            headers["Content-Encoding"] = coding
        try:
            status, response_headers, response_body = send(host, method, target, body, headers)
        except (ValueError, UnicodeEncodeError):  # http.client refuses to send it (e.g. a header it cannot encode)
            assume(False)
            return
        check_response(method, status, response_headers, response_body, f"{method} {target} {headers} {body!r:.200}")

    one_request()


def fuzz_raw_requests(host: str) -> None:
    """Requests no HTTP client would send: aiohttp's parser must answer (in JSON) or close, never crash."""
    address, port = host.split(":")
    token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1, max_size=12)

    @settings(FUZZ, max_examples=EXAMPLES // 2)
    @given(
        method=st.sampled_from(METHODS) | token,
        target=st.sampled_from([route.path for route in ROUTES]) | token.map(lambda t: "/" + t),
        version=st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "HTTP/1.1 x", ""]),
        header=st.tuples(token, st.binary(max_size=30)),
    )
    def one_raw(method: str, target: str, version: str, header: tuple[str, bytes]) -> None:
        name, value = header
        head = f"{method} {target} {version}".encode("latin-1", "replace")
        raw = head + b"\r\n" + name.encode("latin-1", "replace").replace(b":", b"") + b": " + value.replace(b"\r", b"").replace(b"\n", b"")
        raw += b"\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        with socket.create_connection((address, int(port)), timeout=30) as sock:
            sock.sendall(raw)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        answer = b"".join(chunks)
        if not answer:
            return  # the server closed without a word: acceptable for junk
        head_bytes, _, body = answer.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
        check_response("HEAD" if method == "HEAD" else method, status, headers, body, repr(raw[:200]))

    one_raw()


async def test_every_route_answers_random_requests_with_json_and_no_5xx(gateway: str) -> None:
    await asyncio.to_thread(fuzz_routes, gateway)


async def test_unparseable_requests_are_answered_in_json_or_closed(gateway: str) -> None:
    await asyncio.to_thread(fuzz_raw_requests, gateway)


def test_the_fuzz_reaches_every_route() -> None:
    """Every path pattern yields a path its own route matches, so no route is fuzzed only by 404s."""
    from hypothesis import find

    for route in ROUTES:
        regex = "^" + _PARAM.sub(lambda m: f"(?:{m.group(2) or '[^/]+'})", route.path) + "$"
        found: Any = find(paths(route), lambda p, r=regex: re.match(r, p) is not None, settings=settings(database=None, max_examples=500))
        assert re.match(regex, found), (route.path, found)
