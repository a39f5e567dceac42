"""Every setting of the platform, read from the environment in one place.

One frozen Struct for all services: each service reads the fields it needs, and the README's
configuration table is generated from the same field list (`settings_table`). Field `nats_url` is
read from `NATS_URL`, and so on (upper-cased names). A bad value stops start-up with the variable's
name in the message, before anything connects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec


class SettingsError(ValueError):
    pass


Positive = msgspec.Meta(gt=0)


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    nats_url: Annotated[str, msgspec.Meta(description="NATS server URL(s), comma-separated")] = "nats://127.0.0.1:4222"
    mongodb_url: Annotated[
        str | None, msgspec.Meta(description="MongoDB URL; when unset the embedded SQLite store is used")
    ] = None
    mongodb_db: Annotated[str, msgspec.Meta(description="MongoDB database name")] = "hyperoru"
    data_dir: Annotated[str, msgspec.Meta(description="Folder of the SQLite store (and JetStream in `hyperoru up`)")] = ".hyperoru"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], msgspec.Meta(description="Lowest level logged")] = "info"
    log_format: Annotated[
        Literal["auto", "json", "console"], msgspec.Meta(description="`json` lines, `console` for people, `auto`: console on a TTY")
    ] = "auto"
    gateway_host: Annotated[str, msgspec.Meta(description="Address the HTTP gateway binds")] = "127.0.0.1"
    gateway_port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="Port the HTTP gateway binds")] = 8080
    request_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="How long the gateway waits for a service's reply before 504")
    ] = 10.0
    max_body_bytes: Annotated[int, Positive, msgspec.Meta(description="Largest request body accepted (413 above)")] = 1024 * 1024
    max_concurrent_requests: Annotated[
        int, Positive, msgspec.Meta(description="Requests one service replica handles at once")
    ] = 256
    market_seed: Annotated[int, msgspec.Meta(description="Seed of the deterministic market simulator")] = 42
    market_live_speed: Annotated[
        float, Positive, msgspec.Meta(description="Speed-up of the simulator's live clock (1 = real time)")
    ] = 1.0
    hyperliquid_url: Annotated[
        str | None, msgspec.Meta(description="Hyperliquid info API base URL; unset = not used")
    ] = None

    @property
    def sqlite_path(self) -> Path:
        return Path(self.data_dir) / "hyperoru.db"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; unknown variables are ignored, bad ones name themselves."""
    source = os.environ if env is None else env
    names = {field.encode_name for field in msgspec.structs.fields(Settings)}
    values = {key: value for key, value in source.items() if key in names and value != ""}
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid environment: {exc}".replace("`$.", "`")) from None


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: the README's configuration table."""
    info = msgspec.inspect.type_info(Settings)
    rows = []
    for field in info.fields:  # type: ignore[attr-defined]
        default = "" if field.default is msgspec.NODEFAULT else str(field.default)
        description = ""
        if isinstance(field.type, msgspec.inspect.Metadata):
            description = (field.type.extra_json_schema or {}).get("description", "")
        rows.append((field.encode_name, default, description))
    return rows
