"""Reading a request body only when it is what the route reads: the right Content-Type, an encoding we
decode, a well-formed multipart form. Anything else is a 4xx before any byte is interpreted.

- JSON routes take `application/json` or any `application/*+json`; a body without a Content-Type is
  read as JSON too (curl's `-d` and many clients omit it). Another type is a 415.
- Upload routes (a `text_body` field, the CSV import) take the text itself (`text/csv`, `text/plain`,
  `application/octet-stream`, or no type) or a `multipart/form-data` form whose first part is the file.
- `Content-Encoding` may be `gzip` or `deflate` (aiohttp inflates it, and the size limit applies to the
  inflated body); another coding, or a body that is not what its coding claims, is a 400.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from shared.errors import BadRequest, UnsupportedMediaType

JSON_TYPES = frozenset({"application/json"})
TEXT_UPLOAD_TYPES = frozenset({"text/csv", "text/plain", "application/csv", "application/octet-stream"})
MULTIPART = "multipart/form-data"
CODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})

BODY_UNREAD = web.RequestKey("body_unread", bool)
"""Set when a body could not be read to its end: the connection cannot carry another request, so the
error response closes it (a client would otherwise reuse it and see a disconnect)."""


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/") and content_type.endswith("+json"))


def check_content_type(request: web.Request, upload: bool) -> None:
    """415 unless the body's declared type is one the route reads (no body, no check)."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return
    content_type = request.content_type.lower()
    if upload:
        if content_type in TEXT_UPLOAD_TYPES or content_type == MULTIPART:
            return
        expected = "text/csv (or text/plain) or a multipart/form-data file"
    else:
        if _is_json(content_type):
            return
        expected = "application/json"
    raise UnsupportedMediaType(
        f"this route reads {expected}, not `{content_type[:80]}`",
        details={"field": "Content-Type", "expected": expected},
    )


def check_content_encoding(request: web.Request) -> None:
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if coding not in CODINGS:
        raise BadRequest(
            f"Content-Encoding `{coding[:40]}` is not supported; send the body as it is, or gzip/deflate it",
            details={"field": "Content-Encoding"},
        )


async def read_body(request: web.Request, upload: bool) -> bytes:
    """The body; for upload routes a multipart form's first file (or field) is taken as the body."""
    if not request.body_exists:
        return b""
    check_content_type(request, upload)
    check_content_encoding(request)
    try:
        if upload and request.content_type.lower() == MULTIPART:
            return await _first_part(request)
        return await request.read()
    except web.HTTPException:  # 413 over the size limit: the middleware answers it
        raise
    except (RequestPayloadError, HttpProcessingError, ConnectionError) as exc:  # "gzip" that is not gzip; a cut body
        request[BODY_UNREAD] = True
        detail = " ".join(str(exc).split())[:160]
        raise BadRequest(f"the body could not be read: {detail}", details={"field": "$"}) from None


async def _first_part(request: web.Request) -> bytes:
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader):
                return bytes(await part.read(decode=True))
    except web.HTTPException:
        raise
    except Exception as exc:  # aiohttp's multipart reader raises ValueError, RuntimeError, zlib/binascii errors...
        request[BODY_UNREAD] = True
        raise BadRequest(f"the multipart form is malformed: {str(exc)[:120]}", details={"field": "$"}) from None
    raise BadRequest("the multipart form has no file part", details={"field": "$"})
