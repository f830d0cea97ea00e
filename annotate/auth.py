"""Log in by invite token, slowing down a client that keeps sending wrong tokens.

Tokens are 256 random bits, so guessing is hopeless anyway; the slow-down keeps a misbehaving
client from hammering the server and makes attacks visible. Policy: after FREE_FAILURES failed
attempts within WINDOW, each further attempt must wait 2**(failures - FREE_FAILURES) seconds
after the latest failure (capped at MAX_WAIT); attempts during the wait are refused without
checking the token. A successful login clears the client's failures.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

import storage
from storage import assignment as store
from annotate.annotators import authenticate
from annotate.assignment import utc_now
from annotate.errors import AuthError

FREE_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_WAIT = timedelta(minutes=15)


class TooManyAttemptsError(AuthError):
    """Too many failed logins from this client; it must wait before trying again."""


def login(conn: duckdb.DuckDBPyConnection, token: str, client: str, now: datetime | None = None) -> dict:
    """Return the active annotator for `token`, or raise.

    Args:
        client: who is trying (the browser's IP address, or 'unknown').

    Raises:
        TooManyAttemptsError: the client must wait; the message says how long.
        AuthError: the token is wrong, revoked, or the account is deactivated.
    """
    now = now or utc_now()
    wait = retry_after(conn, client, now)
    if wait > timedelta(0):
        raise TooManyAttemptsError(f"Too many failed logins from {client}; try again in "
                                   f"{int(wait.total_seconds()) + 1} seconds")
    try:
        annotator = authenticate(conn, token)
    except AuthError:
        storage.write(conn, lambda c: store.insert_failure(c, client, now))
        raise
    storage.write(conn, lambda c: store.clear_failures(c, client))
    return annotator


def retry_after(conn: duckdb.DuckDBPyConnection, client: str, now: datetime) -> timedelta:
    """How long `client` must still wait before its next attempt is checked (zero if it need not)."""
    failures, latest = store.recent_failures(storage.cursor(conn), client, now - WINDOW)
    if failures < FREE_FAILURES:
        return timedelta(0)
    wait = min(timedelta(seconds=2 ** (failures - FREE_FAILURES)), MAX_WAIT)
    return max(timedelta(0), latest + wait - now)
