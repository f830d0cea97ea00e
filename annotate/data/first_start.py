"""The demo in a fresh database, created exactly once even when several app servers start together
on one new PostgreSQL database (and when `init --demo` runs beside them).

Checking "is the database fresh?" and then creating the demo are two steps; two servers could both
see a fresh database between them. So both run under one database-wide lock (storage.locks): the
first server creates the demo and gets the invite tokens to print; the others wait, then find
projects and accounts and create nothing.
"""
from __future__ import annotations

from storage import locks
from storage.db import Connection
from annotate.data.demo import create_demo, is_demo_needed


def create_demo_once(conn: Connection) -> dict[str, str] | None:
    """Create the demo if the database is fresh; return {account: invite token}, or None when the
    database already had projects or accounts (another server or command created them)."""
    with locks.exclusive(conn, locks.DEMO_LOCK):
        if not is_demo_needed(conn):
            return None
        return create_demo(conn)
