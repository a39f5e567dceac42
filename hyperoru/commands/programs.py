"""`hyperoru programs list|get|create|update|delete`, `hyperoru validate FILE`, `hyperoru test-run FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hyperoru.client import Client
from hyperoru.commands.common import Out, Refused, api_command, drop_none, parse_params, read_code

PROGRAMS = "/api/programs"
PROGRAM_FIELDS = ("id", "name", "description", "enabled", "version", "created_at", "updated_at")
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def programs() -> None:
    """Trading programs: list, show, create, update, delete."""


@programs.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500), help="Programs per page.")
@click.option("--all", "follow", is_flag=True, help="Follow the pages to the end.")
@api_command
def list_(client: Client, out: Out, limit: int, follow: bool) -> None:
    """List your programs, newest first."""
    items = list(client.pages(PROGRAMS, limit=limit, follow=follow))
    if out.as_json:
        out.json(items)
        return
    if not items:
        out.text("no programs")
        return
    out.table(("ID", "NAME", "ENABLED", "VERSION", "UPDATED"),
              [(p["id"], p["name"], "yes" if p["enabled"] else "no", p["version"], p["updated_at"]) for p in items])


@programs.command()
@click.argument("program_id", type=click.IntRange(min=1))
@click.option("--code", "code_only", is_flag=True, help="Print only the program's code.")
@api_command
def get(client: Client, out: Out, program_id: int, code_only: bool) -> None:
    """Show program PROGRAM_ID and its code."""
    program = client.get(f"{PROGRAMS}/{program_id}")
    if out.as_json:
        out.json(program)
    elif code_only:
        out.text(program["code"].rstrip("\n"))
    else:
        out.fields(program, PROGRAM_FIELDS)
        out.text()
        out.text(program["code"].rstrip("\n"))


@programs.command()
@click.argument("file", type=FILE)
@click.option("--name", required=True, help="The program's name.")
@click.option("--description", default="", help="What it does.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@api_command
def create(client: Client, out: Out, file: Path, name: str, description: str, disabled: bool) -> None:
    """Save FILE as a new program (its code must compile)."""
    program = client.post(PROGRAMS, {"name": name, "code": read_code(file), "description": description, "enabled": not disabled})
    if out.as_json:
        out.json(program)
    else:
        out.text(f"created program {program['id']} ({program['name']}), version {program['version']}")


@programs.command()
@click.argument("program_id", type=click.IntRange(min=1))
@click.option("--file", type=FILE, default=None, help="New code (a new version when it differs).")
@click.option("--name", default=None, help="New name.")
@click.option("--description", default=None, help="New description.")
@click.option("--enable/--disable", "enabled", default=None, help="Enable or disable it.")
@api_command
def update(client: Client, out: Out, program_id: int, file: Path | None, name: str | None, description: str | None,
           enabled: bool | None) -> None:
    """Change program PROGRAM_ID: only the options given change."""
    changes = drop_none({"name": name, "description": description, "enabled": enabled,
                         "code": None if file is None else read_code(file)})
    if not changes:
        raise click.UsageError("nothing to change: give --file, --name, --description, --enable or --disable")
    program = client.put(f"{PROGRAMS}/{program_id}", changes)
    if out.as_json:
        out.json(program)
    else:
        out.text(f"updated program {program['id']} ({program['name']}), version {program['version']}")


@programs.command()
@click.argument("program_id", type=click.IntRange(min=1))
@api_command
def delete(client: Client, out: Out, program_id: int) -> None:
    """Delete program PROGRAM_ID (refused while bindings use it)."""
    client.delete(f"{PROGRAMS}/{program_id}")
    if out.as_json:
        out.json({"deleted": program_id})
    else:
        out.text(f"deleted program {program_id}")


@click.command()
@click.argument("file", type=FILE)
@api_command
def validate(client: Client, out: Out, file: Path) -> None:
    """Check FILE: syntax, names, types. Exit code 1 when it has errors."""
    result = client.post(f"{PROGRAMS}/validate", {"code": read_code(file)})
    if out.as_json:
        out.json(result)
    else:
        for kind in ("errors", "warnings"):
            for d in result.get(kind, []):
                out.text(f"{file}:{d['line']}:{d['column']}: {kind[:-1]}: {d['message']}")
        if result["valid"]:
            out.text(f"{file}: valid" + (f" ({len(result['warnings'])} warning(s))" if result.get("warnings") else ""))
    if not result["valid"]:
        raise Refused(f"{file}: {len(result['errors'])} error(s)")


@click.command("test-run")
@click.argument("file", type=FILE, required=False)
@click.option("--program-id", type=click.IntRange(min=1), default=None, help="Run a saved program instead of FILE.")
@click.option("--symbol", required=True, help="Market the program sees, e.g. BTC.")
@click.option("--timeframe", default="1h", show_default=True, help="1m 5m 15m 30m 1h 4h 1d.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A program parameter (JSON value or text); repeatable.")
@click.option("--balance", type=click.FloatRange(min=0), default=None, help="Paper account balance (default 10000).")
@api_command
def test_run(client: Client, out: Out, file: Path | None, program_id: int | None, symbol: str, timeframe: str,
             params: tuple[str, ...], balance: float | None) -> None:
    """Run a program once on current data, placing nothing. Exit code 1 when the run fails."""
    if (file is None) == (program_id is None):
        raise click.UsageError("give FILE or --program-id (one of them)")
    body: dict[str, Any] = {"symbol": symbol, "timeframe": timeframe, "params": parse_params(params)}
    if file is not None:
        body["code"] = read_code(file)
    else:
        body["program_id"] = program_id
    if balance is not None:
        body["account"] = {"balance": balance}
    result = client.post(f"{PROGRAMS}/test-run", body)
    if out.as_json:
        out.json(result)
    else:
        _print_run(out, result)
    if result["status"] != "ok":
        error = result.get("error") or {}
        where = f" at line {error['line']}" if error.get("line") else ""
        raise Refused(f"the run failed ({error.get('kind', 'error')}{where}): {error.get('message', '')}")


def _print_run(out: Out, result: dict[str, Any]) -> None:
    decision = result.get("result") or {}
    where = f"{result.get('symbol', '')} {result.get('timeframe', '')} @ {result.get('price', '')} ({result.get('source', '')}, {result.get('time', '')})"
    out.text(f"{result['status']}: {decision.get('action', '-')} {decision.get('quantity') or ''} "
             f"{decision.get('reason') or ''}".rstrip() + f"  [{where}, {result['duration_ms']:.1f} ms]")
    for line in result.get("logs", []):
        out.text(f"  log: {line}")
    fills = result.get("fills") or []
    if fills:
        out.table(("SIDE", "SYMBOL", "QUANTITY", "PRICE", "FEE"),
                  [(f["side"], f["symbol"], f["quantity"], f["price"], f["fee"]) for f in fills], title="fills (paper)")
    for rejected in result.get("rejected") or []:
        out.text(f"  rejected: {rejected['action']} {rejected['quantity']} {rejected['symbol']}: {rejected['reason']}")
    if result.get("note"):
        out.text(f"  note: {result['note']}")
