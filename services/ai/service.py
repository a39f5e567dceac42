"""The ai service's NATS endpoints: decode → domain → reply. Nothing else lives here.

The provider is chosen once, from settings: the OpenAI-compatible adapter when `AI_BASE_URL` is
set, else the built-in offline assistant (labelled `builtin` in every answer; it is not a model).
Tests may hand in their own provider or store.
"""

from __future__ import annotations

from typing import Any

from services.ai.assistant import Assistant, Limits
from services.ai.builtin import BuiltinAssistant
from services.ai.conversations import Conversations
from services.ai.guide import GuideBook
from services.ai.providers.base import Provider
from services.ai.providers.openai_compat import OpenAICompatibleProvider
from services.ai.store import ConversationStore
from services.ai.stream import InboxSink
from services.ai.tools import Toolbox
from shared import subjects
from shared.context import RequestContext
from shared.messages.ai import ChatSend, ConversationList, ConversationMessages, ConversationRef
from shared.messages.runs import Guide, GuideRequest
from shared.runtime import Service
from shared.settings import Settings
from shared.store import Store, open_store


def open_provider(settings: Settings, guide: GuideBook) -> Provider:
    if settings.ai_base_url:
        return OpenAICompatibleProvider(
            settings.ai_base_url, model=settings.ai_model, api_key=settings.ai_api_key, timeout_s=settings.ai_timeout_s
        )
    return BuiltinAssistant(guide)


async def build(settings: Settings, *, store: Store | None = None, provider: Provider | None = None) -> Service:
    service = Service("ai", settings, description="AI assistant: chat that writes programs which compile, and conversations")
    if store is None:
        store = open_store(mongodb_url=settings.mongodb_url, sqlite_path=settings.sqlite_path, mongodb_db=settings.mongodb_db)
    service.resources.push_async_callback(store.close)
    service.add_health_check("store", store.ping)

    async def call(subject: str, message: Any, reply_type: type, ctx: RequestContext) -> Any:
        return await service.client().request(subject, message, reply_type, ctx)

    async def fetch_guide(ctx: RequestContext) -> str:
        return (await call(subjects.LANG_DEV_GUIDE, GuideRequest(), Guide, ctx)).guide

    guide = GuideBook(fetch_guide)
    toolbox = Toolbox(call, guide)
    if provider is None:
        provider = open_provider(settings, guide)
    service.resources.push_async_callback(provider.close)
    limits = Limits(
        token_budget=settings.ai_token_budget,
        max_tool_rounds=settings.ai_max_tool_rounds,
        repair_rounds=settings.ai_repair_rounds,
        answer_timeout_s=settings.ai_answer_timeout_s,
    )
    assistant = Assistant(provider, toolbox, guide, limits)
    conversations = Conversations(
        await ConversationStore.open(store), assistant, toolbox, service.publish, lambda inbox: InboxSink(lambda: service.nc, inbox)
    )
    service.add(subjects.AI_CHAT_SEND, ChatSend, conversations.chat)
    service.add(subjects.AI_CONVERSATIONS_LIST, ConversationList, conversations.list)
    service.add(subjects.AI_CONVERSATIONS_MESSAGES, ConversationMessages, conversations.messages)
    service.add(subjects.AI_CONVERSATIONS_DELETE, ConversationRef, conversations.delete)
    return service
