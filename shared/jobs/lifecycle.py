"""The job lifecycle: queued → running → completed | failed | cancelled, and nothing else.

Pure (no store, no NATS): callers check a move here, then write it with a compare-and-set on the
status they read (`where={"status": current}`), so two replicas (or a cancel racing a completion)
can never both win. Terminal states never change again.

Moves, and why each exists:
- queued → running: a replica claimed the job.
- queued → cancelled: cancelled before any replica took it (the message is acked when delivered).
- queued → failed: it can never run (gave up after the deliveries allowed, or its message was lost
  and it cannot be queued again).
- running → running: a redelivered job is claimed again (the replica that had it died, or its
  message's ack deadline passed); the attempt counter goes up, the result is still written once.
- running → queued: crash-only start-up found it running with no replica and put it back in the queue.
- running → completed | failed | cancelled: the run ended, the program or the worker failed, or the
  user cancelled it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]

STATUSES: Final[tuple[str, ...]] = get_args(JobStatus)
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
ACTIVE: Final = frozenset({"queued", "running"})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "queued": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"running", "queued", "completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}


class IllegalTransition(ValueError):
    """A move the table does not allow (e.g. completed → running); carries both states."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a job cannot go from `{current}` to `{target}`")
        self.current = current
        self.target = target


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def transition(current: str, target: str) -> str:
    """Return `target` if the move is allowed; raise IllegalTransition otherwise (unknown states too)."""
    if target not in TRANSITIONS or not can_transition(current, target):
        raise IllegalTransition(current, target)
    return target


def is_terminal(status: str) -> bool:
    return status in TERMINAL
