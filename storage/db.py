"""Open the DuckDB file, apply migrations, and run writes in retried transactions.

DuckDB allows one read-write process per file. Inside that process we keep one connection and
give each thread its own cursor (`conn.cursor()`), because a DuckDB connection object is not
safe to share between threads while cursors are. Concurrent transactions that touch the same
rows fail with `TransactionException`; `write` retries them with a short jittered backoff so
that no such error reaches a caller.

Failures that a user can act on become one-line StoreErrors naming the cause and what to do: a file
held by another process (StoreLockedError), a damaged file or one that is not a DuckDB database
(StoreCorruptError), a full disk (StoreFullError: the transaction is rolled back, nothing is half
written, and the next write succeeds once space is freed; never retried, since retrying cannot
free space), and a missing file for a command that only reads (StoreMissingError).
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


class StoreCorruptError(StoreError):
    """The database file is damaged, or is not a DuckDB database at all."""


class StoreFullError(StoreError):
    """A write failed because the disk (or the user's quota) is full; nothing of it was saved."""


class StoreMissingError(StoreError):
    """The database file does not exist and the caller asked not to create it."""


FULL_MARKERS = ("no space left", "disk quota exceeded", "file too large", "not enough space")
DISK_FULL_MESSAGE = ("Not saved: the disk that holds the database is full. Everything saved before is safe; "
                     "free some disk space (or ask whoever runs the server to) and try again.")


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """Return the database path: the argument, else $ANNOTATE_DB, else data/annotate.duckdb."""
    if path:
        return Path(path)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


def connect(path: str | os.PathLike | None = None, *, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the database file (creating it when `create`) and bring its schema up to date.

    Raises:
        StoreLockedError: another process holds the file; the message names its PID.
        StoreCorruptError: the file is damaged or not a DuckDB database.
        StoreFullError: the disk is too full to open or migrate it.
        StoreMissingError: the file does not exist and `create` is False.
    """
    db_path = resolve_db_path(path)
    if not create and not db_path.is_file():
        raise StoreMissingError(f"No database file {db_path}: check the path given with --db or ${DB_ENV_VAR} "
                                f"(`python -m annotate init` creates a new one)")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder of database {db_path}: {exc.strerror}") from None
    try:
        conn = duckdb.connect(str(db_path))
    except duckdb.Error as exc:
        raise _locked_error(db_path, exc) from exc
    try:
        conn.execute("SET TimeZone = 'UTC'")
        migrate(conn)
    except duckdb.Error as exc:
        conn.close()
        raise _locked_error(db_path, exc) from exc
    return conn


def open_error(db_path: str | os.PathLike, exc: Exception) -> StoreError:
    """The StoreError (one line: the cause and what to do) for a DuckDB error on `db_path`."""
    return _locked_error(Path(db_path), exc)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk or quota is full (DuckDB reports it as an IO or commit error)."""
    text = str(exc).lower()
    return any(marker in text for marker in FULL_MARKERS)


def _locked_error(db_path: Path, exc: Exception) -> StoreError:
    text = str(exc)
    if is_disk_full(exc):
        return StoreFullError(f"Cannot open database {db_path}: the disk is full. Free some disk space and try again.")
    if not re.search(r"could not set lock|conflicting lock", text, re.IGNORECASE):  # "block" is no lock
        detail = text.split("\n")[0]
        return StoreCorruptError(
            f"Database {db_path} is damaged or is not an annotate database ({detail}). Nothing was changed. "
            f"Restore the latest backup into a new file (python -m annotate restore --from BACKUP --db NEW.duckdb) "
            f"and use that file with --db or ${DB_ENV_VAR}.")
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

    Raises:
        StoreFullError: the disk is full (a failed commit is not retried: retrying cannot free space).
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
        except duckdb.TransactionException as exc:
            _rollback(cur, transaction)
            if is_disk_full(exc):
                raise StoreFullError(DISK_FULL_MESSAGE) from exc
            if attempt == retries:
                raise
            attempt += 1
            time.sleep(min(0.05, 0.001 * 2 ** attempt) * random.random())
        except duckdb.IOException as exc:
            _rollback(cur, transaction)
            if is_disk_full(exc):
                raise StoreFullError(DISK_FULL_MESSAGE) from exc
            raise
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
