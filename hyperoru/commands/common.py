"""What every API command shares: where the API is, `--json`, output, and the exit codes.

Exit codes (the same for every command that talks to the API; README "The CLI"):
  0  done
  1  the platform said no: the API refused the request (a 4xx: bad input, not found, conflict,
     unauthorized), or what was asked for failed (an invalid program, a test-run or backtest that
     failed or was cancelled)
  2  bad usage (unknown option, missing argument, unreadable file): nothing was sent
  3  the API is unavailable: cannot connect, timed out, or answered 5xx; retrying later may work
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from hyperoru.client import ApiError, Client, Unavailable

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

F = TypeVar("F", bound=Callable[..., Any])


class Refused(click.ClickException):
    """Exit 1: a 4xx, or a check/run/backtest that failed."""

    exit_code = EXIT_REFUSED


class NoApi(click.ClickException):
    """Exit 3: the API cannot be reached or answered 5xx."""

    exit_code = EXIT_UNAVAILABLE


class Out:
    """Where a command's results go: JSON on stdout (`--json`) or text and tables for people."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            terminal = sys.stdout.isatty()
            self._console = Console(soft_wrap=True, width=None if terminal else 200, highlight=False)
        return self._console

    def json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))

    def text(self, line: str = "") -> None:
        click.echo(line)

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
        from rich.table import Table

        table = Table(*columns, title=title, box=None, pad_edge=False, header_style="bold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    def fields(self, record: dict[str, Any], names: Sequence[str]) -> None:
        self.table(("FIELD", "VALUE"), [(name, _short(record.get(name))) for name in names if name in record])


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 120 else text[:117] + "..."
    return "" if value is None else str(value)


def api_command(func: F) -> F:
    """Adds --url/--token/--owner/--json, builds the client, and maps client errors to exit codes.

    The wrapped function takes `client: Client` and `out: Out` instead of those four options.
    """

    @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (for scripts).")
    @click.option("--owner", envvar="HYPERORU_OWNER", default=None, help="X-Owner to send (AUTH_MODE=proxy only; env HYPERORU_OWNER).")
    @click.option("--token", envvar="HYPERORU_TOKEN", default=None, help="API token, sent as Bearer (env HYPERORU_TOKEN).")
    @click.option("--url", envvar="HYPERORU_URL", default="http://127.0.0.1:8080", show_default=True, help="API base URL (env HYPERORU_URL).")
    @functools.wraps(func)
    def wrapper(*args: Any, url: str, token: str | None, owner: str | None, as_json: bool, **kwargs: Any) -> Any:
        out = Out(as_json)
        client = Client.from_env(url=url, token=token, owner=owner)
        try:
            return func(*args, client=client, out=out, **kwargs)
        except ApiError as exc:
            if as_json:
                out.json({"error": {"status": exc.status, "code": exc.code, "message": exc.message, "details": exc.details}})
            where = f" (field `{exc.field}`)" if exc.field else ""
            raise Refused(f"{exc.status} {exc.code}: {exc.message}{where}") from None
        except Unavailable as exc:
            raise NoApi(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def read_code(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"cannot read {path}: {exc}") from None


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """`--param fast=10 --param name=abc`: values are JSON when they parse as JSON, else text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
