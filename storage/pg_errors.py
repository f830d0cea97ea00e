"""PostgreSQL's failures as the same one-line StoreErrors DuckDB's get, never with the password.

The CLI (annotate.cli.base.Group) and the app's start-up (pages/startup.py) turn any psycopg or
psycopg_pool exception into one of these: a server that is down or unreachable, a wrong password or
database name, a server that went away mid-command ("Cannot connect to PostgreSQL at URL (cause)"),
a full disk (the same StoreFullError text as DuckDB's), and a refused privilege (which grant is
missing). The URL is shown with storage.pg.redact, and the password is blanked out of the cause too.
"""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

from storage import pg
from storage.db import DB_ENV_VAR, DISK_FULL_MESSAGE, StoreError, StoreFullError


def is_postgres_error(exc: BaseException) -> bool:
    """Whether `exc` was raised by psycopg or its pool (checked without importing psycopg)."""
    return type(exc).__module__.split(".")[0] in {"psycopg", "psycopg_pool"}


def _detail(exc: BaseException, url: str) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    password = urlsplit(url).password if pg.is_postgres_url(url) else None
    for secret in filter(None, {password, password and unquote(password)}):
        text = text.replace(secret, "***")
    return pg.redact(text)


def connect_message(url: str, detail: str) -> str:
    """The one line for a PostgreSQL server that cannot be reached at `url`."""
    return (f"Cannot connect to PostgreSQL at {pg.redact(url)} ({detail}). Check that the server runs, the "
            f"database exists and the URL given with --db or ${DB_ENV_VAR} (user, password, host, port) is right.")


def store_error(exc: BaseException, url: str) -> StoreError | None:
    """The StoreError for an exception psycopg raised while using `url`; None for any other exception."""
    if isinstance(exc, StoreError):
        return exc
    if not is_postgres_error(exc):
        return None
    import psycopg
    import psycopg_pool

    detail = _detail(exc, url)
    if isinstance(exc, psycopg.errors.DiskFull):
        return StoreFullError(DISK_FULL_MESSAGE)
    if isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout, psycopg.InterfaceError)):
        return StoreError(connect_message(url, detail))
    if isinstance(exc, psycopg.errors.InvalidSchemaName):
        return StoreError(f"PostgreSQL at {pg.redact(url)}: the role cannot use the schema the URL's search_path "
                          f"names ({detail}); create the schema, or grant the role USAGE on it (see SECURITY.md)")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StoreError(f"PostgreSQL at {pg.redact(url)} refused a statement ({detail}): apply the migrations with "
                          f"the schema's owner (`python -m annotate init`; they need CREATE), and grant the app's role "
                          f"USAGE on the schema, SELECT, INSERT, UPDATE, DELETE on its tables and USAGE, SELECT, "
                          f"UPDATE on its sequences (SECURITY.md, PostgreSQL)")
    return StoreError(f"PostgreSQL at {pg.redact(url)} reported an error: {detail}")


def open_postgres(url: str) -> pg.PgStore:
    """A pool on `url` without applying migrations (backups read the database as it is).

    Raises:
        StoreError: the server cannot be reached or refuses the login.
    """
    try:
        return pg.PgStore(url)
    except Exception as exc:  # psycopg's errors and the pool's timeout
        error = store_error(exc, url)
        if error is None:
            raise
        raise error from None
