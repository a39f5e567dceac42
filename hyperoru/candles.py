"""`hyperoru import-candles`: the same parsing and idempotent import as the HTTP endpoint, straight
into the configured store, for files larger than an HTTP body may be."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from shared.market import CandleDataError, MarketRequestError, parse_candles_csv, parse_timeframe
from shared.market.factory import open_market_data
from shared.messages.market import symbol_problem
from shared.settings import Settings
from shared.timefmt import to_iso


class CandleImportFailed(Exception):
    def __init__(self, summary: str, lines: list[str]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.lines = lines


async def import_file(settings: Settings, file: Path, symbol: str, timeframe: str) -> tuple[int, int, str, str]:
    problem = symbol_problem(symbol)  # the one symbol rule (shared/messages/market.py), before reading the file
    if problem is not None:
        raise CandleImportFailed(problem, [])
    try:
        timeframe = parse_timeframe(timeframe)
    except ValueError as exc:
        raise CandleImportFailed(str(exc), []) from None
    try:
        arrays = parse_candles_csv(file.read_bytes(), timeframe=timeframe)
        async with AsyncExitStack() as resources:
            market, _ = await open_market_data(settings, resources)
            written = await market.import_candles(symbol, timeframe, arrays)
    except CandleDataError as exc:
        lines = [f"{exc.where} {at}: {reason}" for at, reason in exc.errors]
        raise CandleImportFailed(f"{len(lines)} bad row(s) in {file}; nothing was imported", lines) from None
    except MarketRequestError as exc:
        raise CandleImportFailed(str(exc), []) from None
    return len(arrays), written, to_iso(int(arrays.time[0])), to_iso(int(arrays.time[-1]))
