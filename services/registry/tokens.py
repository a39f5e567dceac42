"""API tokens: the `api_tokens` collection and the registry's `registry.tokens.verify` endpoint.

Why the registry and not the gateway: the gateway owns no data and opens no store (in Kubernetes it
holds no database credentials at all); the registry already owns the platform's user-level records.
The gateway asks `registry.tokens.verify` with the token's SHA-256 and caches the answer for
`TOKEN_CACHE_TTL_S`, so the registry sees about one verify per token per TTL per gateway replica.
`hyperoru token create|list|revoke` writes this collection directly through `TokenStore` (like
`hyperoru import-candles` writes candles), so tokens can be made before anything runs.

The document's key is the token's hash (a lookup by key, no scan) and it lives in one partition,
`SYSTEM_OWNER`, which no request can name (`$` is not a character owners may have): tokens are found by
hash before anyone knows the owner. The token itself is never stored (see `shared/messages/tokens.py`
for why a plain SHA-256 suffices).

`last_used_at` is written at most once per `LAST_USED_RESOLUTION_S` per token: with the gateway's cache
in front, a busy token costs one small write a minute, not one per request.
"""

from __future__ import annotations

import hmac
from typing import Any

from shared import subjects
from shared.context import RequestContext
from shared.errors import NotFound
from shared.messages.tokens import TokenIdentity, TokenInfo, TokenVerify, hash_token, new_token
from shared.runtime import Service
from shared.store import CollectionSpec, Store
from shared.timefmt import now_iso, now_ms, parse_time

API_TOKENS = CollectionSpec("api_tokens", indexes=(("token_id",), ("token_owner",)))
SYSTEM_OWNER = "$tokens"
LAST_USED_RESOLUTION_S = 60


class TokenStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: Store) -> TokenStore:
        await store.ensure(API_TOKENS)
        return cls(store)

    @property
    def _tokens(self) -> Any:
        return self._store.collection(API_TOKENS.name)

    async def create(self, owner: str, name: str) -> tuple[str, TokenInfo]:
        """A new token for `owner`: the token (shown once, never stored) and its record."""
        token = new_token()
        token_id = await self._store.next_id("api_tokens")
        created_at = now_iso()
        await self._tokens.insert(
            {
                "id": hash_token(token),
                "owner": SYSTEM_OWNER,
                "token_id": token_id,
                "token_owner": owner,
                "name": name,
                "created_at": created_at,
                "last_used_at": None,
            }
        )
        return token, TokenInfo(id=token_id, owner=owner, name=name, created_at=created_at)

    async def list(self, owner: str | None = None) -> list[TokenInfo]:
        where = None if owner is None else {"token_owner": owner}
        docs = await self._tokens.find(SYSTEM_OWNER, where, order_by=(("token_id", 1),))
        return [_info(doc) for doc in docs]

    async def revoke(self, token_id: int) -> TokenInfo | None:
        """Delete the token with this id; None when there is none. Gateways stop accepting it within
        their cache TTL."""
        docs = await self._tokens.find(SYSTEM_OWNER, {"token_id": token_id}, limit=1)
        if not docs or not await self._tokens.delete(SYSTEM_OWNER, docs[0]["id"]):
            return None
        return _info(docs[0])

    async def verify(self, token_hash: str) -> TokenIdentity | None:
        """The identity behind a token hash, or None. Marks the token used (at most once a minute)."""
        doc = await self._tokens.get(SYSTEM_OWNER, token_hash)
        # The lookup is by key; compare again in constant time so no code path here ever branches on
        # a partial match of the secret-derived value.
        if doc is None or not hmac.compare_digest(str(doc["id"]).encode(), token_hash.encode()):
            return None
        last = doc.get("last_used_at")
        if last is None or now_ms() - parse_time(last) >= LAST_USED_RESOLUTION_S * 1000:
            await self._tokens.update(SYSTEM_OWNER, token_hash, {"last_used_at": now_iso()})
        return TokenIdentity(owner=doc["token_owner"], token_id=doc["token_id"], name=doc["name"])


def _info(doc: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=doc["token_id"], owner=doc["token_owner"], name=doc["name"], created_at=doc["created_at"],
        last_used_at=doc.get("last_used_at"),
    )


async def add_token_endpoints(service: Service, store: Store) -> None:
    """Serve `registry.tokens.verify` on `service` (called from the registry's `build`)."""
    tokens = await TokenStore.open(store)

    async def verify(request: TokenVerify, ctx: RequestContext) -> TokenIdentity:
        identity = await tokens.verify(request.token_hash)
        if identity is None:
            raise NotFound("no such token", details={"field": "token_hash"})
        return identity

    service.add(subjects.TOKENS_VERIFY, TokenVerify, verify)
