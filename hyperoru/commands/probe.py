"""`hyperoru probe SERVICE`: is a service answering on the bus with its store up? (Kubernetes readiness)

The services speak NATS only (no HTTP port), so their probe asks the bus what the gateway's `/readyz`
asks for each: `$SRV.PING.<service>` answers, and `<service>.health.check` reports every dependency
ok. It reaches any replica of the service, not necessarily the one in this pod: it tells that the
service works from here (NATS reachable, a replica serving, the store up), not that this process does.

Exit codes: 0 ready; 1 answering but a dependency is down; 3 no answer (NATS or the service missing).
"""

from __future__ import annotations

import asyncio

import click

from hyperoru.commands.common import EXIT_REFUSED, EXIT_UNAVAILABLE


async def _probe(nats_url: str, service: str, timeout_s: float) -> tuple[int, str]:
    import msgspec
    import nats
    import nats.errors

    from shared import subjects
    from shared.messages.health import Health

    try:
        nc = await nats.connect(nats_url, connect_timeout=timeout_s, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception as exc:  # any failure to connect is "not reachable", with its reason
        return EXIT_UNAVAILABLE, f"NATS at {nats_url} cannot be reached: {exc or type(exc).__name__}"
    try:
        await nc.request(subjects.ping(service), b"", timeout=timeout_s)
        reply = await nc.request(subjects.health(service), b"{}", timeout=timeout_s, headers={subjects.OWNER_HEADER: "probe"})
        health = msgspec.json.decode(reply.data, type=Health)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return EXIT_UNAVAILABLE, f"{service}: no answer on the bus"
    except (nats.errors.Error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        return EXIT_UNAVAILABLE, f"{service}: {type(exc).__name__}: {exc}"
    finally:
        await nc.close()
    checks = ", ".join(f"{name} {state}" for name, state in health.checks.items()) or "no dependencies"
    if health.status != "ok":
        return EXIT_REFUSED, f"{service}: degraded ({checks})"
    return 0, f"{service}: ok ({checks})"


@click.command()
@click.argument("service")
@click.option("--timeout", "timeout_s", default=3.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds per request.")
def probe(service: str, timeout_s: float) -> None:
    """Exit 0 when SERVICE answers on NATS (NATS_URL) and its store is up."""
    from shared import subjects
    from shared.settings import SettingsError, load_settings

    if service not in subjects.SERVICES:
        raise click.BadParameter(f"one of {', '.join(subjects.SERVICES)}", param_hint="SERVICE")
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    code, message = asyncio.run(_probe(settings.nats_url, service, timeout_s))
    click.echo(message, err=code != 0)
    raise SystemExit(code)
