"""`hyperoru bindings list|get|create|update|delete|preview` and `hyperoru executions list|get`."""

from __future__ import annotations

from typing import Any

import click

from hyperoru.client import Client
from hyperoru.commands.common import Out, api_command, drop_none, parse_params

BINDINGS = "/api/programs/bindings"
EXECUTIONS = "/api/programs/executions"
BINDING_FIELDS = (
    "id", "program_id", "program_version", "account_id", "enabled", "symbol", "timeframe", "signal_pool_ids", "schedule",
    "params", "state", "last_run_at", "created_at", "updated_at",
)  # fmt: skip
EXECUTION_FIELDS = (
    "id", "status", "executed_at", "program_id", "program_version", "binding_id", "account_id", "action", "symbol",
    "quantity", "reason", "trigger", "duration_ms", "orders", "fills", "logs", "error",
)  # fmt: skip
ID = click.IntRange(min=1)


def _schedule(interval: str | None, cron: str | None) -> dict[str, str] | None:
    if interval is not None and cron is not None:
        raise click.UsageError("give --interval or --cron, not both")
    if interval is not None:
        return {"interval": interval}
    if cron is not None:
        return {"cron": cron}
    return None


def _print_binding(out: Out, binding: dict[str, Any], verb: str) -> None:
    if out.as_json:
        out.json(binding)
    else:
        out.text(f"{verb} binding {binding['id']}: program {binding['program_id']} on account {binding['account_id']}, "
                 f"{binding['symbol']} {binding['timeframe']}, {'enabled' if binding['enabled'] else 'disabled'}")


@click.group()
def bindings() -> None:
    """Bindings: a program running live on a paper account, fired by signal pools or a schedule."""


@bindings.command("list")
@click.option("--program-id", type=ID, default=None)
@click.option("--account-id", type=ID, default=None)
@click.option("--enabled/--disabled", "enabled", default=None, help="Only enabled (or disabled) bindings.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--all", "follow", is_flag=True, help="Follow the pages to the end.")
@api_command
def list_bindings(client: Client, out: Out, program_id: int | None, account_id: int | None, enabled: bool | None,
                  limit: int, follow: bool) -> None:
    """List bindings, newest first."""
    items = list(client.pages(BINDINGS, limit=limit, follow=follow, program_id=program_id, account_id=account_id, enabled=enabled))
    if out.as_json:
        out.json(items)
    elif not items:
        out.text("no bindings")
    else:
        out.table(("ID", "PROGRAM", "ACCOUNT", "SYMBOL", "TF", "ENABLED", "POOLS", "SCHEDULE", "LAST RUN"), [
            (b["id"], b["program_id"], b["account_id"], b["symbol"], b["timeframe"], "yes" if b["enabled"] else "no",
             ",".join(map(str, b["signal_pool_ids"])) or "-", _schedule_text(b.get("schedule")), b.get("last_run_at") or "never")
            for b in items
        ])  # fmt: skip


def _schedule_text(schedule: dict[str, Any] | None) -> str:
    if not schedule:
        return "-"
    return f"every {schedule['interval']}" if schedule.get("interval") else f"cron {schedule.get('cron')}"


@bindings.command("get")
@click.argument("binding_id", type=ID)
@api_command
def get_binding(client: Client, out: Out, binding_id: int) -> None:
    """Show binding BINDING_ID."""
    binding = client.get(f"{BINDINGS}/{binding_id}")
    if out.as_json:
        out.json(binding)
    else:
        out.fields(binding, BINDING_FIELDS)


@bindings.command("create")
@click.option("--program-id", type=ID, required=True)
@click.option("--account-id", type=ID, required=True)
@click.option("--symbol", default=None, help="Symbol the program runs on (default: the first pool's).")
@click.option("--timeframe", default=None, help="Default: the first pool's, else 1h.")
@click.option("--pool", "pools", type=ID, multiple=True, help="A signal pool id that fires it; repeatable.")
@click.option("--interval", default=None, help="Fire on a schedule: 15m, 1h, 1d…")
@click.option("--cron", default=None, help="Fire on a cron schedule (5 fields, UTC).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A program parameter; repeatable.")
@click.option("--version", "program_version", type=ID, default=None, help="Pin a program version (default: the latest).")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@api_command
def create_binding(client: Client, out: Out, program_id: int, account_id: int, symbol: str | None, timeframe: str | None,
                   pools: tuple[int, ...], interval: str | None, cron: str | None, params: tuple[str, ...],
                   program_version: int | None, disabled: bool) -> None:
    """Bind a program to an account."""
    body = drop_none({
        "program_id": program_id, "account_id": account_id, "symbol": symbol, "timeframe": timeframe,
        "schedule": _schedule(interval, cron), "program_version": program_version,
    })  # fmt: skip
    body.update(signal_pool_ids=list(pools), params=parse_params(params), enabled=not disabled)
    _print_binding(out, client.post(BINDINGS, body), "created")


@bindings.command("update")
@click.argument("binding_id", type=ID)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--symbol", default=None)
@click.option("--timeframe", default=None)
@click.option("--pool", "pools", type=ID, multiple=True, help="Replace the signal pools; repeatable.")
@click.option("--no-pools", is_flag=True, help="Remove every signal pool.")
@click.option("--interval", default=None)
@click.option("--cron", default=None)
@click.option("--no-schedule", is_flag=True, help="Remove the schedule.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Replace the params; repeatable.")
@api_command
def update_binding(client: Client, out: Out, binding_id: int, enabled: bool | None, symbol: str | None, timeframe: str | None,
                   pools: tuple[int, ...], no_pools: bool, interval: str | None, cron: str | None, no_schedule: bool,
                   params: tuple[str, ...]) -> None:
    """Change binding BINDING_ID: only the options given change."""
    changes: dict[str, Any] = drop_none({"enabled": enabled, "symbol": symbol, "timeframe": timeframe})
    if pools or no_pools:
        changes["signal_pool_ids"] = list(pools)
    schedule = _schedule(interval, cron)
    if schedule is not None or no_schedule:
        changes["schedule"] = schedule
    if params:
        changes["params"] = parse_params(params)
    if not changes:
        raise click.UsageError("nothing to change")
    _print_binding(out, client.put(f"{BINDINGS}/{binding_id}", changes), "updated")


@bindings.command("delete")
@click.argument("binding_id", type=ID)
@api_command
def delete_binding(client: Client, out: Out, binding_id: int) -> None:
    """Delete binding BINDING_ID."""
    client.delete(f"{BINDINGS}/{binding_id}")
    if out.as_json:
        out.json({"deleted": binding_id})
    else:
        out.text(f"deleted binding {binding_id}")


@bindings.command("preview")
@click.argument("binding_id", type=ID)
@api_command
def preview_binding(client: Client, out: Out, binding_id: int) -> None:
    """What binding BINDING_ID would do now (nothing is placed or stored)."""
    result = client.post(f"{BINDINGS}/{binding_id}/preview-run")
    if out.as_json:
        out.json(result)
        return
    out.text(f"{result['status']}: {result['action']} {result.get('quantity') or ''} {result.get('symbol') or ''} "
             f"{result.get('reason') or ''}".rstrip())
    for line in result.get("logs", []):
        out.text(f"  log: {line}")
    if result.get("error"):
        out.text(f"  error: {result['error'].get('message')}")


@click.group()
def executions() -> None:
    """The execution log of live runs."""


@executions.command("list")
@click.option("--program-id", type=ID, default=None)
@click.option("--binding-id", type=ID, default=None)
@click.option("--account-id", type=ID, default=None)
@click.option("--status", type=click.Choice(["ok", "error", "rejected"]), default=None)
@click.option("--since", default=None, help="ISO date or date-time, UTC.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--all", "follow", is_flag=True, help="Follow the pages to the end.")
@api_command
def list_executions(client: Client, out: Out, program_id: int | None, binding_id: int | None, account_id: int | None,
                    status: str | None, since: str | None, limit: int, follow: bool) -> None:
    """List executions, newest first."""
    items = list(client.pages(EXECUTIONS, limit=limit, follow=follow, program_id=program_id, binding_id=binding_id,
                              account_id=account_id, status=status, since=since))
    if out.as_json:
        out.json(items)
    elif not items:
        out.text("no executions")
    else:
        out.table(("ID", "WHEN", "STATUS", "BINDING", "PROGRAM", "ACTION", "SYMBOL", "QUANTITY", "REASON"), [
            (e.get("id"), e.get("executed_at"), e.get("status"), e.get("binding_id"), e.get("program_id"), e.get("action"),
             e.get("symbol"), e.get("quantity"), e.get("reason"))
            for e in items
        ])  # fmt: skip


@executions.command("get")
@click.argument("execution_id", type=ID)
@api_command
def get_execution(client: Client, out: Out, execution_id: int) -> None:
    """Show execution EXECUTION_ID: orders, fills, logs, error."""
    execution = client.get(f"{EXECUTIONS}/{execution_id}")
    if out.as_json:
        out.json(execution)
    else:
        out.fields(execution, EXECUTION_FIELDS)
