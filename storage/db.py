"""Open the DuckDB file, apply migrations, and run writes in retried transactions.

DuckDB allows one read-write process per file. Inside that process we keep one connection and
give each thread its own cursor (`conn.cursor()`), because a DuckDB connection object is not
safe to share between threads while cursors are. Concurrent transactions that touch the same
rows fail with `TransactionException`; `write` retries them with a short jittered backoff so
that no such error reaches a caller.

`ANNOTATE_DB` (or --db) may instead be a postgresql:// URL: `connect` then returns a
`storage.pg.PgStore` (a connection pool) that the same functions accept; `is_postgres` lets the few
statements that differ pick their PostgreSQL text. See storage/pg.py.

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

from storage import pg
from storage.migrations import MIGRATIONS, POSTGRES

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


# What storage functions receive: a DuckDB connection or cursor, or the PostgreSQL pool / cursor.
Connection = duckdb.DuckDBPyConnection | pg.PgStore
Cursor = duckdb.DuckDBPyConnection | pg.PgCursor


def resolve_db_path(path: str | os.PathLike | None = None) -> Path | str:
    """Return the database: the argument, else $ANNOTATE_DB, else data/annotate.duckdb; a file
    path as a Path, a postgresql:// URL as the string."""
    target = path or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH
    return target if pg.is_postgres_url(target) else Path(target)


def is_postgres(conn_or_cur: object) -> bool:
    """Whether `conn_or_cur` (a connection or a cursor) is PostgreSQL's (else DuckDB's)."""
    return getattr(conn_or_cur, "dialect", None) == "postgres"


def connect(path: str | os.PathLike | None = None, *, create: bool = True):
    """Open the database (a DuckDB file, created when `create`; or a postgresql:// URL) and bring
    its schema up to date.

    Raises:
        StoreLockedError: another process holds the file; the message names its PID.
        StoreCorruptError: the file is damaged or not a DuckDB database.
        StoreFullError: the disk is too full to open or migrate it.
        StoreMissingError: the file does not exist and `create` is False.
    """
    db_path = resolve_db_path(path)
    if isinstance(db_path, str):
        return _connect_postgres(db_path)
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


def _connect_postgres(url: str) -> pg.PgStore:
    """Open a pool on the PostgreSQL database at `url` and apply the missing migrations."""
    import psycopg
    try:
        store = pg.PgStore(url)
    except (psycopg.Error, Exception) as exc:  # the pool raises its own PoolTimeout when it cannot connect
        detail = str(exc).strip().split("\n")[0]
        raise StoreError(f"Cannot connect to PostgreSQL at {pg.redact(url)} ({detail}). Check that the server "
                         f"runs, the database exists and the URL given with --db or ${DB_ENV_VAR} is right.") from None
    try:
        migrate(store)
    except BaseException:
        store.close()
        raise
    return store


def require_write_grants(conn) -> None:
    """Refuse to serve when the database role cannot write what the app writes (logins, labels,
    leases): better one line at start-up than a refused statement in an annotator's first click.
    A DuckDB file opened by `connect` is writable; on PostgreSQL the role's grants are checked.

    Raises:
        StoreError: naming the tables the role cannot write and the grants to add.
    """
    if not is_postgres(conn):
        return
    role, schema, names = pg.missing_write_grants(conn)
    if not names:
        return
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    raise StoreError(f"PostgreSQL at {pg.redact(conn.url)}: the role {role} cannot write {len(names)} of the app's "
                     f"tables and sequences ({shown}). As the schema's owner, run: GRANT SELECT, INSERT, UPDATE, "
                     f"DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}; GRANT USAGE, SELECT, UPDATE ON ALL "
                     f"SEQUENCES IN SCHEMA {schema} TO {role}; (SECURITY.md, least privilege)")


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


def migrate(conn) -> list[str]:
    """Apply the migrations not yet recorded in schema_migrations, in order; return their names.

    On PostgreSQL all of them run in one transaction under an advisory lock, so that several app
    servers starting at once apply each migration exactly once (the others wait, then find them done).
    """
    if is_postgres(conn):
        return _migrate_postgres(conn)
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


def _migrate_postgres(store: pg.PgStore) -> list[str]:
    applied = []
    with store.pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [pg.MIGRATION_LOCK])
        # No DDL at all once migrated, so that app servers may use a role without CREATE (SECURITY.md).
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL,
            applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))""")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in sorted(MIGRATIONS):
            if version in done:
                continue
            conn.execute(pg.postgres_ddl(POSTGRES.get(version, sql)))
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [version, name])
            applied.append(name)
    return applied


def cursor(conn):
    """Return this thread's cursor on `conn`, created once per (thread, connection)."""
    if is_postgres(conn):
        return conn.cursor()
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


def write(conn, fn: Callable, retries: int = 50, transaction: bool = True) -> T:
    """Run `fn(cur)` on this thread's cursor, retrying on write conflicts.

    With `transaction` (the default) `fn` runs inside BEGIN/COMMIT: everything it wrote is
    committed, or nothing is. Pass transaction=False when `fn` is a single statement (atomic by
    itself) to save the two round trips. `TransactionException` (a conflict with another thread)
    is retried up to `retries` times with a jittered exponential backoff capped at 50 ms; any
    other error rolls back and propagates.

    Raises:
        StoreFullError: the disk is full (a failed commit is not retried: retrying cannot free space).
    """
    if is_postgres(conn):
        return _write_postgres(conn, fn, retries)
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


def _write_postgres(store: pg.PgStore, fn: Callable, retries: int) -> T:
    """`write` on PostgreSQL: `fn` runs in one transaction on one pooled connection, bound to this
    thread's cursor; deadlocks and serialization failures are retried like DuckDB's conflicts."""
    import psycopg
    cur = store.cursor()
    if cur.bound is not None:  # already inside a write on this thread: join that transaction
        return fn(cur)
    attempt = 0
    while True:
        try:
            with store.pool.connection() as conn:
                cur.bound = conn
                try:
                    with conn.transaction():
                        return fn(cur)
                finally:
                    cur.bound = None
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
            if attempt == retries:
                raise
            attempt += 1
            time.sleep(min(0.05, 0.001 * 2 ** attempt) * random.random())
        except psycopg.errors.DiskFull as exc:
            raise StoreFullError(DISK_FULL_MESSAGE) from exc


def _rollback(cur: duckdb.DuckDBPyConnection, transaction: bool) -> None:
    if not transaction:
        return
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the transaction was already aborted by DuckDB
