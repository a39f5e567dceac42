"""The web page: static files under `services/gateway/web/`, served by the gateway at `/` and `/ui/…`.

There is no build step: the page is plain ES modules the browser loads as they are (see the README's
"Web page"). The files are read once, when the app is built, into an in-memory table keyed by their
path, so a request can only ever name a file that was in that folder at start-up (no path is joined
from user input: `..`, symlinks and absolute paths cannot reach anything else).

Caching: vendored libraries carry their version in their file name and never change, so they are
`immutable` for a year; our own files (index.html, the modules, the stylesheet) change with the code,
so they are `no-cache` with an ETag: the browser revalidates and gets a 304 when nothing changed.
Text files are also kept gzipped and sent so when the client accepts it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).with_name("web")
PREFIX = "/ui/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}
_COMPRESSIBLE = (".html", ".js", ".mjs", ".css", ".svg", ".json", ".txt", "")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The page talks only to its own origin and loads nothing from anywhere else (it works offline).
# lightweight-charts sets element styles from script, hence style-src 'unsafe-inline'. Only the CSP is
# the page's own (`security.py` keeps a handler's value); the other security headers come from there.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    cache_control: str


def load_files(root: Path = WEB_ROOT) -> dict[str, StaticFile]:
    """Every regular file under `root` by its POSIX path relative to it (hidden files skipped)."""
    files: dict[str, StaticFile] = {}
    if not root.is_dir():
        return files
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.is_symlink() or any(part.startswith(".") for part in relative.parts):
            continue
        suffix = path.suffix.lower()
        content_type = CONTENT_TYPES.get(suffix)
        if content_type is None:
            continue  # an unknown kind of file is not served rather than served as the wrong type
        body = path.read_bytes()
        gzipped = gzip.compress(body, compresslevel=9, mtime=0) if suffix in _COMPRESSIBLE else None
        if gzipped is not None and len(gzipped) >= len(body):
            gzipped = None
        vendored = relative.parts[0] == "vendor"
        files[relative.as_posix()] = StaticFile(
            body=body,
            gzipped=gzipped,
            content_type=content_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            cache_control=IMMUTABLE if vendored else REVALIDATE,
        )
    return files


def total_bytes(files: dict[str, StaticFile]) -> int:
    """The page weight: every asset, uncompressed."""
    return sum(len(f.body) for f in files.values())


def _respond(request: web.Request, item: StaticFile) -> web.Response:
    headers: dict[str, str] = {"ETag": item.etag, "Cache-Control": item.cache_control, "Vary": "Accept-Encoding", **SECURITY_HEADERS}
    if item.etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    body = item.body
    if item.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = item.gzipped
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = item.content_type
    return web.Response(body=body, headers=headers)


def add_web_routes(app: web.Application, root: Path = WEB_ROOT) -> None:
    """`GET /` is the page; `GET /ui/<path>` its files. Unknown paths are the gateway's JSON 404."""
    files = load_files(root)
    index = files.get("index.html")

    async def page(request: web.Request) -> web.Response:
        if index is None:
            raise web.HTTPNotFound()
        return _respond(request, index)

    async def asset(request: web.Request) -> web.Response:
        item = files.get(request.match_info["path"])
        if item is None:
            raise web.HTTPNotFound()
        return _respond(request, item)

    app.router.add_get("/", page)
    app.router.add_get(PREFIX + "{path:.+}", asset)
