"""The embedded store: the `Store` port over one SQLite file (stdlib `sqlite3`), the default without MongoDB.

Layout: one table per collection, `(id PRIMARY KEY, owner TEXT, doc TEXT)`, where `doc` is the whole
document as JSON (msgspec encodes and decodes it) and `id`/`owner` are copied out so that the primary
key and owner scoping are plain columns. `id` is declared without a type so that SQLite keeps ints
as ints and strings as strings (no affinity: `1` and `"1"` are different ids, as in MongoDB). Secondary
indexes are expression indexes `(owner, json_extract(doc, '$.field'), ...)`; filters and sorts use
the very same expressions, which is why field names are validated and written into the SQL while
values are always bound parameters. Counters live in `_counters` and are incremented by one
`INSERT ... ON CONFLICT DO UPDATE ... RETURNING` statement.

Several processes (the services) open the same file at once, so:
- WAL journal: readers never block the writer nor each other; `synchronous=NORMAL` (safe against
  process crashes; a power cut may lose the last commits, never corrupt the file).
- Every write is ONE statement in autocommit mode (insert, upsert, `UPDATE ... RETURNING`, delete,
  counter increment), so a write lock is held for microseconds and there is no read-then-write race.
  SQLite takes the write lock at the start of such a statement and waits up to `busy_timeout` for it.
  The only multi-statement transaction (`ensure`, the DDL) uses `BEGIN IMMEDIATE`, which takes the
  write lock up front: a deferred transaction that reads first and then writes could fail with
  SQLITE_BUSY without waiting if another process committed in between.
- A lock that cannot be had within `busy_timeout`, a full disk or an I/O error surface as
  `StoreUnavailableError` (retryable), like a lost Mongo connection.

The calls are synchronous, on the event loop. Why: a get by primary key is a few tens of microseconds
and a small write not much more, far less than handing the work to a thread (an executor round trip
costs ~50-100 µs and would serialise on one connection anyway). The cost is that a wait for another
process's write lock blocks the loop; with single-statement writes such waits are rare and short,
and `busy_timeout` bounds them. Never await while a transaction is open — nothing here does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from shared.store.port import CollectionSpec, Doc, DuplicateKeyError, OrderBy, StoreUnavailableError, Where
from shared.store.query import (
    COUNTERS,
    Condition,
    check_changes,
    check_collection_name,
    check_counter,
    check_doc,
    check_id,
    index_fields,
    check_owner,
    check_page,
    normalize_order,
    parse_where,
)

__all__ = ["SqliteStore", "SqliteCollection"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode

_COLUMNS = frozenset({"id", "owner"})
_RANGE_SQL = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
_DUPLICATE_CODES = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})
_UNAVAILABLE_CODES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL,
})


class _TranslateErrors:
    """Turns sqlite3 errors into the port's: a primary-key clash, or a database we cannot use right now."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None) -> None:
        if isinstance(exc, sqlite3.IntegrityError) and exc.sqlite_errorcode in _DUPLICATE_CODES:
            raise DuplicateKeyError(str(exc)) from exc
        if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF in _UNAVAILABLE_CODES:
            raise StoreUnavailableError(f"sqlite: {exc}") from exc


_errors = _TranslateErrors()


def _expr(field: str) -> str:
    """The SQL expression for a (validated) field: a column for id/owner, else a JSON path into `doc`."""
    return field if field in _COLUMNS else f"json_extract(doc, '$.{field}')"


def _condition_sql(cond: Condition, params: list[Any]) -> str:
    expr = _expr(cond.field)
    if cond.op == "$eq":
        if cond.value is None:  # null matches a missing field too, as in MongoDB
            return f"{expr} IS NULL"
        params.append(cond.value)
        return f"{expr} = ?"
    if cond.op == "$ne":  # IS NOT: a missing field is "not equal", as in MongoDB
        params.append(cond.value)
        return f"{expr} IS NOT ?"
    if cond.op == "$in":
        values = [v for v in cond.value if v is not None]
        params.extend(values)
        tests = [f"{expr} IN ({', '.join('?' * len(values))})"] if values else []
        if len(values) < len(cond.value):
            tests.append(f"{expr} IS NULL")
        return f"({' OR '.join(tests)})" if tests else "0"
    # Ranges compare only within a type, like MongoDB's type bracketing ("abc" is not > 5).
    params.append(cond.value)
    kind = "('text')" if isinstance(cond.value, str) else "('integer', 'real')"
    return f"({expr} {_RANGE_SQL[cond.op]} ? AND typeof({expr}) IN {kind})"


def _scope_sql(owner: str, conditions: Sequence[Condition]) -> tuple[str, list[Any]]:
    """`owner = ? AND ...`: every statement is scoped by owner first (and served by an owner-led index)."""
    params: list[Any] = [owner]
    sql = " AND ".join(["owner = ?", *(_condition_sql(c, params) for c in conditions)])
    return sql, params


def _order_sql(order_by: OrderBy) -> str:
    return ", ".join(f"{_expr(f)} {'ASC' if d == 1 else 'DESC'}" for f, d in normalize_order(order_by))


def _json_text(value: Any) -> str:
    # Bound as TEXT: a BLOB would be taken for binary JSONB by SQLite >= 3.45.
    return _encode(value).decode()


class SqliteCollection:
    """One collection = one table; each method is one SQL statement (see the module docstring)."""

    __slots__ = ("name", "_conn", "_table", "_get_sql", "_insert_sql", "_replace_sql", "_delete_sql")

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.name = name
        self._conn = conn
        self._table = table = f'"{name}"'
        self._get_sql = f"SELECT doc FROM {table} WHERE id = ? AND owner = ?"
        self._insert_sql = f"INSERT INTO {table} (id, owner, doc) VALUES (?, ?, ?)"
        # The WHERE keeps another owner's document untouched; zero changes then means "id taken".
        self._replace_sql = (
            f"INSERT INTO {table} (id, owner, doc) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc WHERE owner = excluded.owner"
        )
        self._delete_sql = f"DELETE FROM {table} WHERE id = ? AND owner = ?"

    async def insert(self, doc: Doc) -> None:
        id, owner = check_doc(doc)
        with _errors:
            self._conn.execute(self._insert_sql, (id, owner, _json_text(doc)))

    async def get(self, owner: str, id: int | str) -> Doc | None:
        with _errors:
            rows = self._conn.execute(self._get_sql, (check_id(id), check_owner(owner))).fetchall()
        return _decode(rows[0][0]) if rows else None

    async def find(
        self,
        owner: str,
        where: Where | None = None,
        *,
        order_by: OrderBy = (("id", -1),),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Doc]:
        limit, offset = check_page(limit, offset)
        scope, params = _scope_sql(check_owner(owner), parse_where(where))
        sql = f"SELECT doc FROM {self._table} WHERE {scope} ORDER BY {_order_sql(order_by)} LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        with _errors:
            rows = self._conn.execute(sql, params).fetchall()
        return [_decode(row[0]) for row in rows]

    async def count(self, owner: str, where: Where | None = None) -> int:
        scope, params = _scope_sql(check_owner(owner), parse_where(where))
        with _errors:
            return self._conn.execute(f"SELECT count(*) FROM {self._table} WHERE {scope}", params).fetchone()[0]

    async def update(self, owner: str, id: int | str, changes: Mapping[str, Any], *, where: Where | None = None) -> Doc | None:
        check_changes(changes)
        conditions = [Condition("id", "$eq", check_id(id)), *parse_where(where)]
        scope, scope_params = _scope_sql(check_owner(owner), conditions)
        # One statement: the condition check and the write are atomic (compare-and-set), no lock held across awaits.
        paths = "".join(f", '$.{name}', json(?)" for name in changes)
        params = [_json_text(value) for value in changes.values()] + scope_params
        sql = f"UPDATE {self._table} SET doc = json_set(doc{paths}) WHERE {scope} RETURNING doc"
        with _errors:
            rows = self._conn.execute(sql, params).fetchall()  # fetchall: run the statement to completion = commit
        return _decode(rows[0][0]) if rows else None

    async def replace(self, doc: Doc) -> None:
        id, owner = check_doc(doc)
        with _errors:
            changed = self._conn.execute(self._replace_sql, (id, owner, _json_text(doc))).rowcount
        if changed == 0:
            raise DuplicateKeyError(f"id {id!r} belongs to another owner")

    async def delete(self, owner: str, id: int | str) -> bool:
        with _errors:
            return self._conn.execute(self._delete_sql, (check_id(id), check_owner(owner))).rowcount > 0

    async def delete_many(self, owner: str, where: Where | None = None) -> int:
        scope, params = _scope_sql(check_owner(owner), parse_where(where))
        with _errors:
            return self._conn.execute(f"DELETE FROM {self._table} WHERE {scope}", params).rowcount


class SqliteStore:
    """The `Store` port over one SQLite file, safe to open from several processes at once."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._collections: dict[str, SqliteCollection] = {}
        with _errors:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=busy_timeout_ms / 1000, cached_statements=512,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._enable_wal(busy_timeout_ms / 1000)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._write_transaction():
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {COUNTERS} (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
                )
        self._next_id_sql = (
            f"INSERT INTO {COUNTERS} (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        )

    def _enable_wal(self, timeout_s: float) -> None:
        """Switch the file to WAL (persistent, so only the very first opener really changes anything).

        Why the retry: the switch needs an exclusive lock, and when several services create the file
        at the same moment SQLite can report "database is locked" without consulting busy_timeout.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL").fetchall()
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT: take the write lock first, so the transaction cannot deadlock midway."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    async def ensure(self, spec: CollectionSpec) -> SqliteCollection:
        name, indexes = check_collection_name(spec.name), index_fields(spec)
        with _errors, self._write_transaction():
            self._conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" (id PRIMARY KEY NOT NULL, owner TEXT NOT NULL, doc TEXT NOT NULL)'
            )
            for fields in indexes:
                columns = ", ".join(["owner", *map(_expr, fields)])
                self._conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}__{"__".join(fields)}" ON "{name}" ({columns})')
        return self._collections.setdefault(name, SqliteCollection(self._conn, name))

    def collection(self, name: str) -> SqliteCollection:
        try:
            return self._collections[name]
        except KeyError:
            raise KeyError(f"collection {name!r} was not ensured by this store") from None

    async def next_id(self, counter: str) -> int:
        with _errors:
            return self._conn.execute(self._next_id_sql, (check_counter(counter),)).fetchall()[0][0]

    async def ping(self) -> None:
        with _errors:
            self._conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()

    async def close(self) -> None:
        """Let SQLite refresh its planner statistics (best effort: never fail a shutdown), then release the file."""
        with suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()
