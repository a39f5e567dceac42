"""Opt-in: the OpenAI-compatible adapter against a real local model server (llama.cpp's
`python -m llama_cpp.server --model M.gguf --chat_format chatml-function-calling`, see TOOLING.md).
Set `AI_LIVE_BASE_URL` (e.g. `http://127.0.0.1:8000/v1`) to run it. It checks the protocol and the
tool plumbing only (a tiny model's *answers* are not reproducible), never answer quality."""

from __future__ import annotations

import os

import pytest

from services.ai.providers.openai_compat import OpenAICompatibleProvider
from services.ai.tools import TOOL_NAMES, TOOL_SPECS

LIVE_URL = os.environ.get("AI_LIVE_BASE_URL")
pytestmark = pytest.mark.skipif(
    not LIVE_URL, reason="AI_LIVE_BASE_URL is not set: no local llama.cpp (or other OpenAI-compatible) server to talk to"
)

MESSAGES = [
    {"role": "system", "content": "You are a tool-using assistant. Call the list_symbols tool."},
    {"role": "user", "content": "Which symbols can I trade? Use the tool."},
]


@pytest.mark.parametrize("stream", [False, True])
async def test_live_server_speaks_chat_completions_with_tools(stream: bool) -> None:
    assert LIVE_URL is not None
    provider = OpenAICompatibleProvider(LIVE_URL, model=os.environ.get("AI_LIVE_MODEL", "default"), timeout_s=120)
    tokens: list[str] = []

    async def on_token(text: str) -> None:
        tokens.append(text)

    try:
        turn = await provider.chat(MESSAGES, TOOL_SPECS, max_tokens=128, on_token=on_token if stream else None)
    finally:
        await provider.close()
    assert isinstance(turn.content, str)
    assert turn.tool_calls or turn.content, "the server answered neither text nor a tool call"
    for call in turn.tool_calls:
        assert call.id and call.name in TOOL_NAMES, call
        assert isinstance(call.arguments, str)
    if stream:
        assert "".join(tokens) == turn.content
    assert turn.usage.completion_tokens >= 0 and turn.usage.prompt_tokens >= 0
