"""The OpenAPI 3.1 document of the HTTP API, generated from the route table and the message Structs.

Nothing here is written by hand per route, so the document cannot drift from what the gateway does:
- paths and methods are `routes.ROUTES`, in their canonical form: the table's path without a trailing
  slash (the gateway answers `/api/programs/` too; the document lists each route once). aiohttp's
  `{id:\\d+}` becomes `{id}` with the pattern kept on the parameter's schema;
- parameters follow the rules of `requests.RequestBuilder`: path parameters set their field; the query
  string sets every other field on GET/DELETE and only `Route.query` on POST/PUT, whose other fields
  are the JSON body (`text_body` routes take the raw CSV text or a multipart file instead);
- schemas are msgspec's JSON Schema (2020-12, which OpenAPI 3.1 uses natively) of the request Struct
  and of `Route.reply` (a paged route replies a JSON array of its items plus an `X-Next-Cursor`
  header; a 204 has no body);
- every error the gateway can return is the `ErrorEnvelope` schema under its status;
- `links` let a client (and schemathesis' stateful phase) go from a create to the resource it made:
  a 201/202 reply field fills the path parameter of the routes under that resource.

`SpecOptions.bearer` declares the bearer-token scheme (`security` on every operation and a 401), for
the gateway to switch on when it checks tokens.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import msgspec

from services.gateway.routes import ROUTES, Route
from shared import subjects
from shared.errors import ErrorEnvelope
from shared.paging import NEXT_CURSOR_HEADER

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PARAM = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})+))?\}")
"""aiohttp's `{name}` or `{name:regex}` (the regex may hold `{16}`-style counts)."""

# Status → (component name, description). Every operation lists all of these (409 on writes only).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request cannot be read: malformed JSON, a body nested too deep, a bad header or encoding."),
    401: ("Unauthorized", "No bearer token, or one that is not valid (`WWW-Authenticate` says which scheme)."),
    404: ("NotFound", "No such route, or the resource (or an id the request names) does not exist for this owner."),
    405: ("MethodNotAllowed", "The path exists but not with this method; `Allow` lists the methods."),
    409: ("Conflict", "The write raced another one or breaks a rule (e.g. a program still used by bindings)."),
    413: ("PayloadTooLarge", "The body, or the message it makes, is over a size limit (`details.limit`, `details.max`)."),
    415: ("UnsupportedMediaType", "The body's Content-Type is not one this route reads."),
    422: ("InvalidRequest", "A field breaks the schema or a rule (`details.field` names it), or the program failed."),
    429: ("TooManyRequests", "Over the rate limit; `Retry-After` says when to try again."),
    503: ("Unavailable", "A service or the message bus is not there right now; retry shortly."),
    504: ("Timeout", "The service did not answer in time."),
}
SSE_EVENT: dict[str, Any] = {
    "description": "One Server-Sent Event (OpenAPI 3.1: the schema of an event stream describes each event).",
    "type": "object",
    "properties": {
        "event": {"enum": ["token", "tool_call", "tool_result", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json", "description": "the event's JSON"},
    },
    "required": ["event", "data"],
}
ALWAYS = (400, 404, 405, 413, 415, 422, 503, 504)
WRITES_ALSO = (409,)

INFO_DESCRIPTION = """\
Write, validate, dry-run, backtest and run trading programs.

* Every route also answers with a trailing slash (`/api/programs/`); this document lists the form
  without it.
* Errors are one JSON envelope: `{"error": {"code", "message", "details"}}`; `details.field` names the
  field at fault.
* Lists reply a JSON array; when more follow, the `X-Next-Cursor` header holds the cursor to pass back
  as `?cursor=`.
* `X-Request-ID` (echoed back, made up when absent) ties a request to its log lines.
"""


PARAMETER_EXAMPLES: dict[str, Any] = {"symbol": "BTC", "timeframe": "1h"}
"""Examples of query parameters by name (a client, or schemathesis, starts from a symbol that exists)."""


def body_examples() -> dict[type, dict[str, Any]]:
    """A working body per request Struct (the dev guide's example program where code is needed), so the
    docs show a request that succeeds and the contract fuzzer's first step can create resources.
    tests/api/test_openapi.py checks each against its Struct, and the fuzz run sends them."""
    from services.executor.guide import examples
    from shared.messages.backtests import BacktestSubmit
    from shared.messages.live import AccountCreate, PoolCreate
    from shared.messages.market import MarketQuery
    from shared.messages.programs import ProgramCreate
    from shared.messages.runs import TestRunRequest, ValidateRequest

    code = examples().get("sma_ema_crossover") or next(iter(examples().values()))
    return {
        ProgramCreate: {"name": "SMA/EMA Crossover", "code": code, "description": "from the dev guide"},
        ValidateRequest: {"code": code},
        TestRunRequest: {"symbol": "BTC", "timeframe": "1h", "code": code},
        BacktestSubmit: {"symbol": "BTC", "timeframe": "1h", "code": code, "start_date": "2024-01-01", "end_date": "2024-01-08"},
        MarketQuery: {"symbol": "BTC", "timeframe": "1h", "indicators": ["rsi(14)", "sma(20)"]},
        AccountCreate: {"name": "Paper account", "initial_capital": 10000, "fee_rate": 0.0005, "leverage": 1},
        PoolCreate: {
            "name": "RSI oversold",
            "logic": "AND",
            "signals": [{"symbol": "BTC", "timeframe": "1h", "metric": "rsi(14)", "operator": "<", "value": 30}],
        },
    }


@dataclass(frozen=True, slots=True)
class SpecOptions:
    bearer: bool = False
    """Declare the bearer-token scheme, require it on every operation and document its 401."""
    owner_header: bool = False
    """Document the `X-Owner` header, required (`AUTH_MODE=proxy`: the trusted proxy says who acts)."""
    extra_errors: tuple[int, ...] = ()
    """Further statuses every operation may answer (e.g. 429 once rate limits exist); keys of ERRORS."""
    title: str = "Hyperoru Programs API"


def _version() -> str:
    try:
        return metadata.version("hyperoru-programs")
    except metadata.PackageNotFoundError:  # running from a tree that is not installed
        return "0.0.0"


def canonical_path(path: str) -> str:
    """The document's form of a route path: `{id:\\d+}` → `{id}`, no trailing slash."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path.rstrip("/")) or "/"


def path_patterns(path: str) -> dict[str, str]:
    """Each path parameter's regex (`\\d+` for ids), anchored as JSON Schema patterns are searched."""
    return {m.group(1): f"^(?:{m.group(2)})$" for m in _PARAM.finditer(path) if m.group(2)}


def operation_id(route: Route) -> str:
    return route.subject.replace(".", "_")


def query_fields(route: Route) -> tuple[str, ...]:
    """The fields the query string may set: the same rule as `requests.RequestBuilder`."""
    names = [f.encode_name for f in msgspec.structs.fields(route.request)]
    if route.query is not None:
        return route.query
    return () if route.method.upper() in _BODY_METHODS else tuple(names)


class _Builder:
    def __init__(self, routes: tuple[Route, ...], options: SpecOptions) -> None:
        self.routes = routes
        self.options = options
        types: list[Any] = [ErrorEnvelope]
        for route in routes:
            types.append(route.request)
            if route.reply is not None:
                types.append(route.reply)
        schemas, components = msgspec.json.schema_components(types, ref_template=REF)
        self.components: dict[str, Any] = components
        self.refs = dict(zip((id(t) for t in types), schemas, strict=True))
        self.examples = body_examples()

    def schema_of(self, type_: Any) -> dict[str, Any]:
        return self.refs[id(type_)]

    def struct_schema(self, type_: type) -> dict[str, Any]:
        ref = self.schema_of(type_)["$ref"]
        return self.components[ref.rsplit("/", 1)[1]]

    # -- one operation ---------------------------------------------------------------------------------
    def operation(self, route: Route) -> dict[str, Any]:
        struct = self.struct_schema(route.request)
        properties: dict[str, Any] = struct.get("properties", {})
        required = set(struct.get("required", ()))
        patterns = path_patterns(route.path)
        in_path = [m.group(1) for m in _PARAM.finditer(route.path)]
        in_query = [name for name in query_fields(route) if name not in in_path]
        parameters = [self._path_parameter(name, properties.get(name, {"type": "string"}), patterns) for name in in_path]
        parameters += [self._query_parameter(name, properties[name], name in required) for name in in_query]
        if self.options.owner_header:
            parameters.append({"$ref": "#/components/parameters/Owner"})
        op: dict[str, Any] = {
            "operationId": operation_id(route),
            "tags": [route.subject.split(".")[1]],
            "summary": f"{route.method} {canonical_path(route.path)}",
            "parameters": parameters,
            "responses": self._responses(route),
        }
        doc = (route.request.__doc__ or "").strip()
        if doc and doc != (msgspec.Struct.__doc__ or "").strip():
            op["description"] = doc
        body = self._request_body(route, properties, required, set(in_path) | set(in_query))
        if body is not None:
            op["requestBody"] = body
        return op

    @staticmethod
    def _path_parameter(name: str, schema: dict[str, Any], patterns: dict[str, str]) -> dict[str, Any]:
        schema = _without_null(schema)
        if name in patterns and schema.get("type") == "string" and "pattern" not in schema:
            schema = {**schema, "pattern": patterns[name]}
        return {"name": name, "in": "path", "required": True, "schema": schema}

    @staticmethod
    def _query_parameter(name: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
        # The null branch stays: the gateway reads `?mode=null` as "not given" (msgspec's lax conversion).
        param: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
        if "description" in schema:
            param["description"] = schema["description"]
        if name in PARAMETER_EXAMPLES:
            param["example"] = PARAMETER_EXAMPLES[name]
        if _without_null(schema).get("type") == "array":
            param["style"], param["explode"] = "form", True  # `?symbol=A&symbol=B`
        return param

    def _request_body(self, route: Route, properties: dict[str, Any], required: set[str], taken: set[str]) -> dict[str, Any] | None:
        if route.text_body is not None:
            text = {"type": "string", "description": f"the `{route.text_body}` field: the file's text"}
            multipart = {
                "type": "object",
                "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}},
                "required": ["file"],
            }
            return {
                "required": True,
                "content": {"text/csv": {"schema": text}, "text/plain": {"schema": text}, "multipart/form-data": {"schema": multipart}},
            }
        if route.method.upper() not in _BODY_METHODS:
            return None
        left = [name for name in properties if name not in taken]
        if not left:
            return None  # nothing the body could set (e.g. preview-run: the id is the path)
        name = self.schema_of(route.request)["$ref"].rsplit("/", 1)[1]
        if taken & set(properties):
            body_name = f"{name}Body"
            body = copy.deepcopy(self.components[name])
            body["title"] = body_name
            body["properties"] = {k: v for k, v in body["properties"].items() if k not in taken}
            body["required"] = [k for k in body.get("required", ()) if k not in taken]
            self.components[body_name] = body
            name = body_name
        media: dict[str, Any] = {"schema": {"$ref": REF.format(name=name)}}
        example = self.examples.get(route.request)
        if example is not None:
            media["example"] = {k: v for k, v in example.items() if k not in taken}
        return {"required": bool(required - taken), "content": {"application/json": media}}

    def _responses(self, route: Route) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        if route.status == 204 or route.reply is None:
            responses[str(route.status)] = {"description": "Done; no body."}
        else:
            ok: dict[str, Any] = {
                "description": "A page of items (the JSON array); `X-Next-Cursor` continues it." if route.paged else "OK",
                "content": {"application/json": {"schema": self.schema_of(route.reply)}},
            }
            if route.paged:
                ok["headers"] = {NEXT_CURSOR_HEADER: {"$ref": "#/components/headers/NextCursor"}}
            if route.streams:
                ok["description"] = (
                    "The reply as JSON; or, with `\"stream\": true` or `Accept: text/event-stream`, Server-Sent "
                    "Events: `token`, `tool_call`, `tool_result` while it works, then `done` (this reply) or "
                    "`error` (the error envelope with its `status`)."
                )
                ok["content"]["text/event-stream"] = {"schema": SSE_EVENT}
            responses[str(route.status)] = ok
        statuses = set(ALWAYS) | set(self.options.extra_errors)
        if route.method.upper() != "GET":
            statuses |= set(WRITES_ALSO)
        if self.options.bearer:
            statuses.add(401)
        for status in sorted(statuses):
            responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
        return responses

    # -- links: create → the resource it made -----------------------------------------------------------
    def add_links(self, paths: dict[str, Any]) -> None:
        for creator in self.routes:
            if creator.method.upper() != "POST" or creator.status not in (201, 202) or creator.reply is None:
                continue
            try:
                reply_fields = set(self.struct_schema(creator.reply).get("properties", {}))
            except (KeyError, TypeError):
                continue
            links: dict[str, Any] = {}
            for target in self.routes:
                values = self._link_values(creator, target, reply_fields)
                if values:
                    links[operation_id(target)] = {
                        "operationId": operation_id(target),
                        "parameters": {name: f"$response.body#/{field}" for name, field in values.items()},
                    }
            if links:
                op = paths[canonical_path(creator.path)][creator.method.lower()]
                op["responses"][str(creator.status)]["links"] = links
        for lister in self.routes:  # a list → its first item (GET /executions → /executions/{id})
            if not lister.paged or lister.reply is None:
                continue
            item = self.schema_of(lister.reply).get("items", {})
            ref = item.get("$ref", "")
            fields = set(self.components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})) if ref else set()
            base = canonical_path(lister.path)
            links = {}
            for target in self.routes:
                names = [m.group(1) for m in _PARAM.finditer(target.path)]
                own = [m.group(1) for m in _PARAM.finditer(lister.path)]
                if target.method.upper() != "GET" or canonical_path(target.path) != f"{base}/{{{names[-1] if names else ''}}}":
                    continue
                key = names[-1]
                field = key if key in fields else "id" if "id" in fields else None
                if field is None:
                    continue
                parameters = {key: f"$response.body#/0/{field}"} | {name: f"$request.path.{name}" for name in own}
                links[operation_id(target)] = {"operationId": operation_id(target), "parameters": parameters}
            if links:
                paths[base][lister.method.lower()]["responses"][str(lister.status)]["links"] = links

    @staticmethod
    def _link_values(creator: Route, target: Route, reply_fields: set[str]) -> dict[str, str]:
        """Which reply field fills each path parameter of `target`, or {} when they cannot all be filled.

        The first parameter follows the literal prefix `…/<resources>/{p}`: it takes the reply's `id`
        when the creator's path is that prefix (POST /accounts → /accounts/{id}), or the reply's
        `<resource>_id` (POST …/backtest → `backtest_id` → /backtest/{bt_id}; a binding's `account_id`
        → /accounts/{id}). Later parameters take the reply field of their own name (`version`).
        """
        names = [m.group(1) for m in _PARAM.finditer(target.path)]
        if not names or target is creator:
            return {}
        prefix = canonical_path(target.path).split("{", 1)[0].rstrip("/")
        resource = prefix.rsplit("/", 1)[-1].replace("-", "_")
        candidates = ["id"] if canonical_path(creator.path) == prefix else []
        candidates.append(f"{resource.removesuffix('s')}_id")
        field = next((name for name in candidates if name in reply_fields), None)
        if field is None:
            return {}
        values = {names[0]: field}
        for name in names[1:]:
            if name not in reply_fields:
                return {}
            values[name] = name
        return values

    # -- the whole document ------------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for route in self.routes:
            paths.setdefault(canonical_path(route.path), {})[route.method.lower()] = self.operation(route)
        self.add_links(paths)
        components: dict[str, Any] = {
            "schemas": self.components,
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": self.schema_of(ErrorEnvelope)}}}
                for name, text in ERRORS.values()
            },
            "headers": {
                "NextCursor": {
                    "description": "Present when more items follow: pass it back as `?cursor=` for the next page.",
                    "schema": {"type": "string"},
                }
            },
            "parameters": {
                "Owner": {
                    "name": subjects.OWNER_HEADER,
                    "in": "header",
                    "required": True,
                    "description": "Who the request acts for, set by the trusted proxy in front of the gateway "
                    "(`AUTH_MODE=proxy`): 1-64 letters, digits or `._@-`.",
                    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._@-]{1,64}$"},
                }
            },
        }
        doc: dict[str, Any] = {
            "openapi": OPENAPI_VERSION,
            "info": {"title": self.options.title, "version": _version(), "description": INFO_DESCRIPTION},
            "paths": paths,
            "components": components,
        }
        if self.options.bearer:
            components["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (`hyperoru token create`)."}
            }
            doc["security"] = [{"bearerAuth": []}]
        _prune(doc)
        return doc


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its `null` branch: an absent parameter is the null."""
    options = schema.get("anyOf")
    if options is None:
        return {k: v for k, v in schema.items() if not (k == "default" and v is None)}
    kept = [s for s in options if s != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _prune(doc: dict[str, Any]) -> None:
    """Drop schema components nothing refers to (the GET requests, whose fields became parameters)."""
    schemas = doc["components"]["schemas"]
    used: set[str] = set()
    pending = _refs({k: v for k, v in doc.items() if k != "components"}) | _refs(
        {k: v for k, v in doc["components"].items() if k != "schemas"}
    )
    while pending:
        name = pending.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        pending |= _refs(schemas[name])
    for name in list(schemas):
        if name not in used:
            del schemas[name]


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    prefix = REF.format(name="")
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix):])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def build_openapi(routes: tuple[Route, ...] = ROUTES, options: SpecOptions | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-able dict) of `routes`."""
    return _Builder(routes, options or SpecOptions()).document()
