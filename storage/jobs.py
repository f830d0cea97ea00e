"""Job leases (migration 90): one row per background job, so that a job runs on one server at a time.

Several app servers share one PostgreSQL database, and each may be asked to start the same judge run
or re-rank the same project. A job is a key ('judge:PROJECT:JUDGE', 'rerank:PROJECT'); the server
that holds the key's row (`holder` = host:pid:thread) until `expires_at` runs it. `acquire` is one
atomic upsert on both engines (INSERT ... ON CONFLICT DO UPDATE ... WHERE the lease expired or is
ours): of two servers racing for a free key exactly one gets a row back. The holder renews the lease
(heartbeat) while it works and releases it at the end; a holder that died stops renewing, and once
its lease expires the next server takes the job over.

Times are the database's clock (`current_timestamp`), so servers whose clocks differ still agree on
when a lease expires. Durations are whole milliseconds.

`acquire`, `renew` and `release` run one statement each in its own transaction (storage.write);
the `*_lease` functions below them take a cursor, for callers already inside a transaction.
"""
from __future__ import annotations

import duckdb

from storage.db import Connection, Cursor, write

RACE_RETRIES = 20


def acquire(conn: Connection, job_key: str, holder: str, ttl_ms: int) -> str:
    """acquire_lease in a transaction of its own; return the holder after the attempt.

    DuckDB reports two threads inserting the same new key at once as a constraint error rather
    than a conflict; once the first insert is committed the upsert sees its row, so it is retried.
    """
    for attempt in range(RACE_RETRIES + 1):
        try:
            return write(conn, lambda cur: acquire_lease(cur, job_key, holder, ttl_ms))
        except duckdb.ConstraintException:
            if attempt == RACE_RETRIES:
                raise
    raise AssertionError("unreachable")


def renew(conn: Connection, job_key: str, holder: str, ttl_ms: int) -> bool:
    """renew_lease in a transaction of its own."""
    return write(conn, lambda cur: renew_lease(cur, job_key, holder, ttl_ms))


def release(conn: Connection, job_key: str, holder: str) -> bool:
    """release_lease in a transaction of its own."""
    return write(conn, lambda cur: release_lease(cur, job_key, holder))

LEASE_COLUMNS = ["job_key", "holder", "acquired_at", "heartbeat_at", "expires_at"]


def acquire_lease(cur: Cursor, job_key: str, holder: str, ttl_ms: int) -> str:
    """Take the lease on `job_key` for `ttl_ms` when it is free, expired or already ours.

    Returns:
        The holder of the lease after the attempt: `holder` when it was taken (or renewed), else the
        server that holds it.
    """
    row = cur.execute("""
        INSERT INTO job_leases (job_key, holder, acquired_at, heartbeat_at, expires_at)
        VALUES ($k, $h, current_timestamp, current_timestamp, current_timestamp + $ms * INTERVAL '1 millisecond')
        ON CONFLICT (job_key) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at,
            heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
        WHERE job_leases.expires_at <= excluded.acquired_at OR job_leases.holder = excluded.holder
        RETURNING holder""", {"k": job_key, "h": holder, "ms": int(ttl_ms)}).fetchone()
    if row is not None:
        return row[0]
    current = cur.execute("SELECT holder FROM job_leases WHERE job_key = ?", [job_key]).fetchone()
    return current[0] if current else holder


def renew_lease(cur: Cursor, job_key: str, holder: str, ttl_ms: int) -> bool:
    """Extend our lease by `ttl_ms` from now (a heartbeat); False when it is no longer ours (it
    expired and another server took the job over)."""
    row = cur.execute("""
        UPDATE job_leases SET heartbeat_at = current_timestamp,
            expires_at = current_timestamp + $ms * INTERVAL '1 millisecond'
        WHERE job_key = $k AND holder = $h RETURNING job_key""",
                      {"k": job_key, "h": holder, "ms": int(ttl_ms)}).fetchone()
    return row is not None


def release_lease(cur: Cursor, job_key: str, holder: str) -> bool:
    """Give the lease up (delete its row) when it is ours; return whether it was."""
    row = cur.execute("DELETE FROM job_leases WHERE job_key = ? AND holder = ? RETURNING job_key",
                      [job_key, holder]).fetchone()
    return row is not None


def live_lease(cur: Cursor, job_key: str) -> dict | None:
    """The unexpired lease on `job_key` as a dict of LEASE_COLUMNS, or None when nobody holds it."""
    row = cur.execute(f"""SELECT {', '.join(LEASE_COLUMNS)} FROM job_leases
                          WHERE job_key = ? AND expires_at > current_timestamp""", [job_key]).fetchone()
    return dict(zip(LEASE_COLUMNS, row)) if row else None


def live_job_keys(cur: Cursor, prefix: str) -> list[str]:
    """Keys starting with `prefix` whose lease has not expired (the jobs running somewhere now)."""
    rows = cur.execute("""SELECT job_key FROM job_leases
                          WHERE starts_with(job_key, ?) AND expires_at > current_timestamp ORDER BY job_key""",
                       [prefix]).fetchall()
    return [row[0] for row in rows]
