"""The one error of this package: a pool or schedule that cannot be used, naming the field at fault."""

from __future__ import annotations


class SignalError(ValueError):
    """`field` is the JSON path of the bad input (`signals[2].metric`, `schedule.cron`), for `details.field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
