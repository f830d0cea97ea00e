"""Snapshot every table to Parquet in one transaction, and load such a snapshot into a new file.

A snapshot is taken inside one read transaction on a cursor: DuckDB's MVCC gives every statement
of that transaction the same view of the database, so the Parquet files agree with each other
(no label without its item) even while other threads keep writing. Content checksums hash every
row over the snapshot's columns and sum the hashes, so they do not depend on row order; DuckDB's
`hash` may change between DuckDB versions, which is why the manifest records the version.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import duckdb

from storage.db import _locked_error

MIGRATIONS_TABLE = "schema_migrations"


def open_read_only(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open an existing database file read-only (no migrations run).

    Raises:
        StoreLockedError: another process holds the file.
        StoreError: the file cannot be opened.
    """
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise _locked_error(Path(path), exc) from exc
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal; COPY ... TO and read_parquet take their path as a constant, not a parameter."""
    return "'" + text.replace("'", "''") + "'"


def table_columns(cur: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every base table of the main schema with its columns in order: {table: [column, ...]}."""
    rows = cur.execute("""
        SELECT c.table_name, c.column_name FROM duckdb_columns() c
        JOIN duckdb_tables() t ON t.table_oid = c.table_oid
        WHERE t.schema_name = 'main' AND NOT t.temporary AND t.database_name = current_database()
        ORDER BY c.table_name, c.column_index""").fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def table_stats(cur: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> tuple[int, str]:
    """(row count, content checksum) of `table` over `columns`: the sum of the rows' hashes."""
    hashed = ", ".join(_quote(c) for c in columns)
    count, checksum = cur.execute(
        f"SELECT count(*), coalesce(sum(hash({hashed})::HUGEINT), 0)::VARCHAR FROM {_quote(table)}").fetchone()
    return int(count), checksum


def sequence_values(cur: duckdb.DuckDBPyConnection) -> dict[str, int | None]:
    """Each sequence's last value handed out (None if it has not been used yet)."""
    rows = cur.execute("""SELECT sequence_name, last_value FROM duckdb_sequences()
                          WHERE schema_name = 'main' AND database_name = current_database()""").fetchall()
    return {name: None if value is None else int(value) for name, value in rows}


def applied_migrations(cur: duckdb.DuckDBPyConnection) -> list[int]:
    """The applied migration versions, ascending. Versions are reserved in ranges per area, so a
    later release can add a lower version: the schema is this set, not its maximum."""
    return [int(r[0]) for r in cur.execute(f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version").fetchall()]


def copy_table(cur: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Write one table to a Parquet file (zstd)."""
    cur.execute(f"COPY (SELECT * FROM {_quote(table)}) TO {_literal(str(path))} (FORMAT parquet, COMPRESSION zstd)")


def load_table(cur: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Append a Parquet file's rows to `table`, matching columns by name (later columns keep defaults)."""
    cur.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM read_parquet({_literal(str(path))})")


def load_migration_history(cur: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Replace the rows of the migrations a backup had with the backup's (its applied_at times)."""
    cur.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE version IN "
                f"(SELECT version FROM read_parquet({_literal(str(path))}))")
    load_table(cur, MIGRATIONS_TABLE, path)


def advance_sequence(cur: duckdb.DuckDBPyConnection, sequence: str, last_value: int) -> None:
    """Draw from a fresh sequence until it has handed out `last_value`, so new ids continue after it.

    DuckDB has no ALTER SEQUENCE ... RESTART, and the tables' defaults keep the sequence from being
    dropped and recreated; drawing is one statement and takes milliseconds for millions of ids.
    """
    current = cur.execute("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = ?",
                          [sequence]).fetchone()
    missing = last_value - (current[0] or 0) if current else 0
    if missing > 0:
        cur.execute(f"SELECT max(nextval({_literal(sequence)})) FROM range(?)", [missing])


@contextlib.contextmanager
def snapshot(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One read transaction, so that every table is copied as of the same moment; rolled back
    at the end since it writes nothing."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield
    finally:
        cur.execute("ROLLBACK")
