"""The candle store on SQLite: one `WITHOUT ROWID` table keyed by (symbol, timeframe, time).

It lives in the same file as the document collections (`Settings.sqlite_path`) but on its own
connection: WAL (readers never block the writer), `busy_timeout` (wait for another process's write
lock instead of failing), `synchronous=NORMAL`.

Why `WITHOUT ROWID`: rows are then stored in primary-key order, so a range read of one series is a
sequential scan of adjacent pages.

Reads come from `candle_blocks`, not from the rows: every `BLOCK_BARS` bars of a series (by open
time: block = time // (BLOCK_BARS × period)) are also kept as one BLOB of packed records (`_RECORD`:
time int64, open … volume float64). Why: Python's sqlite3 makes six objects and a tuple per row, so
500,000 rows took ~0.45 s to read however they were fetched (SQLite itself needs ~0.1 s); 123 blobs
of 196 KB read in ~0.03 s (one `np.frombuffer`). The rows stay the source of truth (per-row source,
upserts, coverage): a write rebuilds the blocks it touched from them in the same transaction, so rows
and blocks never disagree, even after a crash. A file written before blocks existed gets them once,
when a store first opens it (marker `candle_blocks` in `candle_meta`).

Calls are synchronous, like the document store's: a read is one statement, and the async methods
just call the sync ones (see `shared/store/sqlite.py` for why that beats a thread hop). Writes are
one `BEGIN IMMEDIATE` transaction per batch: all rows or none, and the coverage row updated with them.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from shared.market.candle_store import Coverage, check_write
from shared.market.candles import CandleArrays
from shared.market.timeframes import parse_timeframe, timeframe_ms
from shared.store.port import StoreUnavailableError

__all__ = ["SqliteCandleStore"]


def _span(tf: str) -> int:
    return BLOCK_BARS * timeframe_ms(tf)


def _fetch(cursor: sqlite3.Cursor) -> np.ndarray:
    """Rows of (time, open, high, low, close, volume) as `_RECORD`s, without a list of tuples between."""
    return np.fromiter(cursor, dtype=_RECORD)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    time INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (symbol, timeframe, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS candle_coverage (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    first_time INTEGER NOT NULL,
    last_time INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    sources TEXT NOT NULL,
    PRIMARY KEY (symbol, timeframe)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS candle_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS candle_blocks (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    block INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (symbol, timeframe, block)
) WITHOUT ROWID;
"""
BLOCK_BARS = 4096
"""Bars of one timeframe per block (a 1m block is ~2.8 days, 196 KB)."""
_RECORD = np.dtype([("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"), ("volume", "<f8")])
_BLOCKS_MARKER = ("candle_blocks", "1")

_COLUMNS = "symbol, timeframe, time, open, high, low, close, volume, source"
_UPSERT = f"""
INSERT INTO candles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (symbol, timeframe, time) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, source = excluded.source
WHERE open IS NOT excluded.open OR high IS NOT excluded.high OR low IS NOT excluded.low
    OR close IS NOT excluded.close OR volume IS NOT excluded.volume OR source IS NOT excluded.source
"""
_INSERT_IGNORE = f"INSERT OR IGNORE INTO candles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_READ = "SELECT time, open, high, low, close, volume FROM candles WHERE symbol = ? AND timeframe = ? AND time >= ? AND time < ? ORDER BY time"
_READ_BLOCKS = "SELECT data FROM candle_blocks WHERE symbol = ? AND timeframe = ? AND block >= ? AND block <= ? ORDER BY block"
_WRITE_BLOCK = "INSERT OR REPLACE INTO candle_blocks VALUES (?, ?, ?, ?)"
_ALL_TIME = (-(2**62), 2**62)


class SqliteCandleStore:
    """`CandleStore` over the SQLite file at `path` (created if missing)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection; views may read from a worker thread
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
            try:
                self._add_missing_blocks(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"candle store {self.path}: {exc}") from exc

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreUnavailableError(f"candle store: {exc}") from exc
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    # -- writes -------------------------------------------------------------------------------------
    def write_sync(self, symbol: str, timeframe: str, candles: CandleArrays, *, source: str, replace: bool = True) -> int:
        tf = check_write(symbol, timeframe, candles, source)
        if not len(candles):
            return 0
        columns = [candles.time.tolist(), *(getattr(candles, n).tolist() for n in ("open", "high", "low", "close", "volume"))]
        rows = zip(itertools.repeat(symbol), itertools.repeat(tf), *columns, itertools.repeat(source))
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            conn.executemany(_UPSERT if replace else _INSERT_IGNORE, rows)
            changed = conn.total_changes - before
            if changed:
                self._refresh_coverage(conn, symbol, tf, source)
                self._rebuild_blocks(conn, symbol, tf, np.unique(candles.time // _span(tf)))
            conn.execute("COMMIT")
        return changed

    def _rebuild_blocks(self, conn: sqlite3.Connection, symbol: str, tf: str, blocks: np.ndarray) -> None:
        """Re-pack the given blocks of a series from its rows (inside the caller's transaction). Runs of
        consecutive blocks are read with one range query each."""
        span = _span(tf)
        breaks = np.flatnonzero(np.diff(blocks) != 1) + 1
        for run in np.split(blocks, breaks):
            first, last = int(run[0]), int(run[-1])
            table = _fetch(conn.execute(_READ, (symbol, tf, first * span, (last + 1) * span)))
            which = table["time"] // span
            cuts = np.flatnonzero(np.diff(which)) + 1
            for part in np.split(table, cuts) if len(table) else ():
                conn.execute(_WRITE_BLOCK, (symbol, tf, int(part["time"][0] // span), part.tobytes()))

    def _add_missing_blocks(self, conn: sqlite3.Connection) -> None:
        """Blocks for every stored series, once, for a file written before blocks existed."""
        key, version = _BLOCKS_MARKER
        found = conn.execute("SELECT value FROM candle_meta WHERE key = ?", (key,)).fetchone()
        if found is not None and found[0] == version:
            return
        conn.execute("DELETE FROM candle_blocks")
        for symbol, tf, first, last in conn.execute("SELECT symbol, timeframe, first_time, last_time FROM candle_coverage").fetchall():
            span = _span(tf)
            self._rebuild_blocks(conn, symbol, tf, np.arange(first // span, last // span + 1, dtype=np.int64))
        conn.execute("INSERT OR REPLACE INTO candle_meta VALUES (?, ?)", (key, version))

    def _refresh_coverage(self, conn: sqlite3.Connection, symbol: str, tf: str, source: str) -> None:
        first, last, rows = conn.execute(
            "SELECT MIN(time), MAX(time), COUNT(*) FROM candles WHERE symbol = ? AND timeframe = ?", (symbol, tf)
        ).fetchone()
        known = conn.execute("SELECT sources FROM candle_coverage WHERE symbol = ? AND timeframe = ?", (symbol, tf)).fetchone()
        sources = set(known[0].split(",")) if known and known[0] else set()
        sources.add(source)  # sources that ever contributed (cheap; exact per-row provenance is in `candles.source`)
        conn.execute(
            "INSERT OR REPLACE INTO candle_coverage VALUES (?, ?, ?, ?, ?, ?)",
            (symbol, tf, first, last, rows, ",".join(sorted(sources))),
        )

    async def write(self, symbol: str, timeframe: str, candles: CandleArrays, *, source: str, replace: bool = True) -> int:
        return self.write_sync(symbol, timeframe, candles, source=source, replace=replace)

    # -- reads --------------------------------------------------------------------------------------
    def read_sync(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> CandleArrays:
        tf = parse_timeframe(timeframe)
        lo = _ALL_TIME[0] if start_ms is None else int(start_ms)
        hi = _ALL_TIME[1] if end_ms is None else int(end_ms)
        span = _span(tf)
        with self._locked() as conn:
            blobs = conn.execute(_READ_BLOCKS, (symbol, tf, lo // span, (hi - 1) // span)).fetchall()
        table = np.frombuffer(b"".join(blob for (blob,) in blobs), dtype=_RECORD)
        times = table["time"]
        table = table[np.searchsorted(times, lo, "left") : np.searchsorted(times, hi, "left")]  # the blocks at the ends
        return CandleArrays(*(table[name] for name in _RECORD.names))  # CandleArrays makes each column contiguous

    async def read(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> CandleArrays:
        return self.read_sync(symbol, timeframe, start_ms, end_ms)

    def sources_sync(self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> dict[str, int]:
        """Row count per source in a range (provenance, e.g. to show that bundled candles were used)."""
        lo = _ALL_TIME[0] if start_ms is None else int(start_ms)
        hi = _ALL_TIME[1] if end_ms is None else int(end_ms)
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT source, COUNT(*) FROM candles WHERE symbol = ? AND timeframe = ? AND time >= ? AND time < ? GROUP BY source",
                (symbol, parse_timeframe(timeframe), lo, hi),
            ).fetchall()
        return dict(rows)

    def coverage_sync(self, symbol: str | None = None) -> list[Coverage]:
        sql = "SELECT symbol, timeframe, first_time, last_time, rows, sources FROM candle_coverage"
        with self._locked() as conn:
            rows = conn.execute(sql + (" WHERE symbol = ?" if symbol else "") + " ORDER BY symbol, timeframe",
                                (symbol,) if symbol else ()).fetchall()
        return [Coverage(s, tf, first, last, n, tuple(src.split(",")) if src else ()) for s, tf, first, last, n, src in rows]

    async def coverage(self, symbol: str | None = None) -> list[Coverage]:
        return self.coverage_sync(symbol)

    # -- markers ------------------------------------------------------------------------------------
    async def get_marker(self, key: str) -> str | None:
        with self._locked() as conn:
            row = conn.execute("SELECT value FROM candle_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    async def set_marker(self, key: str, value: str) -> None:
        with self._locked() as conn:
            conn.execute("INSERT OR REPLACE INTO candle_meta VALUES (?, ?)", (key, value))

    def close_sync(self) -> None:
        with self._lock:
            self._conn.close()

    async def close(self) -> None:
        self.close_sync()
