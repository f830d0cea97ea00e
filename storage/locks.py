"""A database-wide lock around work that must happen once however many app servers start at once.

On PostgreSQL it is a session advisory lock held on a pooled connection of its own for as long as
the block runs (the block itself may run any number of transactions on other connections); every
other server's `exclusive` with the same key waits for it. A DuckDB file has one process, so a lock
in this process is enough there.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from storage.db import is_postgres

DEMO_LOCK = 7243_1004  # pg_advisory_lock key: one server creates the demo in a fresh database
STUDY_ENTRY_LOCK = 7243_1019  # first key of pg_advisory_xact_lock(key, project_id): one study's entries
_LOCAL = threading.Lock()


@contextlib.contextmanager
def exclusive(conn, key: int) -> Iterator[None]:
    """Hold the lock `key` on the database of `conn` while the block runs."""
    if not is_postgres(conn):
        with _LOCAL:
            yield
        return
    with conn.pool.connection() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [key])


def hold_until_commit(cur, key: int, sub: int) -> None:
    """PostgreSQL: take the lock (`key`, `sub`) inside the current write transaction; it is released
    when that transaction commits or rolls back, so "count, then insert" in the same transaction runs
    one at a time across app servers. DuckDB: nothing (one process; its caller holds a thread lock)."""
    if is_postgres(cur):
        cur.execute("SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))", [key, int(sub)])
