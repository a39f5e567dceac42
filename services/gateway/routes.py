"""The route table: which HTTP route goes to which NATS subject with which request message.

This is the only place routes are declared. Every route answers with and without a trailing slash,
and ids are matched as numbers (`{id:\\d+}`), so a literal route such as `/api/programs/bindings` or
`/api/programs/available-symbols` can never fall into `/api/programs/{id}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import subjects
from shared.messages.ai import (
    CONVERSATION_ID_PATTERN,
    ChatMessage,
    ChatReply,
    ChatRequest,
    Conversation,
    ConversationList,
    ConversationMessages,
    ConversationRef,
)
from shared.messages.backtests import (
    BACKTEST_ID_PATTERN,
    TRIGGER_ID_PATTERN,
    Backtest,
    BacktestAccepted,
    BacktestHistory,
    BacktestItems,
    BacktestRef,
    BacktestSubmit,
    BacktestSummary,
    EquityPoint,
    EquityQuery,
    Marker,
    ProgramBacktestSubmit,
    Trade,
    TriggerDetail,
    TriggerItem,
    TriggerRef,
)
from shared.messages.live import (
    Account,
    AccountCreate,
    AccountFill,
    AccountList,
    AccountRef,
    AccountUpdate,
    Binding,
    BindingCreate,
    BindingList,
    BindingRef,
    BindingUpdate,
    Execution,
    ExecutionList,
    ExecutionRef,
    ExecutionSummary,
    FillList,
    PoolCreate,
    PoolList,
    PoolRef,
    PoolUpdate,
    PreviewRequest,
    PreviewResult,
    SignalPool,
)
from shared.messages.market import (
    CandleImport,
    CandleImportResult,
    CandleSeries,
    CandlesQuery,
    MarketQuery,
    MarketSnapshot,
    SymbolList,
    SymbolsQuery,
)
from shared.messages.programs import (
    Program,
    ProgramCreate,
    ProgramList,
    ProgramRef,
    ProgramUpdate,
    ProgramVersion,
    ProgramVersionList,
    ProgramVersionRef,
)
from shared.messages.runs import Guide, GuideRequest, TestRunRequest, TestRunResult, ValidateRequest, ValidateResult

ID = r"{id:\d+}"
BT_ID = f"{{bt_id:{BACKTEST_ID_PATTERN}}}"

@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    subject: str
    request: type
    status: int = 200
    text_body: str | None = None  # the message field that takes the raw body (CSV uploads) instead of JSON
    query: tuple[str, ...] | None = None
    """Fields the query string may set. None: every field for GET/DELETE, none for POST/PUT (a query
    string never sets a body field)."""
    paged: bool = False
    """The reply is a `shared.paging.ListPage`: its items go out as the JSON array, its cursor as the
    `X-Next-Cursor` header."""
    streams: bool = False
    """A long answer that may stream as Server-Sent Events (`services/gateway/streams.py`, the AI chat)."""
    reply: Any = None
    """The type of the HTTP response body (what `/openapi.json` documents): a reply Struct, or for a
    paged route `list[Item]` (the page's items as they go out). None only with status 204 (no body)."""


ROUTES: tuple[Route, ...] = (
    # executor: market data
    Route("GET", "/api/programs/available-symbols", subjects.MARKET_SYMBOLS, SymbolsQuery, reply=SymbolList),
    Route("POST", "/api/programs/query-market-data", subjects.MARKET_QUERY, MarketQuery, reply=MarketSnapshot),
    Route("GET", "/api/programs/market-data/candles", subjects.MARKET_CANDLES, CandlesQuery, reply=CandleSeries),
    Route("POST", "/api/programs/market-data/import", subjects.MARKET_IMPORT, CandleImport, status=201, text_body="csv",
          query=("symbol", "timeframe"), reply=CandleImportResult),
    # executor: the program language
    Route("POST", "/api/programs/validate", subjects.LANG_VALIDATE, ValidateRequest, reply=ValidateResult),
    Route("POST", "/api/programs/test-run", subjects.LANG_TEST_RUN, TestRunRequest, reply=TestRunResult),
    Route("GET", "/api/programs/dev-guide", subjects.LANG_DEV_GUIDE, GuideRequest, reply=Guide),
    # registry: programs and their versions
    Route("GET", "/api/programs", subjects.PROGRAMS_LIST, ProgramList, paged=True, reply=list[Program]),
    Route("POST", "/api/programs", subjects.PROGRAMS_CREATE, ProgramCreate, status=201, reply=Program),
    Route("GET", f"/api/programs/{ID}", subjects.PROGRAMS_GET, ProgramRef, reply=Program),
    Route("PUT", f"/api/programs/{ID}", subjects.PROGRAMS_UPDATE, ProgramUpdate, reply=Program),
    Route("DELETE", f"/api/programs/{ID}", subjects.PROGRAMS_DELETE, ProgramRef, status=204),
    Route("GET", f"/api/programs/{ID}/versions", subjects.PROGRAM_VERSIONS_LIST, ProgramVersionList, paged=True, reply=list[ProgramVersion]),
    Route("GET", f"/api/programs/{ID}/versions/{{version:\\d+}}", subjects.PROGRAM_VERSIONS_GET, ProgramVersionRef, reply=ProgramVersion),
    # backtester: backtest jobs and their results
    Route("POST", "/api/programs/backtest", subjects.BACKTESTS_SUBMIT, BacktestSubmit, status=202, reply=BacktestAccepted),
    Route("POST", f"/api/programs/{ID}/backtest", subjects.BACKTESTS_SUBMIT_PROGRAM, ProgramBacktestSubmit, status=202, reply=BacktestAccepted),
    Route("GET", "/api/programs/backtest/history", subjects.BACKTESTS_LIST, BacktestHistory, paged=True, reply=list[BacktestSummary]),
    Route("GET", f"/api/programs/backtest/{BT_ID}", subjects.BACKTESTS_GET, BacktestRef, reply=Backtest),
    Route("GET", f"/api/programs/backtest/{BT_ID}/equity", subjects.BACKTESTS_EQUITY, EquityQuery, paged=True, reply=list[EquityPoint]),
    Route("GET", f"/api/programs/backtest/{BT_ID}/trades", subjects.BACKTESTS_TRADES, BacktestItems, paged=True, reply=list[Trade]),
    Route("GET", f"/api/programs/backtest/{BT_ID}/triggers", subjects.BACKTESTS_TRIGGERS, BacktestItems, paged=True, reply=list[TriggerItem]),
    Route("GET", f"/api/programs/backtest/{BT_ID}/markers", subjects.BACKTESTS_MARKERS, BacktestItems, paged=True, reply=list[Marker]),
    Route("POST", f"/api/programs/backtest/{BT_ID}/cancel", subjects.BACKTESTS_CANCEL, BacktestRef, reply=BacktestAccepted),
    Route("GET", f"/api/programs/backtest/trigger/{{trigger_id:{TRIGGER_ID_PATTERN}}}", subjects.BACKTEST_TRIGGERS_GET, TriggerRef, reply=TriggerDetail),
    # ai: the assistant and its conversations
    Route("POST", "/api/programs/ai-chat", subjects.AI_CHAT_SEND, ChatRequest, streams=True, reply=ChatReply),
    Route("GET", "/api/programs/ai-conversations", subjects.AI_CONVERSATIONS_LIST, ConversationList, paged=True,
          reply=list[Conversation]),
    Route("GET", f"/api/programs/ai-conversations/{{id:{CONVERSATION_ID_PATTERN}}}/messages", subjects.AI_CONVERSATIONS_MESSAGES,
          ConversationMessages, paged=True, reply=list[ChatMessage]),
    Route("DELETE", f"/api/programs/ai-conversations/{{id:{CONVERSATION_ID_PATTERN}}}", subjects.AI_CONVERSATIONS_DELETE,
          ConversationRef, status=204),
    # executor: live resources (paper accounts, signal pools, bindings)
    Route("GET", "/api/programs/accounts", subjects.ACCOUNTS_LIST, AccountList, paged=True, reply=list[Account]),
    Route("POST", "/api/programs/accounts", subjects.ACCOUNTS_CREATE, AccountCreate, status=201, reply=Account),
    Route("GET", f"/api/programs/accounts/{ID}", subjects.ACCOUNTS_GET, AccountRef, reply=Account),
    Route("PUT", f"/api/programs/accounts/{ID}", subjects.ACCOUNTS_UPDATE, AccountUpdate, reply=Account),
    Route("DELETE", f"/api/programs/accounts/{ID}", subjects.ACCOUNTS_DELETE, AccountRef, status=204),
    Route("POST", f"/api/programs/accounts/{ID}/reset", subjects.ACCOUNTS_RESET, AccountRef, reply=Account),
    Route("GET", f"/api/programs/accounts/{ID}/fills", subjects.ACCOUNTS_FILLS, FillList, paged=True, reply=list[AccountFill]),
    Route("GET", "/api/programs/signal-pools", subjects.SIGNAL_POOLS_LIST, PoolList, paged=True, reply=list[SignalPool]),
    Route("POST", "/api/programs/signal-pools", subjects.SIGNAL_POOLS_CREATE, PoolCreate, status=201, reply=SignalPool),
    Route("GET", f"/api/programs/signal-pools/{ID}", subjects.SIGNAL_POOLS_GET, PoolRef, reply=SignalPool),
    Route("PUT", f"/api/programs/signal-pools/{ID}", subjects.SIGNAL_POOLS_UPDATE, PoolUpdate, reply=SignalPool),
    Route("DELETE", f"/api/programs/signal-pools/{ID}", subjects.SIGNAL_POOLS_DELETE, PoolRef, status=204),
    Route("GET", "/api/programs/bindings", subjects.BINDINGS_LIST, BindingList, paged=True, reply=list[Binding]),
    Route("POST", "/api/programs/bindings", subjects.BINDINGS_CREATE, BindingCreate, status=201, reply=Binding),
    Route("GET", f"/api/programs/bindings/{ID}", subjects.BINDINGS_GET, BindingRef, reply=Binding),
    Route("PUT", f"/api/programs/bindings/{ID}", subjects.BINDINGS_UPDATE, BindingUpdate, reply=Binding),
    Route("DELETE", f"/api/programs/bindings/{ID}", subjects.BINDINGS_DELETE, BindingRef, status=204),
    # executor: live runs (preview-run, the execution log)
    Route("POST", f"/api/programs/bindings/{ID}/preview-run", subjects.LIVE_PREVIEW, PreviewRequest, reply=PreviewResult),
    Route("GET", "/api/programs/executions", subjects.LIVE_EXECUTIONS_LIST, ExecutionList, paged=True, reply=list[ExecutionSummary]),
    Route("GET", f"/api/programs/executions/{ID}", subjects.LIVE_EXECUTIONS_GET, ExecutionRef, reply=Execution),
)
