"""Registers the API client commands (programs, validate, test-run, backtest, bindings, executions)
and the services' readiness probe on the `hyperoru` group, in one call from `hyperoru/cli.py`."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    from hyperoru.commands.backtests import backtest
    from hyperoru.commands.live import bindings, executions
    from hyperoru.commands.probe import probe
    from hyperoru.commands.programs import programs, test_run, validate

    for command in (programs, validate, test_run, backtest, bindings, executions, probe):
        main.add_command(command)
