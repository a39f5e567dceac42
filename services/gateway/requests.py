"""Turning an HTTP request into the msgspec message its route names, or a 4xx that says why not.

Where a field may come from is decided per route, never guessed:
- path parameters always set their field; a path value the field cannot hold (an id of 2^63, say)
  names nothing, so it is a 404, not a validation error;
- the query string sets only the fields the route allows (`Route.query`): by default every field for
  GET/DELETE and none for POST/PUT, whose fields travel in the JSON body (a query string never
  changes a body field). An unknown, disallowed or repeated parameter is a 422 naming it;
- the JSON body is decoded strictly (a string where a number belongs is an error, not a guess), nested
  at most `MAX_JSON_DEPTH` deep (400 beyond), and holds no integer the stores cannot keep (422).
Errors keep the field's path so the client knows exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from multidict import MultiMapping

from shared.errors import BadRequest, InvalidRequest, NotFound, validation_error
from shared.jsonints import may_hold_long_int
from shared.limits import MAX_JSON_DEPTH
from shared.messages.base import INT64_MAX, INT64_MIN

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def printable(text: str, limit: int = 80) -> str:
    """A client-given name made safe to echo in a message (no control characters, valid UTF-8)."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return cleaned.encode("utf-8", "replace").decode("utf-8")


class RequestBuilder:
    """Builds one route's message; the field types are looked up once, not per request."""

    def __init__(self, message_type: type, *, method: str = "GET", query: tuple[str, ...] | None = None) -> None:
        self._type = message_type
        self._fields = {f.encode_name: f.type for f in msgspec.structs.fields(message_type)}
        if query is None:
            query = () if method.upper() in _BODY_METHODS else tuple(self._fields)
        unknown = set(query) - set(self._fields)
        if unknown:
            raise ValueError(f"{message_type.__name__} has no field(s) {sorted(unknown)} for the query string")
        self._query_fields = frozenset(query)
        self._repeatable = frozenset(name for name, ty in self._fields.items() if _is_list(ty))

    @property
    def query_fields(self) -> frozenset[str]:
        return self._query_fields

    def build(
        self, raw_body: bytes, path: Mapping[str, str], query: MultiMapping[str], *, text_field: str | None = None
    ) -> Any:
        """`text_field` names the field that takes the whole body as text (CSV uploads) instead of JSON."""
        values = self._path(path)
        values.update(self._query(query, path))
        body = decode_json_body(raw_body) if text_field is None else {text_field: _decode_text(raw_body)}
        for name in body:
            if name in values:
                where = "URL path" if name in path else "query string"
                raise InvalidRequest(
                    f"`{printable(name)}` is given by the {where} and cannot be set in the body too", details={"field": name}
                )
        try:
            return msgspec.convert({**body, **values}, self._type)
        except msgspec.ValidationError as exc:
            raise validation_error(exc) from None

    def _path(self, params: Mapping[str, str]) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name, text in params.items():
            field_type = self._fields.get(name)
            if field_type is None:
                raise InvalidRequest(f"unknown path parameter `{printable(name)}`", details={"field": name})
            try:
                converted[name] = msgspec.convert(text, field_type, strict=False)
            except msgspec.ValidationError:
                raise NotFound(f"nothing has {name} {printable(text, 40)}", details={"field": name}) from None
        return converted

    def _query(self, params: MultiMapping[str], path: Mapping[str, str]) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name in params.keys():
            if name in converted:
                continue
            shown = printable(name)
            if name not in self._fields:
                raise InvalidRequest(f"unknown query parameter `{shown}`", details={"field": shown})
            if name in path:
                raise InvalidRequest(f"`{shown}` is given by the URL path, not the query string", details={"field": name})
            if name not in self._query_fields:
                raise InvalidRequest(
                    f"`{shown}` cannot be set by the query string; send it in the JSON body", details={"field": name}
                )
            texts = params.getall(name)
            if name in self._repeatable:
                value: Any = list(texts)
            elif len(texts) > 1:
                raise InvalidRequest(f"query parameter `{shown}` is given {len(texts)} times", details={"field": name})
            else:
                value = texts[0]
            try:
                converted[name] = msgspec.convert(value, self._fields[name], strict=False)
            except msgspec.ValidationError as exc:
                reason = validation_error(exc).details["reason"]
                raise InvalidRequest(
                    f"query parameter `{shown}`: {reason}", details={"field": name, "reason": reason}
                ) from None
        return converted


def decode_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object, or the 4xx that says why the body is not one we take."""
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Both scans below are skipped (C-speed checks on the raw bytes) for ordinary bodies.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        _check_depth(body)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", details={"field": "$"})
    if may_hold_long_int(raw):  # integer tokens of 19+ digits only: long fractions do not set it off
        _check_integers(body, "")
    return body


def _check_depth(body: Any) -> None:
    if not isinstance(body, dict | list):
        return
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _check_integers(node: Any, path: str) -> None:
    """An integer no store can hold (64-bit) is refused here, naming where it is. Depth is bounded already."""
    if isinstance(node, dict):
        for key, child in node.items():
            _check_integers(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            _check_integers(child, f"{path}[{index}]")
    elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
        field = printable(path or "$")
        reason = "integer out of range (a 64-bit integer at most)"
        raise InvalidRequest(f"`{field}`: {reason}", details={"field": field, "reason": reason})


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 text (byte {exc.start})") from None


def _is_list(field_type: Any) -> bool:
    """A list field takes a repeated query parameter (`?symbol=A&symbol=B`); any other field takes one."""
    try:
        info = msgspec.inspect.type_info(field_type)
    except (TypeError, ValueError):
        return False
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        return any(isinstance(t, msgspec.inspect.ListType | msgspec.inspect.SetType) for t in info.types)
    return isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType)
