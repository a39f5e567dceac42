"""Error classes grouped by what the caller can do about them, and the envelope they travel in.

Handlers raise; the service runtime turns any exception into the envelope (never leaking internals),
and the gateway turns the envelope into an HTTP response with `status`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import msgspec


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    error: ErrorBody


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(error=ErrorBody(code=self.code, message=self.message, details=self.details))


class BadRequest(AppError):
    """The request cannot be read at all (malformed JSON, wrong content)."""

    status = 400
    code = "bad_request"


class InvalidRequest(AppError):
    """The request is readable but a field breaks the schema or a rule; details name the field."""

    status = 422
    code = "invalid_request"


class ProgramFailed(AppError):
    """User code that does not compile or failed; details carry the diagnostics."""

    status = 422
    code = "program_failed"


class LimitExceeded(AppError):
    """A size or count limit was reached (e.g. a reply that would not fit on the bus); details say
    which limit (`limit`), its value (`max`) and, when known, the size asked for (`size`)."""

    status = 422
    code = "limit_exceeded"


class NotFound(AppError):
    status = 404
    code = "not_found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"


class UnsupportedMediaType(AppError):
    """The body's `Content-Type` is not one the route reads."""

    status = 415
    code = "unsupported_media_type"


class Conflict(AppError):
    """The write raced another one or breaks a uniqueness rule; re-read and retry."""

    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class Unavailable(AppError):
    """A dependency (NATS, the store, a service) is not there right now; retrying later may work."""

    status = 503
    code = "unavailable"


class BadGateway(AppError):
    """An upstream outside the platform (e.g. the AI provider) answered with an error or nonsense."""

    status = 502
    code = "bad_gateway"


class GatewayTimeout(AppError):
    status = 504
    code = "timeout"


class Internal(AppError):
    status = 500
    code = "internal"


_BY_CODE: dict[str, type[AppError]] = {
    cls.code: cls
    for cls in (
        BadRequest, InvalidRequest, LimitExceeded, ProgramFailed, NotFound, MethodNotAllowed, Conflict,
        PayloadTooLarge, UnsupportedMediaType, Unavailable, GatewayTimeout, Internal, BadGateway,
    )
}


def from_envelope(envelope: ErrorEnvelope) -> AppError:
    """Rebuild the error a service raised (unknown codes become Internal)."""
    cls = _BY_CODE.get(envelope.error.code, Internal)
    return cls(envelope.error.message, envelope.error.details)


def validation_error(exc: msgspec.ValidationError) -> InvalidRequest:
    """msgspec's message keeps the JSON path (`… - at $.name`); expose the path as `details.field`."""
    text = str(exc)
    for regex, reason in _PATTERN_REASONS.items():  # a regex in a message helps nobody: say what it means
        text = text.replace(f"Expected `str` matching regex {regex!r}", f"Expected `str` {reason}")
    message, _, path = text.rpartition(" - at ")
    if not message:
        message, path = text, "$"
    field = path.strip("`").removeprefix("$").lstrip(".")
    named = _NAMED_FIELD.search(message)
    if named:  # unknown / missing field: the path is the parent object, the name is in the message
        field = f"{field}.{named.group(1)}" if field else named.group(1)
    where = f" at `{field}`" if field and not named else ""
    return InvalidRequest(f"{message}{where}", details={"field": field or "$", "reason": message})


_PATTERN_REASONS: dict[str, str] = {}


def describe_pattern(regex: str, reason: str) -> None:
    """Register what a field pattern means (`"without control characters"`), used in place of the
    regex itself when a value does not match it."""
    _PATTERN_REASONS[regex] = reason


_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
