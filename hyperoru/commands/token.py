"""`hyperoru token create|list|revoke`: API tokens, written straight into the configured store.

Like `hyperoru import-candles`, this talks to the store (`DATA_DIR` / `MONGODB_URL`), not to the API: an
operator makes the first token before anyone can authenticate, and tokens are an operator's tool, so no
HTTP endpoint hands them out. The token is printed once, on stdout alone (`TOKEN=$(hyperoru token
create --owner alice)` works); only its SHA-256 is stored. Revoking deletes it: gateways stop accepting
it within `TOKEN_CACHE_TTL_S`.

Exit codes: 0 done; 1 failed (no such token id, store unreachable); 2 bad usage (e.g. an owner name
outside `[A-Za-z0-9._@-]{1,64}`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from shared.messages.tokens import OWNER_PATTERN, TokenInfo
from shared.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
NAME_MAX_CHARS = 100


def _owner(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.match(OWNER_PATTERN, value):
        raise click.BadParameter("1-64 letters, digits or ._@- (the same names X-Owner accepts)")
    return value


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value or len(value) > NAME_MAX_CHARS or not value.isprintable():
        raise click.BadParameter(f"1-{NAME_MAX_CHARS} printable characters")
    return value


def _settings(data_dir: Path | None) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir is not None:
        settings = msgspec.structs.replace(settings, data_dir=str(data_dir))
    return settings


def _with_tokens(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Open the store, run `action(TokenStore)`, close the store."""
    from services.registry.tokens import TokenStore
    from shared.store import StoreUnavailableError, open_store

    async def run() -> T:
        store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
        try:
            return await action(await TokenStore.open(store))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailableError as exc:
        raise click.ClickException(f"the store cannot be reached: {exc}") from None


def _json(value: Any) -> None:
    click.echo(msgspec.json.encode(value).decode())


data_dir_option = click.option(
    "--data-dir", default=None, type=click.Path(path_type=Path), help="Store folder (default: DATA_DIR or .hyperoru)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


@click.group()
def token() -> None:
    """API tokens: who may call the API as which owner (AUTH_MODE=token)."""


@token.command()
@click.option("--owner", required=True, callback=_owner, help="The owner the token acts for.")
@click.option("--name", default="token", show_default=True, callback=_name, help="What the token is for, e.g. laptop.")
@data_dir_option
@json_option
def create(owner: str, name: str, data_dir: Path | None, as_json: bool) -> None:
    """Make a token for OWNER and print it once (it is not stored, only its hash)."""
    secret, info = _with_tokens(_settings(data_dir), lambda tokens: tokens.create(owner, name))
    if as_json:
        _json({**msgspec.structs.asdict(info), "token": secret})
        return
    click.echo(secret)
    click.echo(
        f"token {info.id} ({info.name!r}) for owner {info.owner}: copy it now, it cannot be shown again. "
        "Send it as `Authorization: Bearer <token>` (the CLI reads HYPERORU_TOKEN).",
        err=True,
    )


@token.command("list")
@click.option("--owner", default=None, callback=_owner, help="Only this owner's tokens.")
@data_dir_option
@json_option
def list_(owner: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List tokens (id, owner, name, when made and last used; never the token)."""
    infos: list[TokenInfo] = _with_tokens(_settings(data_dir), lambda tokens: tokens.list(owner))
    if as_json:
        _json(infos)
        return
    if not infos:
        click.echo("no tokens", err=True)
        return
    rows = [("ID", "OWNER", "NAME", "CREATED", "LAST USED")]
    rows += [(str(i.id), i.owner, i.name, i.created_at, i.last_used_at or "never") for i in infos]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@token.command()
@click.argument("token_id", type=click.IntRange(min=1))
@data_dir_option
@json_option
def revoke(token_id: int, data_dir: Path | None, as_json: bool) -> None:
    """Revoke the token with id TOKEN_ID (see `hyperoru token list`)."""
    settings = _settings(data_dir)
    info: TokenInfo | None = _with_tokens(settings, lambda tokens: tokens.revoke(token_id))
    if info is None:
        raise click.ClickException(f"no token with id {token_id}")
    if as_json:
        _json(info)
        return
    click.echo(
        f"revoked token {info.id} ({info.name!r}) of owner {info.owner}; gateways stop accepting it within "
        f"{settings.token_cache_ttl_s:g} s (TOKEN_CACHE_TTL_S)"
    )
