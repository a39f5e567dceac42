"""The assistant's own limits (sizes of the chat message itself: `shared/messages/ai.py`)."""

from __future__ import annotations

from typing import Final

MAX_TURNS_PER_CONVERSATION: Final = 200
"""Exchanges (a question and its answer) one conversation may hold; then: start a new one."""

CONTEXT_TURNS: Final = 8
"""Earlier exchanges given to the model with a new question; older ones are left out (and it says so)."""

CONTEXT_CHARS: Final = 24_000
"""At most this much earlier conversation text goes to the model (newest kept first)."""

TOOL_RESULT_CHARS: Final = 6_000
"""A tool's result as the model sees it is cut to this many characters."""

TOOL_SUMMARY_CHARS: Final = 200
"""The one-line result of a tool call shown to the user in `tool_calls`."""

TITLE_CHARS: Final = 80
"""A conversation's title: the start of its first message."""

QUICK_BACKTEST_TIMEOUT_S: Final = 60.0
"""How long `quick_backtest` waits for its job (within the answer's own time limit)."""

TIME_RESERVE_S: Final = 3.0
"""Kept back from the answer's deadline for the final validation and the store write."""
