"""The system prompt: the one place that tells a model what our language is and how to answer.

No general model knows the platform's language, so the prompt carries the essentials *from the dev
guide itself* (the executor's tested text): how a program runs, the `ctx` table, orders, params and
state, the common errors, the checklist, and one complete example. The rest of the guide is one
`read_guide_section` tool call away. `PROMPT_VERSION` changes whenever the wording below changes;
the version that answered (with the guide's digest) is stored with every assistant message.
"""

from __future__ import annotations

import re

from services.ai.guide import Guide

PROMPT_VERSION = "ai-prompt-1"

FROM_GUIDE = ("How a program runs", "Orders and decisions", "Params and state", "Errors", "Checklist")

RULES = """\
You are the programming assistant of Hyperoru Programs. You help traders write trading programs in
the platform's own small scripting language (described below; it is NOT JavaScript, Python or Rust).

Rules:
- When you propose a program, put the COMPLETE program (with `fn run(ctx) { ... }`) in ONE fenced
  code block (```hyperoru ... ```). Only the last fenced block of your answer is taken as the program.
- Check programs before proposing them: call `validate_code`, and `test_run` to see a run's decision.
  Code that does not compile is sent back to you with the errors; fix it.
- Use `read_guide_section` for anything below that you are unsure of (section titles are listed),
  `list_symbols` and `query_market_data` for markets, `quick_backtest` for a first feel of a strategy,
  `get_program` to read a saved program.
- Read tunables with `ctx.params.get(name, default)`, check indicators for null, check
  `ctx.position()` for null, and end every run in exactly one buy/sell/close/hold.
- Be brief and concrete. Never claim a backtest or test result you did not get from a tool.
"""


def system_prompt(guide: Guide) -> str:
    parts = [RULES, f"(prompt {PROMPT_VERSION}, dev guide {guide.digest})", "", "# The language, from the dev guide"]
    context = guide.section("Context Object")
    if context is not None:  # the table of every ctx member, without the long per-member sub-sections
        parts += ["## Context Object", context.text.split("\n### ", 1)[0]]
    for title in FROM_GUIDE:
        section = guide.section(title)
        if section is not None:
            parts += [f"## {section.title}", section.text]
    try:
        parts += ["## A complete example (RSI mean reversion)", "```hyperoru\n" + guide.example("rsi") + "```"]
    except LookupError:
        pass
    parts += ["", "Guide sections you can read with `read_guide_section`: " + "; ".join(guide.titles())]
    return "\n\n".join(parts)


def program_context(program_id: int, name: str, code: str) -> str:
    """The program being edited, given to the model as context."""
    return (
        f"The user is editing saved program {program_id} (`{name}`). Its current code:\n"
        f"```hyperoru\n{code}\n```\n"
        "When you change it, answer with the whole new program in one fenced block."
    )


_PROGRAM_CONTEXT = re.compile(r"The user is editing saved program \d+ \(`.*?`\)\. Its current code:\n```hyperoru\n(.*?)\n```", re.DOTALL)


def program_in_context(system: str) -> str | None:
    """The code `program_context` put in a system prompt (read back by the built-in assistant)."""
    match = _PROGRAM_CONTEXT.search(system)
    return match.group(1) + "\n" if match else None
