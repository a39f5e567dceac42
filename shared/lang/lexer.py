"""Source text → tokens, with positions, collecting every lexical error instead of stopping.

Identifiers are lexed even when they start with `_` so that the parser can say precisely why such a
name is refused ("names may not start with `_`") rather than "unexpected character".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .diagnostics import Diagnostics

KEYWORDS = frozenset(
    {"fn", "const", "let", "if", "else", "for", "in", "while", "break", "continue", "return", "true", "false", "null"}
)

_OPERATORS = (
    "..=", "**", "..", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "#{",
    "+", "-", "*", "/", "%", "<", ">", "=", "!", "(", ")", "{", "}", "[", "]", ",", ";", ":", ".",
)  # fmt: skip
_OPERATOR_STARTS = frozenset(op[0] for op in _OPERATORS)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_DIGITS = frozenset("0123456789")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | _DIGITS


@dataclass(slots=True, frozen=True)
class Token:
    kind: str
    """One of `num`, `str`, `name`, `kw`, `op`, `eof`."""
    text: str
    value: float | str | None
    line: int
    col: int
    end_line: int
    end_col: int

    def describe(self) -> str:
        """How an error message names this token: "`let`", "name `pricee`", "end of program"."""
        if self.kind == "eof":
            return "end of program"
        if self.kind == "name":
            return f"name `{self.text}`"
        if self.kind == "num":
            return f"number `{self.text}`"
        if self.kind == "str":
            text = self.text if len(self.text) <= 24 else self.text[:20] + '…"'
            return f"text {text}"
        return f"`{self.text}`"


class _Lexer:
    def __init__(self, source: str, diagnostics: Diagnostics) -> None:
        self.src = source
        self.diag = diagnostics
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def col(self, pos: int | None = None) -> int:
        return (self.pos if pos is None else pos) - self.line_start + 1

    def newline(self, at: int) -> None:
        self.line += 1
        self.line_start = at + 1

    def add(self, kind: str, start: int, line: int, col: int, value: float | str | None = None) -> None:
        text = self.src[start : self.pos]
        self.tokens.append(Token(kind, text, value, line, col, self.line, self.col()))

    def run(self) -> list[Token]:
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch == "\n":
                self.newline(self.pos)
                self.pos += 1
            elif ch in " \t\r":
                self.pos += 1
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif src.startswith("/*", self.pos):
                self.block_comment()
            elif ch in _DIGITS:
                self.number()
            elif ch in _NAME_START:
                self.name()
            elif ch == '"':
                self.string()
            elif ch in _OPERATOR_STARTS and self.operator():
                pass
            else:
                shown = ch if ch.isprintable() else repr(ch)
                self.diag.error(self.line, self.col(), f"unexpected character `{shown}`")
                self.pos += 1
        self.tokens.append(Token("eof", "", None, self.line, self.col(), self.line, self.col()))
        return self.tokens

    def block_comment(self) -> None:
        line, col = self.line, self.col()
        end = self.src.find("*/", self.pos + 2)
        stop = len(self.src) if end < 0 else end + 2
        for i in range(self.pos, stop):
            if self.src[i] == "\n":
                self.newline(i)
        self.pos = stop
        if end < 0:
            self.diag.error(line, col, "unterminated comment — add `*/` to close it")

    def number(self) -> None:
        src, start, line, col = self.src, self.pos, self.line, self.col()
        n = len(src)
        pos = start
        while pos < n and src[pos] in _DIGITS:
            pos += 1
        if pos + 1 < n and src[pos] == "." and src[pos + 1] in _DIGITS:
            pos += 1
            while pos < n and src[pos] in _DIGITS:
                pos += 1
        if pos < n and src[pos] in "eE":
            exp = pos + 1
            if exp < n and src[exp] in "+-":
                exp += 1
            if exp < n and src[exp] in _DIGITS:
                pos = exp
                while pos < n and src[pos] in _DIGITS:
                    pos += 1
        if pos < n and src[pos] in _NAME_CHARS:
            while pos < n and src[pos] in _NAME_CHARS:
                pos += 1
            self.pos = pos
            self.diag.error(line, col, f"invalid number `{src[start:pos]}`")
            self.add("num", start, line, col, 0.0)
            return
        self.pos = pos
        value = float(src[start:pos])
        if math.isinf(value):
            self.diag.error(line, col, f"number `{src[start:pos]}` is too large")
            value = 0.0
        self.add("num", start, line, col, value)

    def name(self) -> None:
        src, start, line, col = self.src, self.pos, self.line, self.col()
        pos, n = start, len(src)
        while pos < n and src[pos] in _NAME_CHARS:
            pos += 1
        self.pos = pos
        word = src[start:pos]
        self.add("kw" if word in KEYWORDS else "name", start, line, col, word)

    def string(self) -> None:
        src, start, line, col = self.src, self.pos, self.line, self.col()
        n = len(src)
        pos = start + 1
        parts: list[str] = []
        chunk = pos
        while True:
            if pos >= n or src[pos] == "\n":
                self.pos = pos
                self.diag.error(line, col, 'unterminated text — add a closing `"`')
                parts.append(src[chunk:pos])
                break
            ch = src[pos]
            if ch == '"':
                parts.append(src[chunk:pos])
                self.pos = pos + 1
                break
            if ch == "\\":
                parts.append(src[chunk:pos])
                escaped = src[pos + 1] if pos + 1 < n else ""
                if escaped in _ESCAPES:
                    parts.append(_ESCAPES[escaped])
                    pos += 2
                else:
                    shown = escaped if escaped.isprintable() and escaped else "…"
                    self.diag.error(
                        line, pos - self.line_start + 1, f'unknown escape `\\{shown}` in text (use \\n \\t \\" or \\\\)'
                    )
                    pos += 1 if escaped in ("", "\n") else 2
                chunk = pos
                continue
            pos += 1
        self.add("str", start, line, col, "".join(parts))

    def operator(self) -> bool:
        for op in _OPERATORS:
            if self.src.startswith(op, self.pos):
                start, line, col = self.pos, self.line, self.col()
                self.pos += len(op)
                self.add("op", start, line, col, op)
                return True
        return False


def tokenize(source: str, diagnostics: Diagnostics) -> list[Token]:
    """All tokens of `source`, ending with an `eof` token. Lexical errors go to `diagnostics`."""
    return _Lexer(source, diagnostics).run()
