"""Serving the gateway app so that even aiohttp's own parser errors leave as our JSON error envelope.

A request aiohttp cannot parse (a bad request line, an invalid method, a header line over 8 KiB, a
control character in a header, a bad Content-Length) never reaches the app or its middleware:
aiohttp's `RequestHandler.handle_error` answers it with plain text. aiohttp has no hook for this
(aio-libs/aiohttp#3287), so `GatewayRunner` makes its server build a request handler whose
`handle_error` writes the envelope instead. Everything else about the connection stays aiohttp's: the
error still closes the connection, and nothing is written if a response had already started. The
envelope carries the same security headers as every app response (`security.set_security_headers`).
A test sends such requests over a raw socket, so an aiohttp upgrade that changes these internals
fails loudly rather than silently going back to plain text.
"""

from __future__ import annotations

from http import HTTPStatus

import msgspec
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from services.gateway.security import set_security_headers
from shared.errors import ErrorBody, ErrorEnvelope

log = structlog.get_logger()

_encode = msgspec.json.Encoder().encode
_CODES = {400: "bad_request", 413: "payload_too_large", 431: "bad_request", 500: "internal", 504: "timeout"}
_MESSAGE_MAX_CHARS = 300


def parser_error_body(status: int, exc: BaseException | None) -> bytes:
    """The envelope for an error aiohttp raised before the app saw the request."""
    if status >= 500:
        message = "internal error" if status == 500 else HTTPStatus(status).phrase.lower()
    else:
        detail = exc.message if isinstance(exc, HttpProcessingError) else ""
        detail = " ".join(str(detail).split())  # aiohttp's message spans lines with a caret under the fault
        message = "the HTTP request could not be read" + (f": {detail}" if detail else "")
    code = _CODES.get(status, "bad_request" if status < 500 else "internal")
    envelope = ErrorEnvelope(error=ErrorBody(code=code, message=message[:_MESSAGE_MAX_CHARS]))
    return _encode(envelope)


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, with errors outside the app answered as the JSON envelope."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("http_server_error", status=status, error=repr(exc))
        else:
            log.info("http_unparseable_request", status=status, error=type(exc).__name__ if exc else None)
        if request.writer.output_size > 0:  # as aiohttp: a response already started cannot be replaced
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        response = web.Response(status=status, body=parser_error_body(status, exc), content_type="application/json")
        set_security_headers(response.headers, "application/json")  # the app's `on_response_prepare` never sees it
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer parser errors in JSON (use it instead of `run_app`)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # Same object, same state; only the class that makes connection handlers changes.
        server.__class__ = _JsonErrorServer
        return server
