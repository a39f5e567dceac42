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
    market_clock_anchor: Annotated[  # live-followups
        Annotated[str, msgspec.Meta(pattern=r"^(\d{1,15}|\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?)$")] | None,
        msgspec.Meta(description="Where a sped-up market clock starts (epoch ms or ISO, UTC); one value for all processes. `hyperoru up` sets it; unset = each process's start-up"),
    ] = None
    hyperliquid_url: Annotated[
        str | None, msgspec.Meta(description="Hyperliquid info API base URL; unset = not used")
    ] = None

    backtest_workers: Annotated[
        int, msgspec.Meta(ge=1, le=64, description="Worker processes of one backtester replica (backtests it runs at once)")
    ] = 2
    backtest_worker_memory_mb: Annotated[
        int, msgspec.Meta(ge=64, description="Address-space limit of one backtest worker process (MiB)")
    ] = 2048
    backtest_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="Longest a backtest may run before it is failed (`timeout`)")
    ] = 3600.0
    backtest_max_deliveries: Annotated[
        int, msgspec.Meta(ge=1, le=20, description="Times a backtest job is handed out (replica crashes) before it is failed")
    ] = 3
    backtest_ack_wait_s: Annotated[
        float, Positive, msgspec.Meta(description="Silence after which a running job is handed to another replica")
    ] = 30.0
    backtest_progress_interval_s: Annotated[
        float, Positive, msgspec.Meta(description="How often a running backtest's progress is stored and published")
    ] = 1.0

    live_clock: Annotated[
        bool, msgspec.Meta(description="Run the trigger clock in this executor replica (signal pools, schedules)")
    ] = True
    live_workers: Annotated[
        int, msgspec.Meta(ge=1, le=64, description="Worker processes of one executor replica for live runs and previews")
    ] = 2
    live_run_concurrency: Annotated[
        int, msgspec.Meta(ge=1, le=1000, description="Live runs one executor replica takes from the queue at once")
    ] = 16
    live_run_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="Longest a live run or preview may take in its worker before it is stopped")
    ] = 10.0
    live_ack_wait_s: Annotated[
        float, Positive, msgspec.Meta(description="Silence after which a taken live run is handed to another replica")
    ] = 30.0
    worker_processes: Annotated[
        int, msgspec.Meta(ge=1, le=64, description="Worker processes that compile and test-run programs (executor, and registry checks)")
    ] = 2
    worker_memory_mb: Annotated[
        int, msgspec.Meta(ge=128, description="Address-space limit of one such worker process (MiB)")
    ] = 1024
    run_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="Longest a validate or test-run may take in its worker before it is stopped")
    ] = 5.0
    compile_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="Longest the registry's compile check of a saved program may take")
    ] = 5.0
    compile_cache_mb: Annotated[
        int, msgspec.Meta(ge=1, description="Compiled programs one worker keeps, by estimated size (MiB)")
    ] = 64
    worker_queue_timeout_s: Annotated[
        float, Positive,
        msgspec.Meta(description="Longest a validate, test-run or compile check waits for a free worker (then 503 `unavailable`)"),
    ] = 5.0

    ai_base_url: Annotated[
        str | None,
        msgspec.Meta(description="OpenAI-compatible API base URL (e.g. `http://127.0.0.1:8000/v1`); unset = the built-in offline assistant"),
    ] = None
    ai_api_key: Annotated[str | None, msgspec.Meta(description="Bearer key sent to `AI_BASE_URL` (never logged)")] = None
    ai_model: Annotated[str, msgspec.Meta(description="Model name sent to the AI provider")] = "default"
    ai_timeout_s: Annotated[float, Positive, msgspec.Meta(description="Longest one call to the AI provider may take (then 504)")] = 60.0
    ai_answer_timeout_s: Annotated[
        float, Positive, msgspec.Meta(description="Longest one chat answer may take in all: provider calls, tools, repairs")
    ] = 180.0
    ai_token_budget: Annotated[
        int, msgspec.Meta(ge=256, description="Tokens (prompt + completion) one answer may use over all its provider calls")
    ] = 32000
    ai_max_tool_rounds: Annotated[
        int, msgspec.Meta(ge=0, le=50, description="Rounds of tool calls the model may make in one answer")
    ] = 8
    ai_repair_rounds: Annotated[
        int, msgspec.Meta(ge=0, le=10, description="Times code that does not compile goes back to the model to be fixed")
    ] = 2

    # -- authentication, browser security, rate limits, metrics (owner: api-security) --------------
    auth_mode: Annotated[
        Literal["token", "none", "proxy"],
        msgspec.Meta(description="Who a request acts for: `token` (Bearer API tokens), `none` (one local user, `local`; the default of `hyperoru up`), `proxy` (`X-Owner` from `TRUSTED_PROXY_CIDRS` only)"),
    ] = "token"
    trusted_proxy_cidrs: Annotated[
        str | None, msgspec.Meta(description="Comma-separated networks (`10.0.0.0/8,127.0.0.1/32`) whose `X-Owner` is trusted in `proxy` mode")
    ] = None
    cors_origins: Annotated[
        str | None, msgspec.Meta(description="Comma-separated exact origins (`https://app.example.com`) allowed to call the API from a browser; unset = CORS off")
    ] = None
    rate_limit_per_s: Annotated[
        float, msgspec.Meta(ge=0, description="Requests per second one owner may make to `/api` on one gateway replica (token bucket refill); 0 = no limit")
    ] = 50.0
    rate_limit_burst: Annotated[
        int, msgspec.Meta(ge=0, le=1_000_000, description="Requests one owner may make at once before the rate applies (bucket size); 0 = no limit")
    ] = 100
    token_cache_ttl_s: Annotated[
        float, Positive, msgspec.Meta(description="How long the gateway trusts a checked API token before asking the registry again (a revoked token stops working within this)")
    ] = 10.0
    metrics_port: Annotated[
        int, msgspec.Meta(ge=0, le=65535, description="Port of the gateway's Prometheus `/metrics` listener, on `GATEWAY_HOST`; 0 = none (in `AUTH_MODE=none` `/metrics` is also on the main port)")
    ] = 0

    def __post_init__(self) -> None:
        """Lists in one variable are checked here, so a typo stops start-up naming the variable."""
        from shared.netcheck import check_cidrs, check_origins  # owner: api-security

        check_cidrs(self.trusted_proxy_cidrs)
        check_origins(self.cors_origins)

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
