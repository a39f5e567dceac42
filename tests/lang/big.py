"""Large legal programs of several shapes, for the compile-time scaling test and benchmark.

Each generator returns a program of about `size` characters that compiles cleanly. The shapes are
the ways a program grows: one long literal, many statements, many functions, many constants, long
strings, long `if` chains. None may exceed a per-literal or nesting bound of the language.
"""

from __future__ import annotations

from collections.abc import Callable

RUN = "fn run(ctx) {{ {body} }}\n"


def literal_arrays(size: int) -> str:
    """Constant arrays of numbers (several when one literal would exceed 100,000 elements)."""
    per = 100_000
    parts: list[str] = []
    used = 0
    k = 0
    while used < size:
        count = max(1, min(per, (size - used) // 2))
        text = f"const A{k} = [" + ",".join(str(i % 10) for i in range(count)) + "];\n"
        parts.append(text)
        used += len(text)
        k += 1
    total = " + ".join(f"len(A{i})" for i in range(k))
    return "".join(parts) + RUN.format(body=f"log({total});")


def statements(size: int) -> str:
    """One `run` with many `let`s and arithmetic."""
    lines = ["fn run(ctx) {", "    let x0 = ctx.price;"]
    used = 40
    i = 1
    while used < size:
        line = f"    let x{i} = x{i - 1} * 1.0001 + {i % 7} - (x{i - 1} / 3);"
        lines.append(line)
        used += len(line) + 1
        i += 1
    lines.append(f"    log(x{i - 1});")
    lines.append("}")
    return "\n".join(lines) + "\n"


def functions(size: int) -> str:
    """Many small functions, each called once from `run`."""
    parts: list[str] = []
    used = 0
    i = 0
    while used < size:
        text = f"fn f{i}(a, b) {{ let c = a + b * {i}; if c > 10 {{ return c - 1; }} return c + 1; }}\n"
        parts.append(text)
        used += len(text) + 12
        i += 1
    calls = " ".join(f"t = t + f{j}(t, 1);" for j in range(i))
    return "".join(parts) + RUN.format(body=f"let t = 0; {calls} log(t);")


def constants(size: int) -> str:
    """Many constants, each built from the one before."""
    parts = ["const C0 = 1;\n"]
    used = len(parts[0])
    i = 1
    while used < size:
        text = f"const C{i} = C{i - 1} + {i % 5} * 2;\n"
        parts.append(text)
        used += len(text)
        i += 1
    return "".join(parts) + RUN.format(body=f"log(C{i - 1});")


def strings(size: int) -> str:
    """A few long string literals."""
    chunk = 50_000
    count = max(1, size // chunk)
    width = min(chunk, size)
    lets = " ".join(f'let s{i} = "{"abcdefghij" * (width // 10)}";' for i in range(count))
    uses = " + ".join(f"len(s{i})" for i in range(count))
    return RUN.format(body=f"{lets} log({uses});")


def if_chains(size: int) -> str:
    """A long `else if` chain (flat in the source, as traders write it)."""
    branches: list[str] = []
    used = 0
    i = 0
    while used < size:
        text = f" else if ctx.price > {i} && ctx.price < {i + 1} {{ ctx.hold(\"band {i}\"); }}"
        branches.append(text)
        used += len(text)
        i += 1
    return RUN.format(body='if ctx.price < 0 { ctx.hold("neg"); }' + "".join(branches))


SHAPES: dict[str, Callable[[int], str]] = {
    "literal_arrays": literal_arrays,
    "statements": statements,
    "functions": functions,
    "constants": constants,
    "strings": strings,
    "if_chains": if_chains,
}
