"""The program language: compile a trading program once, run it many times.

    res = compile_program(source)
    if res.ok:
        result = res.program.run(market=view, account=AccountSnapshot(), params={}, state={}, trigger={})

See LANGUAGE.md for the language; module docstrings here for how it is made safe and fast:
`lexer` → `parser` → `checker` → `infer` → `codegen` → `compiler`; at run time `program` (runners),
`runtime` (helpers), `ctx` (the host objects), `limits` (budgets) and `positions` (error locations).
"""

from .account import AccountSnapshot, AccountView
from .compiler import CompileResult, compile_program
from .diagnostics import Diagnostic
from .limits import RunLimits
from .program import Program, RunError, Runner, RunResult
from .values import format_value

__all__ = [
    "AccountSnapshot",
    "AccountView",
    "CompileResult",
    "Diagnostic",
    "Program",
    "RunError",
    "RunLimits",
    "RunResult",
    "Runner",
    "compile_program",
    "format_value",
]
