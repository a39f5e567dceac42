"""The ai service. It starts, registers on NATS and answers `$SRV.PING`; its endpoints come with
their own issue, and until then it serves none rather than anything fake."""

from __future__ import annotations

from shared.runtime import Service
from shared.settings import Settings


async def build(settings: Settings) -> Service:
    return Service("ai", settings, description="AI chat and conversations (endpoints arrive with the AI issue)")
