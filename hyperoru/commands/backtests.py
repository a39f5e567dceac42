"""`hyperoru backtest FILE --symbol BTC --start … --end … [--watch]`: submit, follow, show the result.

With `--watch` the command polls the job (`GET /api/programs/backtest/{id}`) and draws a progress bar
(rich; on a non-terminal only the final state is printed) until it completes, fails or is cancelled,
then prints the metrics table. Ctrl-C stops watching and leaves the job running (exit code 130); add
`--cancel-on-interrupt` to cancel it instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from hyperoru.client import Client
from hyperoru.commands.common import Out, Refused, api_command, drop_none, parse_params, read_code

BACKTEST = "/api/programs/backtest"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
POLL_S = 0.5
METRICS = (
    ("total_trades", "trades", "{:.0f}"), ("win_rate", "win rate", "{:.1%}"), ("total_pnl", "total P&L", "{:,.2f}"),
    ("return_pct", "return", "{:.2f} %"), ("buy_hold_return_pct", "buy & hold", "{:.2f} %"),
    ("max_drawdown", "max drawdown", "{:.2f} %"), ("sharpe", "Sharpe", "{:.2f}"), ("sortino", "Sortino", "{:.2f}"),
    ("profit_factor", "profit factor", "{:.2f}"), ("fees_paid", "fees", "{:,.2f}"), ("final_equity", "final equity", "{:,.2f}"),
)  # fmt: skip


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--program-id", type=click.IntRange(min=1), default=None, help="Backtest a saved program instead of FILE.")
@click.option("--symbol", required=True, help="Market, e.g. BTC.")
@click.option("--start", default=None, help="First day or time (ISO, UTC), e.g. 2024-01-01.")
@click.option("--end", default=None, help="Last day or time (ISO, UTC).")
@click.option("--timeframe", default="1h", show_default=True, help="1m 5m 15m 30m 1h 4h 1d.")
@click.option("--capital", type=click.FloatRange(min=0, min_open=True), default=None, help="Initial capital (default 10000).")
@click.option("--fee-rate", type=click.FloatRange(0, 0.1), default=None, help="Fee per fill, fraction of notional.")
@click.option("--slippage-bps", type=click.FloatRange(0, 1000), default=None, help="Slippage in basis points.")
@click.option("--leverage", type=click.FloatRange(1, 100), default=None, help="Leverage of the paper account.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A program parameter; repeatable.")
@click.option("--watch", is_flag=True, help="Follow the job with a progress bar and print the result.")
@click.option("--cancel-on-interrupt", is_flag=True, help="With --watch: Ctrl-C cancels the backtest.")
@api_command
def backtest(client: Client, out: Out, file: Path | None, program_id: int | None, symbol: str, start: str | None,
             end: str | None, timeframe: str, capital: float | None, fee_rate: float | None, slippage_bps: float | None,
             leverage: float | None, params: tuple[str, ...], watch: bool, cancel_on_interrupt: bool) -> None:
    """Backtest FILE (or --program-id) over history. Exit code 1 when it fails or is cancelled."""
    if (file is None) == (program_id is None):
        raise click.UsageError("give FILE or --program-id (one of them)")
    body = drop_none({
        "symbol": symbol, "timeframe": timeframe, "start_date": start, "end_date": end, "initial_capital": capital,
        "fee_rate": fee_rate, "slippage_bps": slippage_bps, "leverage": leverage,
        "code": None if file is None else read_code(file), "program_id": program_id,
    })  # fmt: skip
    if params:
        body["params"] = parse_params(params)
    accepted = client.post(BACKTEST, body)
    backtest_id = accepted["backtest_id"]
    if not watch:
        if out.as_json:
            out.json(accepted)
        else:
            out.text(f"submitted {backtest_id} ({accepted['status']}); follow it with --watch or GET {BACKTEST}/{backtest_id}")
        return
    try:
        record = _follow(client, out, backtest_id)
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            client.post(f"{BACKTEST}/{backtest_id}/cancel")
            click.echo(f"cancelled {backtest_id}", err=True)
        else:
            click.echo(f"stopped watching; {backtest_id} keeps running", err=True)
        raise SystemExit(130) from None
    if out.as_json:
        out.json(record)
    else:
        _print_result(out, record)
    if record["status"] != "completed":
        error = record.get("error") or {}
        raise Refused(f"backtest {backtest_id} {record['status']}: {error.get('kind', '')} {error.get('message', '')}".rstrip())


def _follow(client: Client, out: Out, backtest_id: str) -> dict[str, Any]:
    """Poll until the job ends, drawing a progress bar on stderr (none with --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("bars"), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=out.as_json, transient=False) as bar:
        task = bar.add_task(f"{backtest_id} queued", total=None)
        while True:
            record: dict[str, Any] = client.get(f"{BACKTEST}/{backtest_id}")
            total = record.get("bars_total") or None
            bar.update(task, total=total, completed=record.get("bars_done", 0), description=f"{backtest_id} {record['status']}")
            if record["status"] in TERMINAL:
                return record
            time.sleep(POLL_S)


def _print_result(out: Out, record: dict[str, Any]) -> None:
    out.text(f"{record['id']}: {record['status']}  {record['symbol']} {record['timeframe']} "
             f"{record.get('start_date') or ''} → {record.get('end_date') or ''}  (data: {record.get('source') or '?'})")
    if record["status"] != "completed":
        return
    rows = []
    for name, label, fmt in METRICS:
        value = record.get(name)  # null where a metric is undefined (e.g. the win rate of no trades)
        rows.append((label, "n/a" if value is None else fmt.format(value)))
    out.table(("METRIC", "VALUE"), rows)
