"""Who a request acts for (its owner), by `AUTH_MODE`, and the per-owner rate limit after it.

- `token` (the default of `python -m services.gateway`): `Authorization: Bearer <token>`; the owner is
  the token's. `X-Owner` is ignored. Without a token, or with one that is malformed, unknown or
  revoked: 401 with `WWW-Authenticate: Bearer` (RFC 6750's `error="invalid_token"` when one was sent).
- `none` (the default of `hyperoru up`): one local user, owner `local`, nothing checked. For a machine
  nobody else reaches; the gateway says so loudly at start-up.
- `proxy`: an authenticating reverse proxy in front sets `X-Owner`; it is believed only from a peer
  address in `TRUSTED_PROXY_CIDRS` (the direct TCP peer: `X-Forwarded-For` is not read, it is as easy
  to forge as `X-Owner`). Any other peer gets 401.

Only `/api/...` needs an owner. Health checks, `/openapi.json`, `/docs`, the web page and its files are
public: they hold nothing of anyone's (see `security.is_api`).

Tokens are checked by the registry (`registry.tokens.verify`, see services/registry/tokens.py): the
gateway owns no data. It sends only the token's SHA-256 and caches the answer (owner or "no such
token") for `TOKEN_CACHE_TTL_S`, at most `CACHE_MAX` entries; concurrent requests with the same new
token share one registry call. A revoked token therefore stops working within the TTL. The cache is
keyed by hash, and the registry looks the hash up by key, then compares it with `hmac.compare_digest`:
timing can at most tell an attacker something about hashes, and a hash is useless without the token
(finding a token for a given SHA-256 is a preimage attack on 256 random bits). When the registry cannot
be asked, the request is a 503, never a 401 (a working token must not look revoked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

import msgspec
import nats.errors
import structlog
from aiohttp import web
from nats.aio.client import Client
from nats.micro.request import ERROR_CODE_HEADER

from services.gateway.openapi import SpecOptions
from services.gateway.ratelimit import RateLimiter, retry_after
from services.gateway.security import is_api, json_error
from shared import subjects
from shared.errors import AppError, Unavailable
from shared.messages.tokens import TokenIdentity, TokenVerify, hash_token, looks_like_token
from shared.netcheck import parse_cidrs
from shared.settings import Settings

log = structlog.get_logger()

LOCAL_OWNER = "local"
PUBLIC_OWNER = "anonymous"
"""The owner logged for public paths (no `/api`): nothing is read or written in anyone's name."""
GATEWAY_OWNER = "gateway"
"""The owner header of the gateway's own calls to the registry (every NATS request carries one)."""
CACHE_MAX = 10_000
VERIFY_TIMEOUT_S = 5.0
REALM = 'realm="hyperoru"'
_OWNER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_BEARER = re.compile(r"^[Bb]earer +(\S+) *$")
_encode = msgspec.json.Encoder().encode
_identity = msgspec.json.Decoder(TokenIdentity)

Admitted = str | web.Response


class TokenCache:
    """hash → (owner or None for "no such token", expiry). Least recently used entries go first."""

    def __init__(self, ttl_s: float, max_entries: int = CACHE_MAX, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def get(self, token_hash: str) -> tuple[bool, str | None]:
        entry = self._entries.get(token_hash)
        if entry is None or entry[1] <= self._clock():
            return False, None
        self._entries.move_to_end(token_hash)
        return True, entry[0]

    def put(self, token_hash: str, owner: str | None) -> None:
        self._entries[token_hash] = (owner, self._clock() + self._ttl)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class Authenticator:
    def __init__(self, settings: Settings, client: Callable[[], Client]) -> None:
        self.mode = settings.auth_mode
        self._client = client
        self._networks = parse_cidrs(settings.trusted_proxy_cidrs)
        self._cache = TokenCache(settings.token_cache_ttl_s)
        self._pending: dict[str, asyncio.Future[str | None]] = {}
        self._timeout = min(VERIFY_TIMEOUT_S, settings.request_timeout_s)
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.failures: Callable[[str], None] = lambda reason: None
        """Called with the reason of each 401/429 (`metrics.py` counts them)."""

    async def admit(self, request: web.Request) -> Admitted:
        """The owner of this request, or the 400/401/429/503 response that refuses it."""
        if not is_api(request.path):
            return LOCAL_OWNER if self.mode == "none" else PUBLIC_OWNER
        if self.mode == "none":
            owner: Admitted = LOCAL_OWNER
        elif self.mode == "proxy":
            owner = self._proxy_owner(request)
        else:
            try:
                owner = await self._token_owner(request)
            except AppError as exc:  # the registry cannot be asked: 503 (never a 401 for a working token)
                return json_error(exc.status, exc.code, exc.message, exc.details)
        if isinstance(owner, web.Response):
            return owner
        wait = self.limiter.take(owner)
        if wait > 0:
            self.failures("rate_limited")
            return json_error(
                429,
                "rate_limited",
                f"too many requests: at most {self.limiter.rate:g} per second (bursts of {self.limiter.burst}); retry in {wait:.2f} s",
                details={"retry_after_s": round(wait, 3), "rate_per_s": self.limiter.rate, "burst": self.limiter.burst},
                headers={"Retry-After": retry_after(wait)},
            )
        return owner

    # -- token mode ------------------------------------------------------------------------------------
    async def _token_owner(self, request: web.Request) -> Admitted:
        header = request.headers.get("Authorization")
        if header is None:
            return self._unauthorized(
                "missing", "this API needs a token: send `Authorization: Bearer <token>` (make one with `hyperoru token create`)",
                f"Bearer {REALM}",
            )
        found = _BEARER.match(header)
        if found is None or not looks_like_token(found.group(1)):
            return self._unauthorized("malformed", "the Authorization header is not `Bearer <token>` with a Hyperoru token")
        owner = await self._verify(hash_token(found.group(1)))
        if owner is None:
            return self._unauthorized("invalid", "the token is not valid (unknown or revoked)")
        return owner

    async def _verify(self, token_hash: str) -> str | None:
        while True:
            cached, owner = self._cache.get(token_hash)
            if cached:
                return owner
            pending = self._pending.get(token_hash)
            if pending is None:
                break
            try:  # another request is asking the registry about this token right now: share its answer
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself is being cancelled
                # the request that asked went away before the answer: ask again
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[token_hash] = future
        try:
            owner = await self._ask_registry(token_hash)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._pending[token_hash]
        self._cache.put(token_hash, owner)
        future.set_result(owner)
        return owner

    async def _ask_registry(self, token_hash: str) -> str | None:
        payload = _encode(TokenVerify(token_hash=token_hash))
        headers = {subjects.OWNER_HEADER: GATEWAY_OWNER}
        try:
            reply = await self._client().request(subjects.TOKENS_VERIFY, payload, timeout=self._timeout, headers=headers)
        except (nats.errors.Error, RuntimeError):  # no responders, timeout, not connected
            raise Unavailable("the API token cannot be checked right now (the registry is not answering); retry shortly") from None
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            if reply.headers[ERROR_CODE_HEADER] == "404":
                return None
            raise Unavailable("the API token cannot be checked right now; retry shortly")
        return _identity.decode(reply.data).owner

    def _unauthorized(self, reason: str, message: str, challenge: str | None = None) -> web.Response:
        self.failures(reason)
        challenge = challenge or f'Bearer {REALM}, error="invalid_token"'
        return json_error(401, "unauthorized", message, details={"reason": reason}, headers={"WWW-Authenticate": challenge})

    # -- proxy mode ------------------------------------------------------------------------------------
    def _proxy_owner(self, request: web.Request) -> Admitted:
        if not self._trusted(request.remote):
            return self._unauthorized(
                "untrusted_peer", "requests must come through the authenticating proxy (TRUSTED_PROXY_CIDRS)", f"Proxy {REALM}"
            )
        owner = request.headers.get(subjects.OWNER_HEADER)
        if owner is None:
            return self._unauthorized("missing", f"the proxy sent no {subjects.OWNER_HEADER} header", f"Proxy {REALM}")
        if not _OWNER.match(owner):
            return json_error(
                400, "bad_request", f"the {subjects.OWNER_HEADER} header must be 1-64 letters, digits or ._@-",
                details={"field": subjects.OWNER_HEADER},
            )
        return owner

    def _trusted(self, remote: str | None) -> bool:
        if not remote or not self._networks:
            return False
        try:
            address = ipaddress.ip_address(remote.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


AUTH_KEY = web.AppKey("authenticator", Authenticator)


def spec_options(settings: Settings) -> SpecOptions:
    """What `/openapi.json` declares for this mode: the bearer scheme (and its 401) in `token` mode,
    `X-Owner` and its 401 in `proxy` mode, the 429 whenever a rate limit is on."""
    extra = []
    if settings.auth_mode == "proxy":
        extra.append(401)
    if settings.rate_limit_per_s > 0 and settings.rate_limit_burst > 0:
        extra.append(429)
    return SpecOptions(bearer=settings.auth_mode == "token", owner_header=settings.auth_mode == "proxy", extra_errors=tuple(extra))


def install_auth(app: web.Application, settings: Settings, client: Callable[[], Client]) -> Authenticator:
    """Make the app's `Authenticator`; `client` gives the current NATS client (it may be replaced)."""
    authenticator = Authenticator(settings, client)
    app[AUTH_KEY] = authenticator
    if settings.auth_mode == "none":
        warn_no_auth(settings)
    return authenticator


NO_AUTH_BANNER = (
    f"*** AUTH_MODE=none: NO AUTHENTICATION. Every request acts as owner `{LOCAL_OWNER}`. Only for a machine "
    "nobody else can reach; set AUTH_MODE=token (or proxy) anywhere else. ***"
)


def warn_no_auth(settings: Settings) -> None:
    """Loudly: on stderr (whatever the log format) and in the log."""
    print(NO_AUTH_BANNER, file=sys.stderr, flush=True)
    log.warning("auth_disabled", auth_mode="none", owner=LOCAL_OWNER, host=settings.gateway_host)


async def admit(request: web.Request) -> Admitted:
    """The hook `app.request_context` calls: the owner, or the response that refuses the request.

    A refused request's body is never read: its connection is closed after the answer rather than
    spending time reading (up to `MAX_BODY_BYTES` of) a body from a client that may not send it."""
    admitted = await request.app[AUTH_KEY].admit(request)
    if isinstance(admitted, web.Response) and request.body_exists:
        admitted.force_close()
    return admitted
