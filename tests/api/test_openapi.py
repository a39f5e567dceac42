"""The OpenAPI document: valid 3.1, exactly the route table, and true to what the gateway does.

Most checks need no platform (the document is a function of the route table); the last ones read it
over HTTP and compare each route's declared reply with its service handler's return annotation.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from services.gateway.openapi import ALWAYS, ERRORS, SpecOptions, body_examples, build_openapi, canonical_path, query_fields
from services.gateway.requests import RequestBuilder
from services.gateway.routes import ROUTES, Route
from shared.paging import NEXT_CURSOR_HEADER, ListPage
from tests.harness import Api, RunningPlatform

SPEC = build_openapi()
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _operation(route: Route) -> dict[str, Any]:
    return SPEC["paths"][canonical_path(route.path)][route.method.lower()]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = SPEC["components"][section][name]
    return node


def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate(SPEC)


def test_with_the_bearer_scheme_it_is_valid_and_every_operation_documents_401() -> None:
    spec = build_openapi(options=SpecOptions(bearer=True, extra_errors=(429,)))
    validate(spec)
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for ops in spec["paths"].values():
        for op in ops.values():
            assert {"401", "429"} <= set(op["responses"])
    assert "security" not in SPEC and "securitySchemes" not in SPEC["components"]


def test_every_route_of_the_table_is_in_it_and_nothing_else() -> None:
    table = {(route.method.lower(), canonical_path(route.path)) for route in ROUTES}
    documented = {(method, path) for path, ops in SPEC["paths"].items() for method in ops if method in METHODS}
    assert documented == table
    assert len(table) == len(ROUTES), "two routes of the table have the same method and path"
    ids = [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_canonical_paths_drop_regexes_and_trailing_slashes() -> None:
    assert canonical_path(r"/api/programs/{id:\d+}/versions/{version:\d+}/") == "/api/programs/{id}/versions/{version}"
    assert canonical_path("/api/programs/backtest/{bt_id:bt-[0-9a-f]{16}}") == "/api/programs/backtest/{bt_id}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_route_declares_its_reply(route: Route) -> None:
    if route.status == 204:
        assert route.reply is None, "a 204 has no body"
    else:
        assert route.reply is not None, "add reply=<the reply type> to this Route (paged: list[Item])"
    if route.paged:
        assert typing.get_origin(route.reply) is list, "a paged route replies list[Item]"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_parameters_and_body_follow_the_request_builder(route: Route) -> None:
    op = _operation(route)
    params = [_resolve(p) for p in op["parameters"]]
    in_path = {p["name"] for p in params if p["in"] == "path"}
    in_query = {p["name"] for p in params if p["in"] == "query"}
    fields = {f.encode_name for f in msgspec.structs.fields(route.request)}
    builder = RequestBuilder(route.request, method=route.method, query=route.query)
    assert in_path == set(canonical_path(route.path).replace("}", "{").split("{")[1::2])
    assert in_query == set(builder.query_fields) - in_path == set(query_fields(route)) - in_path
    required = {f.encode_name for f in msgspec.structs.fields(route.request) if f.required}
    for p in params:
        if p["in"] == "query":
            assert p["required"] == (p["name"] in required)
    body = op.get("requestBody")
    if route.text_body is not None:
        assert {"text/csv", "multipart/form-data"} <= set(body["content"])
        return
    body_fields = fields - in_path - in_query
    if route.method in ("GET", "DELETE") or not body_fields:
        assert body is None
        return
    schema = _resolve(body["content"]["application/json"]["schema"])
    assert set(schema["properties"]) == body_fields
    assert schema["additionalProperties"] is False  # Requests forbid unknown fields: the document says so
    assert body["required"] == bool(required & body_fields)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_responses_name_the_success_and_every_gateway_error(route: Route) -> None:
    responses = _operation(route)["responses"]
    success = responses[str(route.status)]
    if route.status == 204:
        assert "content" not in success
    else:
        schema = success["content"]["application/json"]["schema"]
        if route.paged:
            assert schema["type"] == "array"
            assert NEXT_CURSOR_HEADER in success["headers"]
    for status in ALWAYS:
        envelope = _resolve(responses[str(status)])["content"]["application/json"]["schema"]
        assert envelope == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert ("409" in responses) == (route.method != "GET")
    assert set(responses) <= {str(route.status), *map(str, ERRORS)}


def test_body_examples_are_valid_requests() -> None:
    routes = {route.request: route for route in ROUTES}
    for struct, example in body_examples().items():
        assert struct in routes, f"{struct.__name__} is no route's request"
        msgspec.convert(example, struct)  # raises if the example drifted from the Struct
        op = _operation(routes[struct])
        assert op["requestBody"]["content"]["application/json"]["example"] == example


def test_create_routes_link_to_the_resource_they_made() -> None:
    links = SPEC["paths"]["/api/programs"]["post"]["responses"]["201"]["links"]
    assert links["registry_programs_get"]["parameters"] == {"id": "$response.body#/id"}
    assert links["registry_program_versions_get"]["parameters"] == {"id": "$response.body#/id", "version": "$response.body#/version"}
    submit = SPEC["paths"]["/api/programs/backtest"]["post"]["responses"]["202"]["links"]
    assert submit["backtester_backtests_get"]["parameters"] == {"bt_id": "$response.body#/backtest_id"}
    for ops in SPEC["paths"].values():  # every link names an operation that exists, with its parameters
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    target = next(o for p in SPEC["paths"].values() for o in p.values() if o["operationId"] == link["operationId"])
                    names = {_resolve(p)["name"] for p in target["parameters"] if _resolve(p)["in"] == "path"}
                    assert set(link["parameters"]) == names


def test_in_proxy_mode_every_operation_requires_the_owner_header() -> None:
    spec = build_openapi(options=SpecOptions(owner_header=True, extra_errors=(401,)))
    validate(spec)
    owner = spec["components"]["parameters"]["Owner"]
    assert owner["in"] == "header" and owner["name"] == "X-Owner" and owner["required"] is True
    for ops in spec["paths"].values():
        for op in ops.values():
            assert {"$ref": "#/components/parameters/Owner"} in op["parameters"]
    assert "Owner" not in SPEC["components"].get("parameters", {}) or all(
        {"$ref": "#/components/parameters/Owner"} not in op["parameters"] for ops in SPEC["paths"].values() for op in ops.values()
    )


async def test_the_gateway_serves_the_same_document(api: Api, platform: RunningPlatform) -> None:
    from services.gateway.auth import spec_options

    status, served = await api.get("/openapi.json")
    assert status == 200
    assert api.last_headers["Content-Type"].startswith("application/json")
    assert served == build_openapi(options=spec_options(platform.settings))


def _strip(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


async def test_declared_replies_match_the_service_handlers(platform: RunningPlatform) -> None:
    """Each route's `reply` is what its handler is annotated to return (ListPage for paged routes)."""
    handlers = {e.subject: e for service in platform.services for e in service._endpoints}
    for route in ROUTES:
        endpoint = handlers.get(route.subject)
        assert endpoint is not None, f"no service serves {route.subject}"
        assert issubclass(endpoint.request_type, route.request)  # the chat adds a field only the gateway sets
        returns = typing.get_type_hints(endpoint.handler).get("return")
        if route.paged:
            assert returns is ListPage, route.subject
        elif route.status != 204:
            assert _strip(returns) == _strip(route.reply), route.subject
