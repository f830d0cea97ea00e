"""Login sessions (stored as key hashes) and failed login attempts."""
from __future__ import annotations

from datetime import datetime

from storage.db import Cursor


SESSION_COLUMNS = ["id", "name", "role", "is_active", "created_at", "logged_in_at", "expires_at"]


def insert_session(cur: Cursor, key_hash: str, annotator_id: int, created_at: datetime,
                   expires_at: datetime, client: str) -> None:
    """Record a new session for an annotator."""
    cur.execute("INSERT INTO sessions (key_hash, annotator_id, created_at, expires_at, client) VALUES (?, ?, ?, ?, ?)",
                [key_hash, annotator_id, created_at, expires_at, client])


def get_session(cur: Cursor, key_hash: str) -> dict | None:
    """The session with this key hash and its annotator as stored now (SESSION_COLUMNS), or None."""
    row = cur.execute("""
        SELECT a.id, a.name, a.role, a.is_active, a.created_at, s.created_at, s.expires_at
        FROM sessions s JOIN annotators a ON a.id = s.annotator_id
        WHERE s.key_hash = ?""", [key_hash]).fetchone()
    return dict(zip(SESSION_COLUMNS, row)) if row else None


def delete_session(cur: Cursor, key_hash: str) -> None:
    """End one session (logout)."""
    cur.execute("DELETE FROM sessions WHERE key_hash = ?", [key_hash])


def delete_annotator_sessions(cur: Cursor, annotator_id: int) -> int:
    """End every session of an annotator; return how many there were."""
    row = cur.execute("DELETE FROM sessions WHERE annotator_id = ? RETURNING 1", [annotator_id]).fetchall()
    return len(row)


def delete_expired(cur: Cursor, now: datetime) -> None:
    """Forget sessions that expired before `now`."""
    cur.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])


def count_sessions(cur: Cursor, now: datetime) -> dict[int, int]:
    """Open (not expired) sessions per annotator id."""
    rows = cur.execute("SELECT annotator_id, count(*) FROM sessions WHERE expires_at > ? GROUP BY annotator_id",
                       [now]).fetchall()
    return {int(a): int(n) for a, n in rows}


def insert_failure(cur: Cursor, client: str, target: str, failed_at: datetime) -> None:
    """Record a failed login from `client` with a token whose prefix hashes to `target`."""
    cur.execute("INSERT INTO login_failures (client, failed_at, target) VALUES (?, ?, ?)", [client, failed_at, target])


def recent_failures(cur: Cursor, since: datetime, *, client: str | None = None,
                    target: str | None = None) -> tuple[int, datetime | None]:
    """Failed logins since a time from one client, or aimed at one target: (count, time of the latest)."""
    column, value = ("client", client) if client is not None else ("target", target)
    row = cur.execute(f"SELECT count(*), max(failed_at) FROM login_failures WHERE {column} = ? AND failed_at >= ?",
                      [value, since]).fetchone()
    return int(row[0]), row[1]


def delete_failures_before(cur: Cursor, before: datetime) -> None:
    """Forget failed logins older than the slow-down window (they no longer count)."""
    cur.execute("DELETE FROM login_failures WHERE failed_at < ?", [before])
