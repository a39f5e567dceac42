"""API tokens: what the gateway asks the registry (`registry.tokens.verify`) and the token format.

A token is `hyp_` + 43 URL-safe characters (32 random bytes, 256 bits). Only its SHA-256 travels and is
stored: the gateway hashes the bearer value and asks who owns that hash. A plain (unsalted, fast)
hash is enough because the input is 256 random bits, not a password: no dictionary or brute force can
find a token from its hash, and a fast, deterministic hash is what lets the store look it up by key on
every request. Slow password hashes (bcrypt, argon2) defend low-entropy secrets and would cost
~100 ms of CPU per request here for nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Annotated

import msgspec

from shared.messages.base import Id, Reply, Request

TOKEN_PREFIX = "hyp_"
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^hyp_[A-Za-z0-9_-]{43}$")
"""What `new_token` makes; anything else is refused before hashing (and before any round trip)."""
OWNER_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
"""The owner names the platform accepts (the same rule as the `X-Owner` header of `proxy` mode)."""

TokenHash = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token, hex")]
OwnerName = Annotated[str, msgspec.Meta(pattern=OWNER_PATTERN)]


def new_token() -> str:
    """A fresh token: 256 bits from the OS's CSPRNG."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return TOKEN_PATTERN.match(value) is not None


class TokenVerify(Request):
    """`registry.tokens.verify`: whose token has this hash (404 when none: the gateway answers 401)."""

    token_hash: TokenHash


class TokenIdentity(Reply):
    owner: str
    token_id: int
    name: str


class TokenInfo(Reply):
    """A token as `hyperoru token list` shows it: never the token itself, which is not stored."""

    id: Id
    owner: str
    name: str
    created_at: str
    last_used_at: str | None = None
