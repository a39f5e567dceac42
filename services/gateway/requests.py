"""Turning an HTTP request into the msgspec message its route names, or a 4xx that says why not.

Path and query parameters arrive as text and are converted to the message's field types; the JSON
body is decoded strictly (a string where a number belongs is an error, not a guess). Errors keep the
field's path so the client knows exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from shared.errors import BadRequest, InvalidRequest, validation_error


class RequestBuilder:
    """Builds one route's message; the field types are looked up once, not per request."""

    def __init__(self, message_type: type) -> None:
        self._type = message_type
        self._fields = {f.encode_name: f.type for f in msgspec.structs.fields(message_type)}

    def build(self, raw_body: bytes, path: Mapping[str, str], query: Mapping[str, str], *, text_field: str | None = None) -> Any:
        """`text_field` names the field that takes the whole body as text (CSV uploads) instead of JSON."""
        values = self._params(path, "path")
        for name, value in self._params(query, "query").items():
            values.setdefault(name, value)
        body = _decode_body(raw_body) if text_field is None else {text_field: _decode_text(raw_body)}
        for name in body:
            if name in path:
                raise InvalidRequest(
                    f"`{name}` is given by the URL and cannot be set in the body", details={"field": name}
                )
        try:
            return msgspec.convert({**body, **values}, self._type)
        except msgspec.ValidationError as exc:
            raise validation_error(exc) from None

    def _params(self, params: Mapping[str, str], where: str) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name, text in params.items():
            field_type = self._fields.get(name)
            if field_type is None:
                raise InvalidRequest(f"unknown {where} parameter `{name}`", details={"field": name})
            try:
                converted[name] = msgspec.convert(text, field_type, strict=False)
            except msgspec.ValidationError as exc:
                reason = str(exc).split(" - at ")[0]
                raise InvalidRequest(
                    f"{where} parameter `{name}`: {reason}", details={"field": name, "reason": reason}
                ) from None
        return converted


def _decode_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", details={"field": "$"})
    return body


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 text (byte {exc.start})") from None
