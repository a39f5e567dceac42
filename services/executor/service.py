"""The executor's NATS endpoints: decode → domain → reply."""

from __future__ import annotations

from shared.runtime import Service
from shared.settings import Settings


async def build(settings: Settings) -> Service:
    return Service("executor", settings, description="Validate, test-run, preview-run, live runs, market data, triggers")
