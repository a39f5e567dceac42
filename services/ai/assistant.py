"""One answer: the model, its tool calls, and the repair loop, within the answer's limits.

The loop, per answer:
1. messages = system prompt (from the dev guide; plus the program being edited) + the last turns of
   the conversation (older ones left out, and the answer says so) + the question;
2. ask the provider; while it asks for tools (at most `AI_MAX_TOOL_ROUNDS` rounds), run them
   (`tools.py`) and give it the results;
3. take the proposed program from its answer (the last fenced block with `fn run`; failing that, the
   code of its last successful validate/test-run/backtest call, unless that is the user's own code)
   and validate it. Invalid: send the diagnostics back and
   ask for the whole fixed program (at most `AI_REPAIR_ROUNDS` times). Still invalid: the answer
   says plainly that the code does not compile, with the errors. So the user never gets code that
   does not compile without being told.

Limits: a token budget over all provider calls (`AI_TOKEN_BUDGET`), the answer's deadline (the
gateway's, `AI_ANSWER_TIMEOUT_S`) with a reserve for the last validation and the store write, and
the provider's own per-call timeout. Provider errors propagate as 502/504 and nothing is stored.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from services.ai.codeblocks import extract_code
from services.ai.guide import GuideBook
from services.ai.limits import CONTEXT_CHARS, CONTEXT_TURNS, TIME_RESERVE_S
from services.ai.prompt import program_context, system_prompt
from services.ai.providers.base import Message, Provider, ProviderTurn, estimate_tokens
from services.ai.tools import TOOL_SPECS, Toolbox, ToolOutcome, model_view
from shared.context import RequestContext
from shared.errors import GatewayTimeout
from shared.messages.ai import CodeDiagnostics, ToolCallRecord, Usage
from shared.messages.programs import Program
from shared.messages.runs import ValidateResult

MAX_TOKENS_PER_CALL = 4096
MIN_TOKENS_PER_CALL = 256
CODE_TOOLS = ("validate_code", "test_run", "quick_backtest")


class Sink(Protocol):
    """Where progress goes while an answer is made (the stream inbox, or nowhere)."""

    async def token(self, text: str) -> None: ...
    async def tool_call(self, name: str, arguments: dict[str, Any]) -> None: ...
    async def tool_result(self, name: str, summary: str, ok: bool) -> None: ...


class NoSink:
    async def token(self, text: str) -> None:
        return None

    async def tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        return None

    async def tool_result(self, name: str, summary: str, ok: bool) -> None:
        return None


@dataclass(frozen=True, slots=True)
class PastTurn:
    question: str
    answer: str


@dataclass(slots=True)
class Answer:
    response: str
    code: str | None
    diagnostics: CodeDiagnostics | None
    tool_calls: list[ToolCallRecord]
    usage: Usage
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limits:
    token_budget: int
    max_tool_rounds: int
    repair_rounds: int
    answer_timeout_s: float


class Assistant:
    def __init__(self, provider: Provider, toolbox: Toolbox, guide: GuideBook, limits: Limits) -> None:
        self.provider = provider
        self._tools = toolbox
        self._guide = guide
        self._limits = limits

    async def answer(
        self, question: str, history: list[PastTurn], program: Program | None, ctx: RequestContext, sink: Sink
    ) -> Answer:
        run = _Run(self, ctx, sink)
        return await run.go(question, history, program)


class _Run:
    """The state of one answer being made."""

    def __init__(self, assistant: Assistant, ctx: RequestContext, sink: Sink) -> None:
        self.a = assistant
        self.ctx = ctx
        self.sink = sink
        self.records: list[ToolCallRecord] = []
        self.usage = Usage()
        self.notes: list[str] = []
        limit = assistant._limits.answer_timeout_s
        remaining = ctx.remaining_s()
        if remaining is not None:
            limit = min(limit, remaining)
        self.deadline = time.monotonic() + limit - TIME_RESERVE_S

    async def go(self, question: str, history: list[PastTurn], program: Program | None) -> Answer:
        guide = await self.a._guide.load(self.ctx)
        system = system_prompt(guide)
        users_code = extract_code(question)
        if program is not None:
            system += "\n\n" + program_context(program.id, program.name, program.code)
            users_code = users_code or program.code
        messages: list[Message] = [{"role": "system", "content": system}, *self._history(history), {"role": "user", "content": question}]

        limits = self.a._limits
        tool_rounds = repairs = 0
        tool_code: str | None = None
        while True:
            offer_tools = tool_rounds < limits.max_tool_rounds
            turn = await self._ask(messages, offer_tools)
            if turn is None:  # token budget spent
                text = "I stopped here: this answer used up its token budget (AI_TOKEN_BUDGET) before it was complete."
                break
            if turn.tool_calls and offer_tools:
                tool_rounds += 1
                messages.append(_assistant_with_calls(turn))
                for call in turn.tool_calls:
                    arguments, outcome = await self._tool(call.name, call.arguments)
                    if call.name in CODE_TOOLS and outcome.ok and isinstance(arguments.get("code"), str):
                        tool_code = arguments["code"]
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": model_view(outcome)})
                continue
            if turn.tool_calls:
                self.notes.append(f"the tool-call limit ({limits.max_tool_rounds} rounds) was reached")
            text = turn.content
            code = extract_code(text) or (tool_code if tool_code and tool_code != users_code else None)
            if code is None:
                return self._answer(text, None, None)
            verdict = await self._validate(code)
            if verdict.valid or repairs >= limits.repair_rounds or self._out_of_time():
                return self._answer(text, code, verdict, repairs)
            repairs += 1
            messages.append({"role": "assistant", "content": text})
            messages.append({"role": "user", "content": _repair_request(verdict)})
        return self._answer(text, None, None)

    def _history(self, history: list[PastTurn]) -> list[Message]:
        kept: list[PastTurn] = []
        size = 0
        for turn in reversed(history[-CONTEXT_TURNS:]):
            size += len(turn.question) + len(turn.answer)
            if kept and size > CONTEXT_CHARS:
                break
            kept.append(turn)
        kept.reverse()
        left_out = len(history) - len(kept)
        messages: list[Message] = []
        if left_out:
            self.notes.append(
                f"this conversation has {len(history)} earlier exchanges; the oldest {left_out} were left out of "
                f"the assistant's context (it sees the last {len(kept)})"
            )
            messages.append({"role": "system", "content": f"({left_out} older exchanges of this conversation are not shown.)"})
        for turn in kept:
            messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
        return messages

    async def _ask(self, messages: list[Message], offer_tools: bool) -> ProviderTurn | None:
        budget = self.a._limits.token_budget
        prompt_estimate = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
        room = budget - self.usage.total_tokens - prompt_estimate
        if room < MIN_TOKENS_PER_CALL:
            self.notes.append(f"the token budget ({budget}) was reached")
            return None
        timeout = self.deadline - time.monotonic()
        if timeout <= 0:
            raise _out_of_time(self.a._limits.answer_timeout_s)
        on_token = None if isinstance(self.sink, NoSink) else self.sink.token
        try:
            async with asyncio.timeout(timeout):
                turn = await self.a.provider.chat(
                    messages, TOOL_SPECS if offer_tools else [], max_tokens=min(MAX_TOKENS_PER_CALL, room), on_token=on_token
                )
        except TimeoutError:
            raise _out_of_time(self.a._limits.answer_timeout_s) from None
        used = turn.usage
        prompt = used.prompt_tokens or (prompt_estimate if used.estimated else 0)
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + prompt,
            completion_tokens=self.usage.completion_tokens + used.completion_tokens,
            total_tokens=self.usage.total_tokens + prompt + used.completion_tokens,
            provider_calls=self.usage.provider_calls + 1,
            estimated=self.usage.estimated or used.estimated,
        )
        return turn

    async def _tool(self, name: str, raw_arguments: str) -> tuple[dict[str, Any], ToolOutcome]:
        try:
            arguments = msgspec.json.decode(raw_arguments or "{}")
        except msgspec.DecodeError as exc:
            arguments = None
            problem = f"the arguments are not valid JSON ({exc})"
        else:
            problem = "the arguments must be a JSON object"
        if not isinstance(arguments, dict):
            shown = {"raw": raw_arguments[:500]}
            await self.sink.tool_call(name, shown)
            outcome = ToolOutcome(result={"error": problem}, summary=f"error: {problem}", ok=False)
            return await self._record(name, shown, outcome), outcome
        await self.sink.tool_call(name, arguments)
        outcome = await self._tools_run(name, arguments)
        return await self._record(name, arguments, outcome), outcome

    async def _tools_run(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        timeout = self.deadline - time.monotonic()
        if timeout <= 0:
            raise _out_of_time(self.a._limits.answer_timeout_s)
        try:
            async with asyncio.timeout(timeout):
                return await self.a._tools.run(name, arguments, self.ctx)
        except TimeoutError:
            raise _out_of_time(self.a._limits.answer_timeout_s) from None

    async def _record(self, name: str, arguments: dict[str, Any], outcome: ToolOutcome) -> dict[str, Any]:
        self.records.append(ToolCallRecord(name=name, arguments=_shown(arguments), result=outcome.summary, ok=outcome.ok))
        await self.sink.tool_result(name, outcome.summary, outcome.ok)
        return arguments

    async def _validate(self, code: str) -> ValidateResult:
        """The final check of proposed code, shown to the user as a `validate_code` call like any other."""
        arguments = {"code": code}
        await self.sink.tool_call("validate_code", _shown(arguments))
        outcome = await self.a._tools.validate_code(arguments, self.ctx)
        await self._record("validate_code", arguments, outcome)
        return msgspec.convert(outcome.result, ValidateResult)

    def _out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def _answer(self, text: str, code: str | None, verdict: ValidateResult | None, repairs: int = 0) -> Answer:
        diagnostics = None
        if verdict is not None:
            diagnostics = CodeDiagnostics(
                valid=verdict.valid,
                errors=list(verdict.errors),
                warnings=list(verdict.warnings),
            )
            if not verdict.valid:
                tried = f" after {repairs} attempt{'s' if repairs != 1 else ''} to fix it" if repairs else ""
                errors = "\n".join(f"- line {e.line}, column {e.column}: {e.message}" for e in verdict.errors[:10])
                text = (f"{text.rstrip()}\n\n**This program does not compile.** I could not make it compile{tried}. "
                        f"The validator reports:\n{errors}")
                self.notes.append("the proposed code does not compile")
        if self.notes:
            text = text.rstrip() + "\n\n" + "\n".join(f"_Note: {note}._" for note in self.notes)
        return Answer(response=text, code=code, diagnostics=diagnostics, tool_calls=self.records, usage=self.usage, notes=self.notes)


def _assistant_with_calls(turn: ProviderTurn) -> Message:
    return {
        "role": "assistant",
        "content": turn.content,  # a string even when empty: llama-cpp-python's server refuses null (OpenAI takes both)
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in turn.tool_calls
        ],
    }


REPAIR_PREFIX = "The program in your last answer does not compile."


def _repair_request(verdict: ValidateResult) -> str:
    errors = "\n".join(f"- line {e.line}, column {e.column}: {e.message}" for e in verdict.errors[:20])
    return (
        f"{REPAIR_PREFIX} The validator reports:\n"
        f"{errors}\n"
        "Fix these errors and answer with the whole corrected program in one fenced code block."
    )


def _shown(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as stored and shown: long strings (whole programs) are kept, but bounded."""
    return {k: (v[:20_000] if isinstance(v, str) else v) for k, v in arguments.items()}


def _out_of_time(limit_s: float) -> GatewayTimeout:
    return GatewayTimeout(
        f"the answer took longer than its limit of {limit_s:g} s (AI_ANSWER_TIMEOUT_S); nothing was stored",
        details={"reason": "answer_timeout", "written": False},
    )
