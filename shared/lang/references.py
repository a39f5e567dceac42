"""What market data a program names literally, so a host can load it before the run starts.

`ctx.market("ETH", "4h")` is served synchronously during a run, but with MongoDB or Hyperliquid behind
the market port the series must be fetched (asynchronously) beforehand. Calls whose symbol and
timeframe are string literals — the common case — are found here at compile time; a computed symbol
is still served when the source can load it on demand (the embedded SQLite store and the simulator).
"""

from __future__ import annotations

import dataclasses

from . import nodes as n

MarketRef = tuple[str, str | None]


def market_references(tree: n.Program) -> tuple[MarketRef, ...]:
    """Every distinct `(symbol, timeframe or None)` of a `.market("SYM"[, "TF"])` call with literal arguments."""
    found: dict[MarketRef, None] = {}
    seen: set[int] = set()  # the checker links calls to their functions, so the tree has cycles
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not isinstance(node, n.Node) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, n.MethodCall) and node.name == "market" and 1 <= len(node.args) <= 2:
            literals = [arg.value for arg in node.args if isinstance(arg, n.Str)]
            if len(literals) == len(node.args):
                found[(literals[0].upper(), literals[1] if len(literals) == 2 else None)] = None
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, n.Node | list | tuple):
                stack.append(value)
    return tuple(found)
