"""A small synchronous client of the HTTP API, for the CLI and for scripts.

Where the API is and who calls it come from the environment (or the CLI's options):
`HYPERORU_URL` (default `http://127.0.0.1:8080`), `HYPERORU_TOKEN` (sent as `Authorization: Bearer`),
and `HYPERORU_OWNER` (sent as `X-Owner`, honoured only when the gateway runs `AUTH_MODE=proxy` and
trusts this machine, e.g. behind your own proxy or in tests).

Every failure is one of two exceptions, which the CLI maps to its exit codes:
- `ApiError`: the API answered with a 4xx (its error envelope: code, message, details);
- `Unavailable`: no answer (connection refused, timeout) or a 5xx: retrying later may work.

Plain `urllib` on purpose: the CLI starts fast and needs no event loop.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


class ClientError(Exception):
    pass


class ApiError(ClientError):
    """A 4xx: the request was refused; `code`, `message` and `details` come from the error envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @property
    def field(self) -> str | None:
        return self.details.get("field") if isinstance(self.details, dict) else None


class Unavailable(ClientError):
    """No usable answer: the gateway cannot be reached, timed out, or answered 5xx."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def next_cursor(self) -> str | None:
        return self.headers.get(NEXT_CURSOR_HEADER)


@dataclass
class Client:
    url: str = DEFAULT_URL
    token: str | None = None
    owner: str | None = None
    timeout_s: float = 60.0
    user_agent: str = field(default="hyperoru-cli")

    @classmethod
    def from_env(cls, url: str | None = None, token: str | None = None, owner: str | None = None) -> Client:
        return cls(
            url=(url or os.environ.get("HYPERORU_URL") or DEFAULT_URL).rstrip("/"),
            token=token or os.environ.get("HYPERORU_TOKEN") or None,
            owner=owner or os.environ.get("HYPERORU_OWNER") or None,
        )

    # -- one request ---------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, query: Mapping[str, Any] | None = None) -> Reply:
        target = self.url + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.owner:
            headers["X-Owner"] = self.owner
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return Reply(response.status, _decode(response.read()), dict(response.headers))
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            payload = _decode(raw)
            if exc.code >= 500:
                raise Unavailable(_error_text(exc.code, payload) or f"the API answered {exc.code}", exc.code) from None
            error = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(error, dict):
                raise ApiError(exc.code, str(error.get("code", "error")), str(error.get("message", "")), error.get("details")) from None
            raise ApiError(exc.code, "error", raw[:200].decode(errors="replace")) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unavailable(f"cannot reach the API at {self.url}: {reason}") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query).body

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.request("POST", path, body, query=query).body

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body).body

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(self, path: str, *, limit: int = 50, follow: bool = False, **query: Any) -> Iterator[Any]:
        """The items of a list route, page by page (the cursor travels in `X-Next-Cursor`)."""
        cursor = None
        while True:
            reply = self.request("GET", path, query={**query, "limit": limit, "cursor": cursor})
            yield from reply.body or []
            cursor = reply.next_cursor
            if not follow or cursor is None:
                return


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _error_text(status: int, payload: Any) -> str | None:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return f"{status} {error.get('code')}: {error.get('message')}"
    return None
