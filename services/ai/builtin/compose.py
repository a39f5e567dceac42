"""Composing a program from the dev guide's tested example strategies and the user's parameters.

The five examples of the guide (grid, RSI mean reversion, SMA/EMA crossover, ATR breakout, DCA)
compile and run under the guide's own tests. A request's parameters become the *defaults* of the
example's `ctx.params.get(name, default)` calls, so the code stays the tested code and every value
can still be changed per binding. Beyond numbers, a few small, exact edits are made when asked:
a stop-loss / take-profit on the entry order, EMA or SMA for either crossover line. An edit whose
anchor is not in the example (the guide changed) is not made, and the answer says so. One program
is not in the guide: the take-profit / stop-loss guard, written here from the guide's
`ctx.position()` and `ctx.close()` sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.ai.builtin.understand import Request
from services.ai.guide import Guide

TPSL_GUARD = """\
// Take-profit / stop-loss guard for an open position.
//
// Idea: it opens nothing. Each run it looks at the position on ctx.symbol and closes it once the
// price has moved `take_profit_pct` percent in the position's favour, or `stop_pct` percent against
// it. Bind it next to (or instead of) your own entries, on a schedule or a signal.
//
// Params: take_profit_pct (5)   close at this gain from the entry price, %
//         stop_pct (2)          close at this loss from the entry price, %

fn run(ctx) {
    let take_profit_pct = ctx.params.get("take_profit_pct", 5);
    let stop_pct = ctx.params.get("stop_pct", 2);

    let pos = ctx.position();
    if pos == null {
        ctx.hold("no open position to protect");
        return;
    }
    let move_pct = (ctx.price - pos.entry_price) / pos.entry_price * 100;
    if pos.side == "short" {
        move_pct = -move_pct;
    }
    if move_pct >= take_profit_pct {
        ctx.close(ctx.symbol, "take profit: " + str(round(move_pct, 2)) + "% in favour");
    } else if move_pct <= -stop_pct {
        ctx.close(ctx.symbol, "stop loss: " + str(round(-move_pct, 2)) + "% against");
    } else {
        ctx.hold(pos.side + " " + str(round(move_pct, 2)) + "% from entry");
    }
}
"""

TITLES = {
    "grid": "grid trading program",
    "rsi": "RSI mean-reversion program",
    "crossover": "moving-average crossover program",
    "breakout": "channel-breakout program with an ATR trailing stop",
    "dca": "dollar-cost-averaging (DCA) program",
    "tpsl": "take-profit / stop-loss guard",
}
_PARAM = r'ctx\.params\.get\("{name}",\s*([^)]+)\)'


@dataclass(slots=True)
class Composed:
    kind: str
    code: str
    params: dict[str, str]
    """Every param of the program with its default as written in the code."""
    changed: dict[str, str]
    """The params set from the request."""
    idea: str
    notes: list[str] = field(default_factory=list)


def compose(guide: Guide, request: Request) -> Composed:
    kind = request.kind
    code = TPSL_GUARD if kind == "tpsl" else guide.example(kind)
    notes = list(request.notes)
    params = dict(request.params)
    if kind == "crossover":
        code = _crossover_kinds(code, request, notes)
    if kind != "tpsl":
        code = _protect_entries(code, params, notes)
    changed: dict[str, str] = {}
    for name, value in params.items():
        text = _format(value)
        code, count = re.subn(_PARAM.format(name=re.escape(name)), f'ctx.params.get("{name}", {text})', code, count=1)
        if count:
            changed[name] = text
    return Composed(kind, code, _defaults(code), changed, _idea(code), notes)


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))


def _defaults(code: str) -> dict[str, str]:
    return dict(re.findall(r'ctx\.params\.get\("([a-z_]+)",\s*([^)]+)\)', code))


def _idea(code: str) -> str:
    lines = []
    for line in code.splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    text = " ".join(lines)
    match = re.search(r"Idea:\s*(.*?)(?:\s*Params:|$)", text)
    return match.group(1).strip() if match else ""


def _crossover_kinds(code: str, request: Request, notes: list[str]) -> str:
    """EMA or SMA for each line, as asked (the example: fast EMA, slow SMA)."""
    fast_kind = str(request.options.get("fast_kind", "ema"))
    slow_kind = str(request.options.get("slow_kind", "sma"))
    edits = []
    if fast_kind == "sma":
        edits += [("let fast = ctx.ema(fast_period);", "let fast = ctx.sma(fast_period);"),
                  ('"EMA" + str(fast_period)', '"SMA" + str(fast_period)'), ('ctx.log("EMA "', 'ctx.log("SMA "')]
    if slow_kind == "ema":
        edits += [("let slow = ctx.sma(slow_period);", "let slow = ctx.ema(slow_period);"),
                  ('SMA" + str(slow_period)', 'EMA" + str(slow_period)'), ('" / SMA "', '" / EMA "')]
    missing = [old for old, _ in edits if old not in code]
    if missing:
        notes.append(f"could not switch the average type as asked (the guide's example changed): kept `{missing[0]}`")
        return code
    for old, new in edits:
        code = code.replace(old, new)
    if edits:
        fast_label, slow_label = fast_kind.upper(), slow_kind.upper()
        code = f"// Variant: fast {fast_label}, slow {slow_label} (the guide's example uses a fast EMA and a slow SMA).\n" + code
    return code


_ENTRY = re.compile(r"^(?P<indent>[ \t]*)ctx\.buy\(ctx\.symbol, (?P<qty>\w+), (?P<reason>(?!#\{).+)\);$", re.MULTILINE)
_ENTRY_MAP = re.compile(r"(ctx\.buy\(ctx\.symbol, \w+, #\{\n(?P<indent>[ \t]*)reason: .+,\n)")


def _protect_entries(code: str, params: dict[str, float], notes: list[str]) -> str:
    """Attach the requested stop-loss / take-profit (percent from the entry price) to each entry order.

    Examples that already take these as params (RSI) only get their defaults changed.
    """
    wanted = [name for name in ("stop_pct", "take_profit_pct") if name in params and f'"{name}"' not in code]
    if not wanted:
        return code
    pieces = {"stop_pct": "stop_loss: ctx.price * (1 - stop_pct / 100)", "take_profit_pct": "take_profit: ctx.price * (1 + take_profit_pct / 100)"}
    if "stop_pct" in wanted and "stop_loss:" in code:
        notes.append("this program already protects entries with its own ATR-based stop; the stop-loss you asked for was "
                     "not added (set `atr_mult` to move that stop)")
        wanted.remove("stop_pct")
        params.pop("stop_pct")
        if not wanted:
            return code
    added = ", ".join(pieces[name] for name in wanted)
    new_code, count = _ENTRY.subn(lambda m: f"{m['indent']}ctx.buy(ctx.symbol, {m['qty']}, #{{reason: {m['reason']}, {added}}});", code)
    if not count:
        new_code, count = _ENTRY_MAP.subn(lambda m: m.group(1) + "".join(f"{m['indent']}{pieces[n]},\n" for n in wanted), code)
    if not count:
        notes.append("could not attach the stop-loss / take-profit to this program's orders (the guide's example changed)")
        for name in wanted:
            params.pop(name)
        return code
    lines = new_code.splitlines(keepends=True)
    last_param = max(i for i, line in enumerate(lines) if "ctx.params.get(" in line)
    indent = re.match(r"[ \t]*", lines[last_param]).group(0)  # type: ignore[union-attr]
    defaults = {"stop_pct": 2, "take_profit_pct": 5}
    inserted = [f'{indent}let {name} = ctx.params.get("{name}", {defaults[name]});\n' for name in wanted]
    lines[last_param + 1 : last_param + 1] = inserted
    header = "// Added: " + " and ".join(
        {"stop_pct": "a stop-loss `stop_pct` % below", "take_profit_pct": "a take-profit `take_profit_pct` % above"}[n] for n in wanted
    ) + " the entry price, sent with each buy order.\n"
    return header + "".join(lines)
