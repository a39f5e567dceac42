"""Every NATS subject of the platform, built in one place.

Requests are `<service>.<resource>.<verb>`, served as `nats.micro` endpoints in queue group
`<service>`; events are `evt.<service>.<entity>.<past>` on the JetStream stream `EVENTS`.
"""

from __future__ import annotations

from typing import Final

SERVICES: Final = ("registry", "executor", "backtester", "ai")

# Headers that travel with every request.
REQUEST_ID_HEADER: Final = "X-Request-ID"
OWNER_HEADER: Final = "X-Owner"
DEADLINE_HEADER: Final = "X-Deadline"  # epoch ms at which the caller (the gateway) gives up with 504

# registry
PROGRAMS_CREATE: Final = "registry.programs.create"
PROGRAMS_LIST: Final = "registry.programs.list"
PROGRAMS_GET: Final = "registry.programs.get"
PROGRAMS_UPDATE: Final = "registry.programs.update"
PROGRAMS_DELETE: Final = "registry.programs.delete"
PROGRAM_VERSIONS_LIST: Final = "registry.program_versions.list"
PROGRAM_VERSIONS_GET: Final = "registry.program_versions.get"
TOKENS_VERIFY: Final = "registry.tokens.verify"
"""Asked by the gateway in `AUTH_MODE=token`: whose API token has this hash (services/registry/tokens.py)."""

# executor
LANG_VALIDATE: Final = "executor.programs.validate"
LANG_TEST_RUN: Final = "executor.programs.test_run"
LANG_DEV_GUIDE: Final = "executor.dev_guide.get"
MARKET_SYMBOLS: Final = "executor.market.symbols"
MARKET_QUERY: Final = "executor.market.query"
MARKET_CANDLES: Final = "executor.market.candles"
MARKET_IMPORT: Final = "executor.market.import"

# executor: live resources (owner: live-resources) -- paper accounts, signal pools, bindings
ACCOUNTS_CREATE: Final = "executor.accounts.create"
ACCOUNTS_LIST: Final = "executor.accounts.list"
ACCOUNTS_GET: Final = "executor.accounts.get"
ACCOUNTS_UPDATE: Final = "executor.accounts.update"
ACCOUNTS_DELETE: Final = "executor.accounts.delete"
ACCOUNTS_RESET: Final = "executor.accounts.reset"
ACCOUNTS_FILLS: Final = "executor.accounts.fills"
SIGNAL_POOLS_CREATE: Final = "executor.signal_pools.create"
SIGNAL_POOLS_LIST: Final = "executor.signal_pools.list"
SIGNAL_POOLS_GET: Final = "executor.signal_pools.get"
SIGNAL_POOLS_UPDATE: Final = "executor.signal_pools.update"
SIGNAL_POOLS_DELETE: Final = "executor.signal_pools.delete"
BINDINGS_CREATE: Final = "executor.bindings.create"
BINDINGS_LIST: Final = "executor.bindings.list"
BINDINGS_GET: Final = "executor.bindings.get"
BINDINGS_UPDATE: Final = "executor.bindings.update"
BINDINGS_DELETE: Final = "executor.bindings.delete"
BINDINGS_COUNT: Final = "executor.bindings.count"
"""Asked by the registry before deleting a program: how many bindings use it (owner-scoped)."""
EVT_ACCOUNT_CREATED: Final = "evt.executor.account.created"
EVT_ACCOUNT_UPDATED: Final = "evt.executor.account.updated"
EVT_ACCOUNT_RESET: Final = "evt.executor.account.reset"
EVT_ACCOUNT_DELETED: Final = "evt.executor.account.deleted"
EVT_SIGNAL_POOL_CREATED: Final = "evt.executor.signal_pool.created"
EVT_SIGNAL_POOL_UPDATED: Final = "evt.executor.signal_pool.updated"
EVT_SIGNAL_POOL_DELETED: Final = "evt.executor.signal_pool.deleted"
EVT_BINDING_CREATED: Final = "evt.executor.binding.created"
EVT_BINDING_UPDATED: Final = "evt.executor.binding.updated"
EVT_BINDING_DELETED: Final = "evt.executor.binding.deleted"

# executor: live runs (owner: live-runs) -- the run work-queue, executions, preview
LIVE_PREVIEW: Final = "executor.bindings.preview"
LIVE_EXECUTIONS_LIST: Final = "executor.executions.list"
LIVE_EXECUTIONS_GET: Final = "executor.executions.get"
LIVE_RUNS_STREAM: Final = "LIVE_RUNS"
LIVE_RUNS_ALL: Final = "executor.runs.>"
LIVE_RUNS_CONSUMER: Final = "executor-runs"
EVT_SIGNAL_FIRED: Final = "evt.executor.signal.fired"
EVT_EXECUTION_COMPLETED: Final = "evt.executor.execution.completed"
EVT_EXECUTION_FAILED: Final = "evt.executor.execution.failed"
EVT_ORDER_FILLED: Final = "evt.executor.order.filled"
EVT_ORDER_REJECTED: Final = "evt.executor.order.rejected"


def live_run(account_id: int) -> str:
    """The run work-queue subject of one account's runs."""
    return f"executor.runs.{account_id}"


# backtester
BACKTESTS_SUBMIT: Final = "backtester.backtests.submit"
BACKTESTS_SUBMIT_PROGRAM: Final = "backtester.backtests.submit_program"
BACKTESTS_GET: Final = "backtester.backtests.get"
BACKTESTS_LIST: Final = "backtester.backtests.list"
BACKTESTS_CANCEL: Final = "backtester.backtests.cancel"
BACKTESTS_EQUITY: Final = "backtester.backtests.equity"
BACKTESTS_TRADES: Final = "backtester.backtests.trades"
BACKTESTS_TRIGGERS: Final = "backtester.backtests.triggers"
BACKTESTS_MARKERS: Final = "backtester.backtests.markers"
BACKTEST_TRIGGERS_GET: Final = "backtester.triggers.get"
BACKTEST_JOBS_STREAM: Final = "BACKTESTS"
BACKTEST_JOBS_ALL: Final = "backtester.jobs.>"
BACKTEST_JOBS_CONSUMER: Final = "backtester"
BACKTEST_CANCEL_BROADCAST: Final = "backtester.control.cancel"
"""Core NATS (no queue group): every replica hears a cancel and stops the job if it runs it."""


def backtest_job(backtest_id: str) -> str:
    """The work-queue subject of one job: one subject per job, so its message can be looked up."""
    return f"backtester.jobs.{backtest_id}"


def max_deliveries_advisory(stream: str, consumer: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


# ai: chat and conversations
AI_CHAT_SEND: Final = "ai.chat.send"
AI_CONVERSATIONS_LIST: Final = "ai.conversations.list"
AI_CONVERSATIONS_MESSAGES: Final = "ai.conversations.messages"
AI_CONVERSATIONS_DELETE: Final = "ai.conversations.delete"
EVT_AI_MESSAGE_CREATED: Final = "evt.ai.message.created"

# events
EVENTS_STREAM: Final = "EVENTS"
EVENTS_ALL: Final = "evt.>"
EVT_PROGRAM_CREATED: Final = "evt.registry.program.created"
EVT_PROGRAM_UPDATED: Final = "evt.registry.program.updated"
EVT_PROGRAM_DELETED: Final = "evt.registry.program.deleted"
EVT_CANDLES_IMPORTED: Final = "evt.executor.candles.imported"
EVT_BACKTEST_STARTED: Final = "evt.backtester.backtest.started"
EVT_BACKTEST_PROGRESSED: Final = "evt.backtester.backtest.progressed"
EVT_BACKTEST_COMPLETED: Final = "evt.backtester.backtest.completed"
EVT_BACKTEST_FAILED: Final = "evt.backtester.backtest.failed"
EVT_BACKTEST_CANCELLED: Final = "evt.backtester.backtest.cancelled"


def health(service: str) -> str:
    """The endpoint every service serves to say whether its dependencies (its store) answer."""
    return f"{service}.health.check"


def ping(service: str) -> str:
    """The `nats.micro` discovery subject answering for every instance of `service`."""
    return f"$SRV.PING.{service}"


def info(service: str) -> str:
    """The `nats.micro` discovery subject describing a service instance: version, endpoints."""
    return f"$SRV.INFO.{service}"
