"""Explaining errors in plain words, and the fixes that are safe to make without a model.

The hints are the dev guide's "Errors" table (the usual runtime and compile messages, with their
fix). Two fixes are mechanical enough to apply: the compiler's own "did you mean `x`?" suggestion,
and a missing `;` (inserted where the compiler expected it). The fixed code is validated again
before it is offered.
"""

from __future__ import annotations

import re
from typing import Any

HINTS: tuple[tuple[str, str], ...] = (
    (r"did you mean `([^`]+)`", "a typo: the name does not exist; the compiler suggests `{0}`."),
    (r"missing `;`", "a statement is not ended: put `;` at the end of the statement before this position."),
    (r"unknown ctx member", "`ctx` has no such member: see the Context Object table (`ctx.price`, `ctx.rsi(14)`, `ctx.position()`, ...)."),
    (r"needs two numbers or two strings, got null", "an indicator is still warming up (null): check `if is_null(x) { ctx.hold(...); return; }` first."),
    (r"needs two numbers or two strings, got a string and a number|got a number and a string",
     "text and a number are added: convert the number with `str(x)` (`\"RSI \" + str(rsi)`)."),
    (r"condition must be true or false, got null", "a condition is null: compare explicitly, e.g. `if ctx.position() != null { ... }`."),
    (r"cannot read field `?(\w+)`? of null", "a field of a missing value (often `ctx.position()` while flat) is read: check `pos != null` first."),
    (r"map has no key", "a map key that was never set is read: use `.get(\"key\", default)`, e.g. `ctx.state.get(\"stop\", null)`."),
    (r"out of range for an array", "fewer items than expected (early in history `ctx.candles(n)` returns fewer): check `bars.len()` first."),
    (r"division by zero", "a division by zero: guard it with `if x > 0 { ... }` (stop distance, equity, price range)."),
    (r"needs a positive quantity", "the order size rounded to 0: check `qty > 0` before ordering, or size it from `ctx.equity`."),
    (r"no market data for symbol", "the symbol or timeframe has no data: use a symbol from `GET /api/programs/available-symbols`."),
    (r"no such variable|declare it first", "a variable is assigned before it is declared: declare it with `let name = ...;` first."),
    (r"unknown variable|unknown function", "the name is not defined anywhere in the program: declare it with `let`, or check the spelling."),
    (r"fn run", "every program needs exactly one `fn run(ctx) { ... }`."),
    (r"break|continue", "`break` and `continue` only work inside a `for` or `while` loop."),
    (r"argument", "the function is called with the wrong number of arguments: see its section in the guide."),
    (r"is not callable|cannot call|not a method|must be called", "a value is called like a method, or a method is used without `()`: "
     "`ctx.price` is a number, `ctx.position()` is a method."),
    (r"expected|unexpected", "a syntax error: look at the line for an unclosed bracket, a missing operator or a stray character."),
)


def hint(message: str) -> str | None:
    for pattern, text in HINTS:
        match = re.search(pattern, message, re.IGNORECASE)
        if match:
            return text.format(*match.groups())
    return None


def autofix(code: str, errors: list[dict[str, Any]]) -> str | None:
    """Apply the compiler's did-you-mean suggestions and missing `;`; None when nothing applies."""
    lines = code.split("\n")
    changed = False
    # Later positions first, so earlier edits do not shift them.
    for error in sorted(errors, key=lambda e: (e.get("line", 0), e.get("column", 0)), reverse=True):
        line_no, column, message = error.get("line", 0), error.get("column", 0), str(error.get("message", ""))
        if not 1 <= line_no <= len(lines):
            continue
        line = lines[line_no - 1]
        suggestion = re.search(r"`([^`]+)`[^`]*did you mean `([^`]+)`", message)
        if suggestion:
            wrong, right = suggestion.groups()
            start = max(0, column - 1)
            at = line.find(wrong, start) if wrong in line[start:] else line.find(wrong)
            if at >= 0:
                lines[line_no - 1] = line[:at] + right + line[at + len(wrong) :]
                changed = True
            continue
        if message.startswith("missing `;`"):
            # The compiler reports the token after the gap: end the statement on the last non-empty line before it.
            target = line_no - 1 if line[: max(0, column - 1)].strip() == "" else line_no
            index = target - 1
            while index >= 0 and (not lines[index].strip() or lines[index].strip().startswith("//")):
                index -= 1
            if index < 0:
                continue
            if target == line_no and index == line_no - 1:
                insert_at = max(0, column - 1)
                text = lines[index]
                lines[index] = (text[:insert_at].rstrip() + "; " + text[insert_at:].lstrip()).rstrip()
            else:
                lines[index] = lines[index].rstrip() + ";"
            changed = True
    return "\n".join(lines) if changed else None
