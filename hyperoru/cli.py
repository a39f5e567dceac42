"""The `hyperoru` command."""

from __future__ import annotations

from pathlib import Path

import click

from hyperoru.embedded import HEALTHY_AFTER_S, Platform, PlatformError, StartRefused, run_until_signalled


@click.group()
def main() -> None:
    """Hyperoru Programs: write, check, backtest and run trading programs."""


class Refused(click.ClickException):
    """Start-up refused before anything started (busy port or data dir): exit code 2, like bad usage."""

    exit_code = 2


@main.command()
@click.option(
    "--port",
    envvar="GATEWAY_PORT",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="HTTP port of the gateway (env GATEWAY_PORT).",
)
@click.option("--host", envvar="GATEWAY_HOST", default="127.0.0.1", show_default=True, help="Address the gateway binds (env GATEWAY_HOST).")
@click.option("--data-dir", default=".hyperoru", show_default=True, type=click.Path(path_type=Path), help="Where the store and JetStream keep their files.")
@click.option("--nats-port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port of the embedded NATS server (0: a free one).")
@click.option("--samples/--no-samples", default=True, show_default=True, help="Create sample programs on a first start.")
@click.option(
    "--healthy-after",
    default=HEALTHY_AFTER_S,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a restarted child must stay up before its restart back-off resets.",
)
def up(port: int, host: str, data_dir: Path, nats_port: int, samples: bool, healthy_after: float) -> None:
    """Start NATS, the store and every service on this machine, in the foreground, and keep them running.

    Exit code 2: the port or the data dir is taken (nothing was started).
    """
    platform = Platform(
        data_dir=data_dir.resolve(), host=host, port=port, nats_port=nats_port, say=click.echo, healthy_after_s=healthy_after
    )
    on_ready = None
    if samples:
        from hyperoru.samples import seed_samples

        on_ready = seed_samples
    try:
        run_until_signalled(platform, on_ready)
    except StartRefused as exc:
        raise Refused(str(exc)) from None
    except PlatformError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("import-candles")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--symbol", required=True, help="Symbol the candles are for, e.g. BTC.")
@click.option("--timeframe", required=True, help="Candle timeframe: 1m 5m 15m 30m 1h 4h 1d.")
@click.option("--data-dir", default=None, type=click.Path(path_type=Path), help="Store folder (default: DATA_DIR or .hyperoru).")
def import_candles(file: Path, symbol: str, timeframe: str, data_dir: Path | None) -> None:
    """Import OHLCV candles from a CSV file (columns time, open, high, low, close, volume).

    Bad rows are reported with their line number and nothing of the file is stored. Importing the same
    candles again changes nothing (one candle per symbol, timeframe and time).
    """
    import asyncio

    from hyperoru.candles import CandleImportFailed, import_file
    from shared.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir is not None:
        import msgspec

        settings = msgspec.structs.replace(settings, data_dir=str(data_dir))
    try:
        rows, written, first, last = asyncio.run(import_file(settings, file, symbol.upper(), timeframe))
    except CandleImportFailed as exc:
        for line in exc.lines:
            click.echo(line, err=True)
        raise click.ClickException(exc.summary) from None
    click.echo(f"imported {rows} candle(s) of {symbol.upper()} {timeframe} from {first} to {last} ({written} new or changed)")


from hyperoru.commands.token import token as _token_commands  # noqa: E402  (owner: api-security)

main.add_command(_token_commands)

from hyperoru.commands.api import register as _register_api_commands  # noqa: E402  (owner: api-docs)

_register_api_commands(main)
