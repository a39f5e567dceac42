"""Tokens → syntax tree, by recursive descent with precedence climbing.

The parser recovers from errors: a statement that does not parse is reported and skipped up to the
next `;`, `}` or statement keyword, so one compile reports every syntax error, and a `let` whose value
is broken still declares its name (no cascade of "unknown variable" errors after it).

Nesting is bounded (`MAX_NESTING` for brackets and blocks, `MAX_EXPR_DEPTH` for the height of an
expression tree) so that neither this parser nor the Python compiler behind `compiler.py` can run out
of stack on hostile input: too-deep input is a diagnostic like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import nodes as n
from .diagnostics import Diagnostics
from .lexer import Token, tokenize

MAX_NESTING = 40
MAX_EXPR_DEPTH = 60
MAX_LITERAL = 100_000
"""Elements of one array or map literal (the default collection limit)."""

_BINARY_PRECEDENCE = {
    "||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4,
    "..": 5, "..=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7,
}  # fmt: skip
_UNCHAINABLE = {3: "comparisons", 4: "comparisons", 5: "ranges"}
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/="})
_STMT_KEYWORDS = frozenset({"let", "if", "for", "while", "break", "continue", "return"})
_OPENERS = frozenset({"(", "[", "{", "#{"})
_CLOSERS = frozenset({")", "]", "}"})

E = TypeVar("E", bound=n.Expr)


class ParseError(Exception):
    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


class _Abort(Exception):
    """Too many errors: stop parsing."""


class _Tail:
    """A block's final expression (no `;` before the `}`), and the token it starts with."""

    __slots__ = ("expr", "start")

    def __init__(self, expr: n.Expr, start: Token) -> None:
        self.expr = expr
        self.start = start


class Parser:
    def __init__(self, tokens: list[Token], diagnostics: Diagnostics) -> None:
        self.toks = tokens
        self.i = 0
        self.diag = diagnostics
        self.nesting = 0

    # ---- token helpers -------------------------------------------------------------------------

    @property
    def peek(self) -> Token:
        return self.toks[self.i]

    def at(self, text: str) -> bool:
        tok = self.toks[self.i]
        return tok.text == text and tok.kind in ("op", "kw")

    def advance(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def expect(self, text: str, context: str = "") -> Token:
        if self.at(text):
            return self.advance()
        tok = self.peek
        where = f" {context}" if context else ""
        raise ParseError(tok.line, tok.col, f"expected `{text}`{where}, found {tok.describe()}")

    def expect_name(self, what: str) -> Token:
        tok = self.peek
        if tok.kind != "name":
            if tok.kind == "kw":
                raise ParseError(tok.line, tok.col, f"`{tok.text}` is a reserved word and cannot be used as {what}")
            raise ParseError(tok.line, tok.col, f"expected {what}, found {tok.describe()}")
        self.check_name(tok)
        return self.advance()

    def check_name(self, tok: Token) -> None:
        if tok.text.startswith("_"):
            self.report(ParseError(tok.line, tok.col, f"names may not start with `_`: `{tok.text}`"))

    def report(self, error: ParseError) -> None:
        self.diag.error(error.line, error.col, error.message)
        if self.diag.full:
            raise _Abort

    def missing_semicolon(self) -> ParseError:
        prev = self.toks[self.i - 1] if self.i else self.peek
        return ParseError(prev.end_line, prev.end_col, f"missing `;` (found {self.peek.describe()} next)")

    def end_statement(self) -> None:
        """A statement ends with `;`, which may be left out just before the block's `}`."""
        if self.at(";"):
            self.advance()
        elif not self.at("}"):
            raise self.missing_semicolon()

    def nested(self, tok: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ParseError(tok.line, tok.col, f"nested too deeply (more than {MAX_NESTING} levels)")

    def make(self, node: E, *parts: n.Expr) -> E:
        if parts:
            node.depth = 1 + max(part.depth for part in parts)
            if node.depth > MAX_EXPR_DEPTH:
                raise ParseError(
                    node.line,
                    node.col,
                    f"expression too complex (more than {MAX_EXPR_DEPTH} levels deep); split it up with `let`",
                )
        return node

    def sync(self, start: int, stop_words: frozenset[str] = _STMT_KEYWORDS) -> None:
        """Skip what is left of a broken statement: up to `;` (eaten), `}` or a statement keyword."""
        depth = 0
        while True:
            tok = self.peek
            if tok.kind == "eof":
                return
            if depth == 0:
                if tok.text == ";" and tok.kind == "op":
                    self.advance()
                    return
                if tok.text == "}" and tok.kind == "op":
                    if self.i == start:
                        self.advance()
                    return
                if tok.kind == "kw" and tok.text in stop_words and self.i > start:
                    return
            if tok.kind == "op" and tok.text in _OPENERS:
                depth += 1
            elif tok.kind == "op" and tok.text in _CLOSERS and depth > 0:
                depth -= 1
            self.advance()

    def guarded(self, parse: Callable[[], object], start: int, stop_words: frozenset[str]) -> object | None:
        try:
            return parse()
        except ParseError as error:
            self.report(error)
            self.sync(start, stop_words)
            return None

    def guarded_top(self, parse: Callable[[], object]) -> object | None:
        start = self.i
        try:
            return parse()
        except ParseError as error:
            self.report(error)
            self.skip_to_top_level(start)
            return None

    # ---- program ---------------------------------------------------------------------------------

    def parse_program(self) -> n.Program:
        program = n.Program(1, 1, [], [])
        try:
            while self.peek.kind != "eof":
                start = self.i
                tok = self.peek
                if tok.kind == "kw" and tok.text == "fn":
                    fn = self.guarded_top(self.parse_fn)
                    if isinstance(fn, n.FnDecl):
                        program.functions.append(fn)
                elif tok.kind == "kw" and tok.text == "const":
                    const = self.guarded_top(self.parse_const)
                    if isinstance(const, n.ConstDecl):
                        program.consts.append(const)
                else:
                    self.report(
                        ParseError(
                            tok.line, tok.col, f"expected `fn` or `const` at the top level, found {tok.describe()}"
                        )
                    )
                    self.skip_to_top_level(start)
        except _Abort:
            pass
        return program

    def skip_to_top_level(self, start: int) -> None:
        depth = 0
        while self.peek.kind != "eof":
            tok = self.peek
            if depth == 0 and tok.kind == "kw" and tok.text in ("fn", "const") and self.i > start:
                return
            if tok.kind == "op" and tok.text in _OPENERS:
                depth += 1
            elif tok.kind == "op" and tok.text in _CLOSERS and depth > 0:
                depth -= 1
            self.advance()

    def parse_fn(self) -> n.FnDecl:
        fn_tok = self.expect("fn")
        name = self.expect_name("a function name")
        self.expect("(", "after the function name")
        params: list[n.Param] = []
        while not self.at(")"):
            tok = self.expect_name("a parameter name")
            params.append(n.Param(tok.line, tok.col, tok.text))
            if not self.at(")"):
                self.expect(",", "between parameters")
        self.advance()
        body = self.parse_block()
        return n.FnDecl(fn_tok.line, fn_tok.col, name.text, params, body)

    def parse_const(self) -> n.ConstDecl:
        self.expect("const")
        name = self.expect_name("a constant name")
        self.expect("=", f"after `const {name.text}`")
        value = self.parse_expr()
        if not self.at(";"):
            raise self.missing_semicolon()
        self.advance()
        return n.ConstDecl(name.line, name.col, name.text, value)

    # ---- statements ------------------------------------------------------------------------------

    def parse_block(self) -> n.Block:
        self.nested(self.peek)
        try:
            open_tok = self.expect("{")
            block = n.Block(open_tok.line, open_tok.col, [], None)
            while True:
                tok = self.peek
                if tok.kind == "op" and tok.text == "}":
                    self.advance()
                    return block
                if tok.kind == "eof":
                    self.report(
                        ParseError(
                            tok.line, tok.col, f"expected `}}` to close the block opened at line {open_tok.line}"
                        )
                    )
                    return block
                start = self.i
                item = self.guarded(self.parse_stmt, start, _STMT_KEYWORDS)
                if isinstance(item, _Tail):
                    block.tail = item.expr
                    block.tail_start = (item.start.line, item.start.col)
                elif isinstance(item, n.Stmt):
                    block.stmts.append(item)
        finally:
            self.nesting -= 1

    def parse_stmt(self) -> n.Stmt | _Tail | None:
        tok = self.peek
        if tok.kind == "kw":
            word = tok.text
            if word == "let":
                return self.parse_let()
            if word == "if":
                expr = self.parse_if()
                if self.at("}"):
                    return _Tail(expr, tok)
                if self.at(";"):
                    self.advance()
                return n.ExprStmt(expr.line, expr.col, expr)
            if word == "for":
                return self.parse_for()
            if word == "while":
                self.advance()
                cond = self.parse_expr()
                return n.While(tok.line, tok.col, cond, self.parse_loop_body())
            if word in ("break", "continue"):
                self.advance()
                self.end_statement()
                return (n.Break if word == "break" else n.Continue)(tok.line, tok.col)
            if word == "return":
                self.advance()
                value = None if self.at(";") or self.at("}") else self.parse_expr()
                self.end_statement()
                return n.Return(tok.line, tok.col, value)
            if word in ("fn", "const"):
                kind = "functions" if word == "fn" else "constants"
                self.report(
                    ParseError(
                        tok.line, tok.col, f"{kind} can only be declared at the top level — is a `}}` missing before?"
                    )
                )
                self.guarded(self.parse_fn if word == "fn" else self.parse_const, self.i, _STMT_KEYWORDS)
                return None
        if tok.kind == "op" and tok.text == ";":
            self.advance()
            return None
        expr = self.parse_expr()
        after = self.peek
        if self.at(";"):
            self.advance()
            return n.ExprStmt(tok.line, tok.col, expr)
        if self.at("}"):
            return _Tail(expr, tok)
        if after.kind == "op" and after.text in _ASSIGN_OPS:
            self.check_place(expr)
            self.advance()
            value = self.parse_expr()
            self.end_statement()
            return n.Assign(after.line, after.col, expr, after.text, value)
        raise self.missing_semicolon()

    def check_place(self, target: n.Expr) -> None:
        node = target
        while isinstance(node, n.Field | n.Index):
            node = node.receiver
        if not isinstance(node, n.Name):
            raise ParseError(
                node.line,
                node.col,
                "can only assign to a variable, a field (`m.key`) or an element (`a[i]`)",
            )

    def parse_let(self) -> n.Let:
        self.advance()
        name = self.expect_name("a variable name")
        if not self.at("="):
            raise ParseError(
                self.peek.line, self.peek.col, f"`let {name.text}` needs a value: `let {name.text} = ...;`"
            )
        self.advance()
        start = self.i
        try:
            value = self.parse_expr()
            self.end_statement()
        except ParseError as error:
            self.report(error)
            self.sync(start)
            value = n.ErrorExpr(name.line, name.col)
        return n.Let(name.line, name.col, name.text, value)

    def parse_for(self) -> n.For:
        for_tok = self.advance()
        var = self.expect_name("a loop variable name")
        self.expect("in", f"after `for {var.text}`")
        iterable = self.parse_expr()
        body = self.parse_loop_body()
        return n.For(for_tok.line, for_tok.col, var.text, var.line, var.col, iterable, body)

    def parse_loop_body(self) -> n.Block:
        if not self.at("{"):
            tok = self.peek
            raise ParseError(tok.line, tok.col, f"expected `{{` to start the loop body, found {tok.describe()}")
        return self.parse_block()

    def parse_if(self) -> n.IfExpr:
        if_tok = self.advance()
        branches: list[tuple[n.Expr, n.Block]] = []
        else_block: n.Block | None = None
        while True:
            cond = self.parse_expr()
            if not self.at("{"):
                tok = self.peek
                raise ParseError(tok.line, tok.col, f"expected `{{` after the `if` condition, found {tok.describe()}")
            branches.append((cond, self.parse_block()))
            if not self.at("else"):
                break
            self.advance()
            if self.at("if"):
                self.advance()
                continue
            else_block = self.parse_block()
            break
        parts: list[n.Expr] = [c for c, _ in branches]
        parts += [b.tail for _, b in branches if b.tail is not None]
        if else_block is not None and else_block.tail is not None:
            parts.append(else_block.tail)
        return self.make(n.IfExpr(if_tok.line, if_tok.col, branches, else_block), *parts)

    # ---- expressions -----------------------------------------------------------------------------

    def parse_expr(self) -> n.Expr:
        self.nested(self.peek)
        try:
            return self.parse_binary(1)
        finally:
            self.nesting -= 1

    def parse_binary(self, min_prec: int) -> n.Expr:
        left = self.parse_unary()
        while True:
            tok = self.peek
            prec = _BINARY_PRECEDENCE.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.advance()
            right = self.parse_binary(prec + 1)
            kind = n.Logical if prec <= 2 else n.Binary
            left = self.make(kind(tok.line, tok.col, tok.text, left, right), left, right)
            if prec in _UNCHAINABLE:
                nxt = self.peek
                if nxt.kind == "op" and _BINARY_PRECEDENCE.get(nxt.text) == prec:
                    hint = "; combine them with `&&`" if prec != 5 else ""
                    raise ParseError(nxt.line, nxt.col, f"{_UNCHAINABLE[prec]} cannot be chained{hint}")

    def parse_unary(self) -> n.Expr:
        tok = self.peek
        if tok.kind == "op" and tok.text in ("-", "!"):
            self.advance()
            self.nested(tok)
            try:
                operand = self.parse_unary()
            finally:
                self.nesting -= 1
            if tok.text == "-" and isinstance(operand, n.Num):
                return n.Num(tok.line, tok.col, -operand.value)
            return self.make(n.Unary(tok.line, tok.col, tok.text, operand), operand)
        return self.parse_power()

    def parse_power(self) -> n.Expr:
        base = self.parse_postfix()
        tok = self.peek
        if tok.kind == "op" and tok.text == "**":
            self.advance()
            self.nested(tok)
            try:
                exponent = self.parse_unary()
            finally:
                self.nesting -= 1
            return self.make(n.Binary(tok.line, tok.col, "**", base, exponent), base, exponent)
        return base

    def parse_args(self, closer: str, what: str) -> list[n.Expr]:
        items: list[n.Expr] = []
        while not self.at(closer):
            items.append(self.parse_expr())
            if not self.at(closer):
                self.expect(",", f"between {what}")
        self.advance()
        return items

    def parse_postfix(self) -> n.Expr:
        expr = self.parse_primary()
        while True:
            tok = self.peek
            if tok.kind != "op":
                return expr
            if tok.text == ".":
                self.advance()
                name = self.expect_name("a field or method name after `.`")
                if self.at("("):
                    self.advance()
                    args = self.parse_args(")", "arguments")
                    expr = self.make(n.MethodCall(name.line, name.col, expr, name.text, args), expr, *args)
                else:
                    expr = self.make(n.Field(name.line, name.col, expr, name.text), expr)
            elif tok.text == "[":
                self.advance()
                index = self.parse_expr()
                self.expect("]", "to close the index")
                expr = self.make(n.Index(tok.line, tok.col, expr, index), expr, index)
            elif tok.text == "(":
                raise ParseError(tok.line, tok.col, "only functions can be called, like `name(...)` or `x.method(...)`")
            else:
                return expr

    def parse_primary(self) -> n.Expr:
        tok = self.peek
        kind = tok.kind
        if kind == "num":
            self.advance()
            return n.Num(tok.line, tok.col, float(tok.value or 0.0))
        if kind == "str":
            self.advance()
            return n.Str(tok.line, tok.col, str(tok.value))
        if kind == "name":
            self.check_name(tok)
            self.advance()
            if self.at("("):
                self.advance()
                args = self.parse_args(")", "arguments")
                return self.make(n.Call(tok.line, tok.col, tok.text, args), *args)
            return n.Name(tok.line, tok.col, tok.text)
        if kind == "kw":
            if tok.text in ("true", "false"):
                self.advance()
                return n.Bool(tok.line, tok.col, tok.text == "true")
            if tok.text == "null":
                self.advance()
                return n.Null(tok.line, tok.col)
            if tok.text == "if":
                return self.parse_if()
        if kind == "op":
            if tok.text == "(":
                self.advance()
                inner = self.parse_expr()
                self.expect(")", "to close the parenthesis")
                return inner
            if tok.text == "[":
                self.advance()
                items = self.parse_args("]", "array elements")
                self.check_literal_size(tok, len(items), "array")
                return self.make(n.ArrayLit(tok.line, tok.col, items), *items)
            if tok.text == "#{":
                return self.parse_map(tok)
            if tok.text == "{":
                raise ParseError(tok.line, tok.col, "unexpected `{` — a map literal is written `#{ key: value }`")
        raise ParseError(tok.line, tok.col, f"expected a value, found {tok.describe()}")

    def parse_map(self, open_tok: Token) -> n.MapLit:
        self.advance()
        entries: list[n.MapEntry] = []
        seen: set[str] = set()
        while not self.at("}"):
            key_tok = self.peek
            if key_tok.kind == "str":
                key = str(key_tok.value)
                self.advance()
            else:
                key = self.expect_name('a key (a name or "text")').text
            self.expect(":", f"after the key `{key}`")
            value = self.parse_expr()
            if key in seen:
                self.report(ParseError(key_tok.line, key_tok.col, f"duplicate key `{key}` in map"))
            seen.add(key)
            entries.append(n.MapEntry(key_tok.line, key_tok.col, key, value))
            if not self.at("}"):
                self.expect(",", "between map entries")
        self.advance()
        self.check_literal_size(open_tok, len(entries), "map")
        values = [entry.value for entry in entries]
        return self.make(n.MapLit(open_tok.line, open_tok.col, entries), *values)

    def check_literal_size(self, tok: Token, size: int, what: str) -> None:
        if size > MAX_LITERAL:
            raise ParseError(tok.line, tok.col, f"{what} literal too large (more than {MAX_LITERAL:,} elements)")


def parse(source: str, diagnostics: Diagnostics) -> n.Program:
    """Parse a whole program; errors go to `diagnostics`, the tree holds whatever did parse."""
    return Parser(tokenize(source, diagnostics), diagnostics).parse_program()
