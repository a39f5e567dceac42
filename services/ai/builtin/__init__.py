"""The built-in offline assistant: the default when no model is configured. It is NOT a model.

It speaks the same provider port as a model (`services/ai/providers/base.py`): it reads the
conversation, asks for tools, and answers, so its answers go through the same tool loop, validation
and storage as a model's. Every answer starts by saying what it is. What it does, by request:

- a strategy (grid, SMA/EMA crossover, RSI mean reversion, breakout, DCA, take-profit/stop-loss):
  reads the parameters from the message (`understand.py`), composes the program from the dev guide's
  tested example (`compose.py`), test-runs it (and quick-backtests it when asked) with the tools,
  and explains it with the results;
- "explain this error" (code in the message, or the program being edited): validates it, explains
  each error with the guide's fixes (`explain.py`), offers mechanically fixed code when that
  compiles, and test-runs valid code to find runtime errors;
- "what does ctx.X do": quotes the guide's section on it;
- anything else: says plainly what it can do, with example requests.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.ai.assistant import REPAIR_PREFIX
from services.ai.builtin.compose import TITLES, Composed, compose
from services.ai.builtin.explain import autofix, hint
from services.ai.builtin.understand import STRATEGY_WORDS, find_symbol, understand
from services.ai.codeblocks import extract_code
from services.ai.guide import GuideBook
from services.ai.prompt import program_in_context
from services.ai.providers.base import Message, ProviderTurn, TokenSink, ToolCall, TurnUsage

LABEL = (
    "**Built-in assistant** (offline and rule-based: this is not an AI model. It composes programs from the "
    "dev guide's tested examples; set `AI_BASE_URL` to use a language model.)"
)
MODEL = "offline-rules-1"
GUIDE_QUOTE_CHARS = 3000
MAX_FIX_ROUNDS = 4

EXAMPLES = (
    "RSI mean reversion on ETH: buy when RSI(14) is below 25, exit above 60, 3% stop loss",
    "EMA 12 / SMA 26 crossover on BTC using 20% of equity",
    "Grid on BTC with levels 1.5% apart, 0.01 BTC per level, at most 8 levels",
    "Breakout of the 55-bar high with a 3x ATR trailing stop, risking 1%",
    "DCA $50 every day, twice as much below the 100 SMA, budget $3000",
    "Close my position at 5% take profit or 2% stop loss",
    "Explain this error: ```fn run(ctx) { ... }```",
    "What does ctx.position do?",
)


class _Done:
    """The tool calls made so far for the current question, with their results."""

    def __init__(self, messages: list[Message], start: int) -> None:
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        results = {m.get("tool_call_id"): m.get("content") for m in messages[start:] if m.get("role") == "tool"}
        for message in messages[start:]:
            for call in message.get("tool_calls") or []:
                function = call["function"]
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                    result = json.loads(results.get(call["id"]) or "null")
                except ValueError:
                    arguments, result = {}, None
                self.calls.append((function["name"], arguments, result))

    def result(self, name: str, nth: int = 0) -> Any:
        found = [result for call, _, result in self.calls if call == name]
        return found[nth] if len(found) > nth else None

    def count(self, name: str) -> int:
        return sum(1 for call, _, _ in self.calls if call == name)


class BuiltinAssistant:
    name = "builtin"
    model = MODEL

    def __init__(self, guide: GuideBook) -> None:
        self._guide = guide

    async def close(self) -> None:
        return None

    async def chat(
        self, messages: list[Message], tools: list[dict[str, Any]], *, max_tokens: int, on_token: TokenSink | None = None
    ) -> ProviderTurn:
        last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        question = str(messages[last].get("content") or "")
        if question.startswith(REPAIR_PREFIX):  # never happens with tested templates; say so rather than guess
            previous = next((m["content"] for m in reversed(messages[:last]) if m.get("role") == "assistant" and m.get("content")), "")
            return await self._say(previous, on_token)
        system = str(messages[0].get("content") or "") if messages and messages[0].get("role") == "system" else ""
        can_call = bool(tools)
        done = _Done(messages, last + 1)
        step = _Step(self._guide, question, program_in_context(system), done, can_call)
        calls = step.next_calls()
        if calls:
            return ProviderTurn(
                content="",
                tool_calls=[ToolCall(id=f"builtin-{len(done.calls) + i}", name=name, arguments=json.dumps(args)) for i, (name, args) in enumerate(calls)],
                usage=TurnUsage(),
                finish_reason="tool_calls",
            )
        return await self._say(LABEL + "\n\n" + step.answer(), on_token)

    async def _say(self, text: str, on_token: TokenSink | None) -> ProviderTurn:
        if on_token is not None:
            for piece in re.findall(r"[^\n]*\n|[^\n]+$", text):
                await on_token(piece)
        return ProviderTurn(content=text, tool_calls=[], usage=TurnUsage(), finish_reason="stop")


class _Step:
    """What to do next for one question, given the tool results so far."""

    def __init__(self, guide: GuideBook, question: str, program_code: str | None, done: _Done, can_call: bool) -> None:
        self.guide = guide.cached
        self.question = question
        self.users_code = extract_code(question) or program_code
        self.done = done
        self.can_call = can_call
        symbols = (done.result("list_symbols") or {}).get("symbols") or []
        self.symbols = [s for s in symbols if isinstance(s, str)]
        self.request = understand(question, self.symbols, has_code=extract_code(question) is not None or _has_code_words(question, program_code))

    # ---- tool calls ---------------------------------------------------------------------------------

    def next_calls(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.can_call:
            return []
        kind = self.request.kind
        if kind in TITLES:
            return self._strategy_calls()
        if kind == "explain_error" and self.users_code:
            return self._error_calls()
        if kind == "ctx_member" and "member" in self.request.options and not self.done.count("read_guide_section"):
            return [("read_guide_section", {"section": f"ctx.{self.request.options['member']}"})]
        return []

    def _market(self) -> tuple[str, str]:
        symbol = self.request.symbol or find_symbol(self.question, self.symbols)
        if symbol is None:
            symbol = "BTC" if "BTC" in self.symbols or not self.symbols else self.symbols[0]
        return symbol, self.request.timeframe or "1h"

    def _strategy_calls(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.done.count("list_symbols"):
            return [("list_symbols", {})]
        if self.done.count("test_run"):
            return []
        composed = compose(self.guide, self.request)
        symbol, timeframe = self._market()
        calls: list[tuple[str, dict[str, Any]]] = [("test_run", {"code": composed.code, "symbol": symbol, "timeframe": timeframe})]
        if re.search(r"backtest|back-test|back test|how (?:would|did) it (?:do|perform)|performance", self.question, re.IGNORECASE):
            calls.append(("quick_backtest", {"code": composed.code, "symbol": symbol, "timeframe": timeframe}))
        return calls

    def _fix_chain(self) -> list[tuple[str, dict[str, Any]]]:
        """The codes validated so far (the user's, then each mechanical fix) with their verdicts."""
        return [(args.get("code", ""), result or {}) for name, args, result in self.done.calls if name == "validate_code"]

    def _error_calls(self) -> list[tuple[str, dict[str, Any]]]:
        code = self.users_code
        assert code is not None
        chain = self._fix_chain()
        if not chain:
            return [("validate_code", {"code": code})]
        last_code, verdict = chain[-1]
        if verdict.get("valid") is False:
            # The compiler stops at a syntax error, so a fix may reveal the next error: fix again, a few times.
            fixed = autofix(last_code, verdict.get("errors") or [])
            if fixed is not None and len(chain) <= MAX_FIX_ROUNDS:
                return [("validate_code", {"code": fixed})]
            return []
        if len(chain) == 1 and verdict.get("valid") and not self.done.count("test_run"):
            symbol, timeframe = self._market()
            return [("test_run", {"code": code, "symbol": symbol, "timeframe": timeframe})]
        return []

    # ---- the final answer ---------------------------------------------------------------------------

    def answer(self) -> str:
        kind = self.request.kind
        if kind in TITLES:
            return self._strategy_answer()
        if kind == "explain_error":
            return self._error_answer()
        if kind == "ctx_member":
            return self._member_answer()
        return self._help()

    def _strategy_answer(self) -> str:
        composed = compose(self.guide, self.request)
        symbol, timeframe = self._market()
        parts = [self._intro(composed), f"```hyperoru\n{composed.code}```"]
        parts.append(_params_line(composed))
        test = self.done.result("test_run")
        if test is not None:
            parts.append(_test_run_line(test))
        backtest = self.done.result("quick_backtest")
        if backtest is not None:
            parts.append(_backtest_line(backtest))
        if composed.notes:
            parts.append("\n".join(f"- Note: {note}." for note in composed.notes))
        parts.append(
            f"Next: save it (`POST /api/programs`), test-run it again with a position (the `account` field) and with "
            f"the `state` it returned, and backtest it on {symbol} {timeframe} over a period with both trends and ranges."
        )
        return "\n\n".join(parts)

    def _intro(self, composed: Composed) -> str:
        said = ", ".join(f"`{name}` = {value}" for name, value in composed.changed.items())
        source = "the dev guide's tested example" if composed.kind != "tpsl" else "the dev guide's `ctx.position()` and `ctx.close()` sections"
        intro = f"Here is a {TITLES[composed.kind]}, composed from {source}"
        intro += f", with your settings: {said}." if said else " with its default settings (you did not give any numbers I recognise)."
        return intro + (f"\n\nHow it works: {composed.idea}" if composed.idea else "")

    def _error_answer(self) -> str:
        code = self.users_code
        if code is None:
            advice = hint(self.question)
            lines = ["I have no code to check: paste the program in a fenced block (```), or pass the `program_id` you are editing."]
            if advice:
                lines.insert(0, f"From the error text: {advice}")
            errors = self.guide.section("Errors")
            if errors is not None and not advice:
                lines.append("The guide's list of common errors and their fixes:\n\n" + _unfence(errors.text)[:GUIDE_QUOTE_CHARS])
            return "\n\n".join(lines)
        chain = self._fix_chain()
        if not chain:
            return "I could not check the code (the validator did not answer); try again."
        verdict = chain[0][1]
        if not verdict.get("valid"):
            lines = [f"The program does not compile: {len(verdict.get('errors') or [])} error(s) reported."]
            seen_errors = [error for _, step in chain for error in (step.get("errors") or [])]
            for error in seen_errors[:10]:
                advice = hint(str(error.get("message", "")))
                lines.append(f"- line {error.get('line')}, column {error.get('column')}: {error.get('message')}" + (f"\n  Fix: {advice}" if advice else ""))
            if len(chain) > 1 and len(seen_errors) > len(verdict.get("errors") or []):
                lines.append("(The compiler stops at a syntax error, so the later errors showed up once the earlier ones were fixed.)")
            last_code, last_verdict = chain[-1]
            if len(chain) > 1 and last_verdict.get("valid"):
                lines.append(f"With those fixes applied it compiles:\n\n```hyperoru\n{last_code.rstrip()}\n```")
            elif len(chain) > 1:
                lines.append("I applied the compiler's suggestions, but the result still does not compile, so I am not offering it; "
                             "fix the errors above by hand.")
            return "\n".join(lines)
        lines = ["The program compiles" + (f" ({len(verdict.get('warnings') or [])} warning(s))" if verdict.get("warnings") else "") + "."]
        for warning in (verdict.get("warnings") or [])[:10]:
            lines.append(f"- warning at line {warning.get('line')}, column {warning.get('column')}: {warning.get('message')}")
        test = self.done.result("test_run")
        if test is not None:
            lines.append(_test_run_line(test))
            error = (test or {}).get("error") or {}
            advice = hint(str(error.get("message", "")))
            if advice:
                lines.append(f"Fix: {advice}")
        elif hint(self.question):
            lines.append(f"About the error you quote: {hint(self.question)}")
        return "\n\n".join(lines)

    def _member_answer(self) -> str:
        member = self.request.options.get("member")
        section = self.done.result("read_guide_section") or {}
        if member and section.get("title") and str(member) in section["title"]:
            return f"From the dev guide, section **{section['title']}**:\n\n{_unfence(section['text'])[:GUIDE_QUOTE_CHARS]}"
        table = self.guide.section("Context Object")
        members = table.text.split("\n### ", 1)[0] if table else ""
        return f"`ctx.{member}` is not a member of `ctx`. These are (from the dev guide):\n\n{members}"

    def _help(self) -> str:
        lines = [
            "I did not recognise a request I can handle. I can write programs for these strategies: "
            + ", ".join(TITLES.values()) + "; explain compile and runtime errors; and explain `ctx` members.",
            "Requests I understand, for example:",
            *(f"- {example}" for example in EXAMPLES),
        ]
        return "\n".join(lines)


def _has_code_words(question: str, program_code: str | None) -> bool:
    return program_code is not None and not any(w in question.lower() for words in STRATEGY_WORDS.values() for w in words)


def _params_line(composed: Composed) -> str:
    listed = ", ".join(f"`{name}` {value}" for name, value in composed.params.items())
    return f"Params (the defaults written in the code; override any of them per binding, test run or backtest with `params`): {listed}."


def _test_run_line(test: dict[str, Any]) -> str:
    if test.get("error") and test.get("status") == "error":
        error = test["error"]
        where = f" at line {error.get('line')}" if error.get("line") else ""
        return f"Test run: it failed with a {error.get('kind')} error{where}: {error.get('message')}"
    if "status" not in test:
        return f"Test run: {test.get('error', 'no result')}"
    decision = test.get("result") or {}
    what = str(decision.get("action", "hold"))
    if decision.get("quantity"):
        what += f" {decision['quantity']:g} {decision.get('symbol', '')}"
    reason = f" — \"{decision['reason']}\"" if decision.get("reason") else ""
    source = f", {test['source']} data" if test.get("source") else ""
    return (f"Test run on {test.get('symbol')} {test.get('timeframe')} at price {test.get('price'):g}{source}: "
            f"decision **{what}**{reason}. (One run on current data; a hold is normal while indicators warm up or no setup is present.)")


def _backtest_line(result: dict[str, Any]) -> str:
    if result.get("error") or result.get("status") != "completed":
        return f"Quick backtest: {result.get('error') or result.get('status')}."

    def pct(name: str, scale: float = 1) -> str:
        value = result.get(name)
        return "n/a" if value is None else f"{value * scale:.2f}%"

    return (f"Quick backtest ({result.get('backtest_id')}, {result.get('symbol')} {result.get('timeframe')}, "
            f"{result.get('start_date')} to {result.get('end_date')}, {result.get('source')} data): {result.get('total_trades')} trades, "
            f"return {pct('return_pct')}, max drawdown {pct('max_drawdown')}, win rate {pct('win_rate', 100)}, "
            f"buy and hold {pct('buy_hold_return_pct')}. A month says little: backtest longer before trusting it.")


def _unfence(text: str) -> str:
    """Guide text with its code blocks indented instead of fenced (they are snippets, not programs)."""
    return re.sub(r"```[^\n]*\n(.*?)```", lambda m: "\n".join("    " + line for line in m.group(1).rstrip().split("\n")) + "\n", text, flags=re.DOTALL)
