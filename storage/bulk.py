"""Bulk writes on PostgreSQL: COPY rows into a table, the counterpart of DuckDB's replacement scans.

DuckDB inserts a pandas frame in one statement (`INSERT ... SELECT ... FROM frame`), which
PostgreSQL cannot see; row-by-row `executemany` costs a round trip per row batch. COPY streams the
rows in one command, so an import of PandaLM (999 items, 2,997 labels) stays within a small factor
of DuckDB's time. Callers are the storage functions that keep their DuckDB text beside this path.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from storage.pg import PgCursor


def copy_rows(cur: PgCursor, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """COPY `rows` (tuples in `columns` order; None is NULL) into `table` on the cursor's
    transaction (storage.write binds one), or in a transaction of its own on a pooled connection."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    if cur.bound is not None:
        _copy(cur.bound, statement, rows)
        return
    with cur.store.pool.connection() as conn, conn.transaction():
        _copy(conn, statement, rows)


def _copy(conn, statement: str, rows: Iterable[Sequence]) -> None:
    with conn.cursor() as pg_cur, pg_cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def next_ids(cur: PgCursor, sequence: str, n: int) -> list[int]:
    """`n` fresh values of a sequence, in ascending order (ids for rows about to be copied)."""
    if n == 0:
        return []
    rows = cur.execute(f"SELECT nextval('{sequence}') FROM generate_series(1, ?) ORDER BY 1", [n]).fetchall()
    return [int(r[0]) for r in rows]


def python_rows(frame: pd.DataFrame) -> list[tuple]:
    """The frame's rows as tuples of Python values (NaN / NA as None), which COPY can write."""
    values = frame.astype(object).where(frame.notna(), None)
    return list(values.itertuples(index=False, name=None))
