"""Job lifecycles: one transition table for every kind of job (backtests now, anything later).

    from shared.jobs import transition, is_terminal, IllegalTransition
"""

from shared.jobs.lifecycle import (
    ACTIVE,
    STATUSES,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    JobStatus,
    can_transition,
    is_terminal,
    transition,
)

__all__ = [
    "ACTIVE",
    "STATUSES",
    "TERMINAL",
    "TRANSITIONS",
    "IllegalTransition",
    "JobStatus",
    "can_transition",
    "is_terminal",
    "transition",
]
