"""Open the DuckDB file, apply migrations, and run writes in retried transactions.

DuckDB allows one read-write process per file. Inside that process we keep one connection and
give each thread its own cursor (`conn.cursor()`), because a DuckDB connection object is not
safe to share between threads while cursors are. Concurrent transactions that touch the same
rows fail with `TransactionException`; `write` retries them with a short jittered backoff so
that no such error reaches a caller.
"""
from __future__ import annotations

import os
import random
import re
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import duckdb

from storage.migrations import MIGRATIONS

DEFAULT_DB_PATH = Path("data/annotate.duckdb")
DB_ENV_VAR = "ANNOTATE_DB"
T = TypeVar("T")

_local = threading.local()


class StoreError(Exception):
    """Base class for errors raised by the store."""


class StoreLockedError(StoreError):
    """The database file is held by another process (DuckDB allows one writer per file)."""


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """Return the database path: the argument, else $ANNOTATE_DB, else data/annotate.duckdb."""
    if path:
        return Path(path)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


def connect(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database file and bring its schema up to date.

    Raises:
        StoreLockedError: another process holds the file; the message names its PID.
    """
    db_path = resolve_db_path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(db_path))
    except duckdb.IOException as exc:
        raise _locked_error(db_path, exc) from exc
    conn.execute("SET TimeZone = 'UTC'")
    migrate(conn)
    return conn


def _locked_error(db_path: Path, exc: Exception) -> Exception:
    text = str(exc)
    if "lock" not in text.lower():
        return StoreError(f"Cannot open database {db_path}: {text}")
    match = re.search(r"held in (.+?) \(PID (\d+)\)", text)
    holder = f"process {match.group(2)} ({match.group(1)})" if match else "another process"
    return StoreLockedError(
        f"Database {db_path} is in use by {holder}. DuckDB allows one process per file: "
        f"stop that process (for example the running app) and try again, or point this command "
        f"at another file with --db or ${DB_ENV_VAR}.")


def migrate(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations not yet recorded in schema_migrations, in order; return their names."""
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL,
        applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""")
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in sorted(MIGRATIONS):
        if version in done:
            continue
        conn.execute("BEGIN")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def cursor(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Return this thread's cursor on `conn`, created once per (thread, connection)."""
    cursors = getattr(_local, "cursors", None)
    if cursors is None:
        cursors = _local.cursors = {}
    key = id(conn)
    cur = cursors.get(key)
    if cur is None or cursors.get((key, "conn")) is not conn:
        cur = conn.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        cursors[key] = cur
        cursors[(key, "conn")] = conn
    return cur


def write(conn: duckdb.DuckDBPyConnection, fn: Callable[[duckdb.DuckDBPyConnection], T],
          retries: int = 50, transaction: bool = True) -> T:
    """Run `fn(cur)` on this thread's cursor, retrying on write conflicts.

    With `transaction` (the default) `fn` runs inside BEGIN/COMMIT: everything it wrote is
    committed, or nothing is. Pass transaction=False when `fn` is a single statement (atomic by
    itself) to save the two round trips. `TransactionException` (a conflict with another thread)
    is retried up to `retries` times with a jittered exponential backoff capped at 50 ms; any
    other error rolls back and propagates.
    """
    cur = cursor(conn)
    attempt = 0
    while True:
        if transaction:
            cur.execute("BEGIN TRANSACTION")
        try:
            result = fn(cur)
            if transaction:
                cur.execute("COMMIT")
            return result
        except duckdb.TransactionException:
            _rollback(cur, transaction)
            if attempt == retries:
                raise
            attempt += 1
            time.sleep(min(0.05, 0.001 * 2 ** attempt) * random.random())
        except BaseException:
            _rollback(cur, transaction)
            raise


def _rollback(cur: duckdb.DuckDBPyConnection, transaction: bool) -> None:
    if not transaction:
        return
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the transaction was already aborted by DuckDB
