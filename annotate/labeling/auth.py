"""Log in by invite token, slowing down a client that keeps sending wrong tokens.

Tokens are 256 random bits, so guessing is hopeless anyway; the slow-down keeps a misbehaving
client from hammering the server and makes attacks visible. Policy: after FREE_FAILURES failed
attempts within WINDOW, each further attempt must wait 2**(failures - FREE_FAILURES) seconds
after the latest failure (capped at MAX_WAIT); attempts during the wait are refused without
checking the token. A successful login clears the client's failures.

A login is not a permanent pass: `check_session` re-reads the annotator on every run of a page,
so deactivating an account, resetting its token (revoking the old invite link) or changing its
role takes effect on the user's next click, and a session ends SESSION_TTL after its login.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

import storage
from storage import annotators as annotator_store, assignment as store
from annotate.labeling.annotators import authenticate
from annotate.clock import utc_now
from annotate.errors import AuthError

FREE_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_WAIT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
LOGGED_IN_AT = "logged_in_at"


class TooManyAttemptsError(AuthError):
    """Too many failed logins from this client; it must wait before trying again."""


class SessionEndedError(AuthError):
    """The session may not continue: expired, account deactivated, or token reset since login."""


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
    return annotator | {LOGGED_IN_AT: now}


def check_session(conn: duckdb.DuckDBPyConnection, user: dict, now: datetime | None = None) -> dict:
    """Return the logged-in `user` as the store has them now (role included), or raise.

    Raises:
        SessionEndedError: the session is older than SESSION_TTL, the account was deactivated or
            deleted, or its token was reset since this login (the old invite link is revoked).
    """
    now = now or utc_now()
    logged_in_at = user.get(LOGGED_IN_AT) or now  # only login() fills USER; tests may set it by hand
    if now - logged_in_at > SESSION_TTL:
        raise SessionEndedError(f"Your session expired after {SESSION_TTL.total_seconds() / 3600:g} hours; "
                                f"log in again with your invite link")
    fresh = annotator_store.get_annotator(storage.cursor(conn), annotator_id=user["id"])
    if fresh is None or not fresh["is_active"] or fresh["token_hash"] != user["token_hash"]:
        raise SessionEndedError("Your access was revoked (account deactivated or invite link reset); "
                                "ask an admin for a new invite link")
    return fresh | {LOGGED_IN_AT: logged_in_at}


def retry_after(conn: duckdb.DuckDBPyConnection, client: str, now: datetime) -> timedelta:
    """How long `client` must still wait before its next attempt is checked (zero if it need not)."""
    failures, latest = store.recent_failures(storage.cursor(conn), client, now - WINDOW)
    if failures < FREE_FAILURES:
        return timedelta(0)
    wait = min(timedelta(seconds=2 ** (failures - FREE_FAILURES)), MAX_WAIT)
    return max(timedelta(0), latest + wait - now)
