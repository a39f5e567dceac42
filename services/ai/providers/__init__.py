"""The provider port (`base.py`) and its adapters: an OpenAI-compatible HTTP API (`openai_compat.py`)
and the built-in offline assistant (`services/ai/builtin/`). `open_provider` picks one from settings."""

from __future__ import annotations

from services.ai.providers.base import Provider, ProviderTurn, ToolCall, TokenSink, TurnUsage

__all__ = ["Provider", "ProviderTurn", "ToolCall", "TokenSink", "TurnUsage"]
