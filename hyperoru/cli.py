"""The `hyperoru` command."""

from __future__ import annotations

from pathlib import Path

import click

from hyperoru.embedded import Platform, PlatformError, run_until_signalled


@click.group()
def main() -> None:
    """Hyperoru Programs: write, check, backtest and run trading programs."""


@main.command()
@click.option("--port", default=8080, show_default=True, help="HTTP port of the gateway.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the gateway binds.")
@click.option("--data-dir", default=".hyperoru", show_default=True, type=click.Path(path_type=Path), help="Where the store and JetStream keep their files.")
@click.option("--nats-port", default=0, show_default=True, help="Port of the embedded NATS server (0: a free one).")
@click.option("--samples/--no-samples", default=True, show_default=True, help="Create sample programs on a first start.")
def up(port: int, host: str, data_dir: Path, nats_port: int, samples: bool) -> None:
    """Start NATS, the store and every service on this machine, in the foreground."""
    platform = Platform(data_dir=data_dir.resolve(), host=host, port=port, nats_port=nats_port, say=click.echo)
    on_ready = None
    if samples:
        from hyperoru.samples import seed_samples

        on_ready = seed_samples
    try:
        run_until_signalled(platform, on_ready)
    except PlatformError as exc:
        raise click.ClickException(str(exc)) from None
