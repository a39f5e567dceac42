"""The backtester service. It starts, registers on NATS and answers `$SRV.PING`; its endpoints come with
their own issue, and until then it serves none rather than anything fake."""

from __future__ import annotations

from shared.runtime import Service
from shared.settings import Settings


async def build(settings: Settings) -> Service:
    return Service("backtester", settings, description="Backtest jobs from a JetStream work queue (endpoints arrive with the backtest issue)")
