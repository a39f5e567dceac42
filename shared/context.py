"""Who is asking, passed to domain code instead of transport headers (domain code never sees NATS)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.timefmt import now_iso


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    owner: str

    def event_fields(self) -> dict[str, str]:
        """The fields every event carries: `SomeEvent(**ctx.event_fields(), …)`."""
        return {"id": uuid.uuid4().hex, "time": now_iso(), "owner": self.owner, "correlation_id": self.request_id}
