"""PostgreSQL behind the same small API the DuckDB store offers: execute, fetchone, fetchall, df.

Why a wrapper and no ORM: every statement in storage/ is plain SQL that DuckDB and PostgreSQL both
run; the few that cannot be shared keep their two texts side by side in the one storage function
(`storage.db.is_postgres(cur)` picks one). What differs below the statements is small and kept here:

- placeholders: storage/ writes `?` (positional) and `$name` (named); psycopg wants `%s` and
  `%(name)s`, and a literal `%` doubled (`psycopg_sql`);
- connections: DuckDB has one per process with a cursor per thread; here a pool (psycopg_pool) of
  connections in autocommit mode. A read borrows a connection for one statement; `storage.write`
  binds one connection to the thread's cursor for the whole transaction, so that code which asks
  for `storage.cursor(conn)` inside a write sees that transaction, as it does on DuckDB;
- types: `json` columns come back as text (DuckDB's JSON is text too), `jsonb` (label values, a
  list of {aspect, response_idx, value}) as Python lists, `numeric` as float, as DuckDB gives them;
- DDL: migrations are written for DuckDB; `postgres_ddl` maps the types PostgreSQL spells otherwise
  (DOUBLE, FLOAT[], the label values' STRUCT list), and `storage.migrations.POSTGRES` holds the
  few migrations whose text differs beyond that.

psycopg is imported only when a postgresql:// URL is opened, so the DuckDB path loads none of it.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import threading
from typing import Any, Iterable, Sequence

import pandas as pd

POOL_SIZE_ENV = "ANNOTATE_DB_POOL"
# The pool logs a warning per broken connection it discards (a server restart): without a handler of
# the deployment's, Python would print them to stderr beside the CLI's one-line error. A library's
# NullHandler leaves them to whoever configures logging.
logging.getLogger("psycopg").addHandler(logging.NullHandler())
CONNECT_TIMEOUT_S = 10  # seconds to reach the server before saying it cannot be reached
MIGRATION_LOCK = 7243_1001  # pg_advisory_xact_lock key: one server applies migrations at a time

# One statement's text split into what psycopg must see: quoted strings and identifiers untouched.
_TOKENS = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(\$[A-Za-z_][A-Za-z0-9_]*)|(\?)|(%)""")


@functools.lru_cache(maxsize=4096)
def psycopg_sql(sql: str) -> str:
    """`sql` with `?` -> %s, `$name` -> %(name)s and `%` -> %% outside quoted strings."""
    def swap(match: re.Match) -> str:
        quoted, ident, named, positional, percent = match.groups()
        if quoted or ident:
            return quoted or ident
        if named:
            return f"%({named[1:]})s"
        return "%s" if positional else "%%"
    return _TOKENS.sub(swap, sql)


_DDL_TYPES = [
    (re.compile(r"STRUCT\([^)]*\)\[\]", re.IGNORECASE), "JSONB"),
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bFLOAT\[\]", re.IGNORECASE), "REAL[]"),
]


def postgres_ddl(sql: str) -> str:
    """A DuckDB migration's text with the types PostgreSQL spells otherwise."""
    for pattern, replacement in _DDL_TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


class PgCursor:
    """The DuckDB cursor API the storage functions use, over a pool or over one bound connection."""

    dialect = "postgres"

    def __init__(self, store: "PgStore") -> None:
        self.store = store
        self.bound = None  # a psycopg connection while storage.write runs a transaction
        self._rows: list[tuple] = []
        self._columns: list[str] = []
        self._types: list[int] = []

    def execute(self, sql: str, params: Sequence | dict | None = None) -> "PgCursor":
        query = psycopg_sql(sql)
        args = _adapt(params)
        if self.bound is not None:
            self._run(self.bound, query, args)
        else:
            with self.store.pool.connection() as conn:
                self._run(conn, query, args)
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence | dict]) -> "PgCursor":
        query = psycopg_sql(sql)
        rows = [_adapt(row) for row in rows]
        if self.bound is not None:
            with self.bound.cursor() as cur:
                cur.executemany(query, rows)
        else:
            with self.store.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(query, rows)
        self._rows, self._columns, self._types = [], [], []
        return self

    def _run(self, conn, query: str, args) -> None:
        with conn.cursor() as cur:
            cur.execute(query, args)
            if cur.description is None:
                self._rows, self._columns, self._types = [], [], []
            else:
                self._columns = [d.name for d in cur.description]
                self._types = [d.type_code for d in cur.description]
                self._rows = cur.fetchall()

    @property
    def description(self) -> list[tuple] | None:
        return [(name, code) for name, code in zip(self._columns, self._types)] or None

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def df(self) -> pd.DataFrame:
        """The result as a DataFrame with the dtypes DuckDB's `.df()` gives (ints with NULLs as
        float, timestamps as datetime64, an empty result with typed columns)."""
        rows, self._rows = self._rows, []
        frame = pd.DataFrame.from_records(rows, columns=self._columns) if rows else pd.DataFrame(
            {name: pd.Series(dtype=_EMPTY_DTYPES.get(code, object)) for name, code in zip(self._columns, self._types)})
        for name, code in zip(self._columns, self._types):
            if not rows:
                break
            if code in _INT_OIDS:
                column = frame[name]
                frame[name] = column.astype("float64") if column.isna().any() else column.astype("int64")
            elif code in _FLOAT_OIDS:
                frame[name] = frame[name].astype("float64")
            elif code in _TIMESTAMP_OIDS:
                frame[name] = pd.to_datetime(frame[name])
        return frame

    def close(self) -> None:
        self._rows = []


_INT_OIDS = {20, 21, 23}           # int8, int2, int4
_FLOAT_OIDS = {700, 701, 1700}     # float4, float8, numeric
_TIMESTAMP_OIDS = {1114}           # timestamp without time zone
_EMPTY_DTYPES = {20: "int64", 21: "int64", 23: "int64", 700: "float64", 701: "float64", 1700: "float64",
                 16: "bool", 1114: "datetime64[us]"}


def _adapt(params: Sequence | dict | None):
    """Parameters as psycopg adapts them: numpy scalars as Python numbers, a list of dicts (label
    values) as jsonb."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {key: _adapt_value(value) for key, value in params.items()}
    return [_adapt_value(value) for value in params]


def _adapt_value(value: Any):
    from psycopg.types.json import Jsonb
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return Jsonb(value)
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    return value


class PgStore:
    """A PostgreSQL database reached through a pool; the `conn` every storage function receives."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.types.numeric import FloatLoader
        from psycopg.types.string import TextLoader
        from psycopg_pool import ConnectionPool

        def configure(conn: psycopg.Connection) -> None:
            conn.adapters.register_loader("json", TextLoader)
            conn.adapters.register_loader("numeric", FloatLoader)
            conn.execute("SET TIME ZONE 'UTC'")

        self.url = url
        # One plain connection first: it fails at once with the server's own reason (refused, wrong
        # password, no such database), where the pool would retry for its timeout and report only that.
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
        self._local = threading.local()
        size = int(os.environ.get(POOL_SIZE_ENV) or 10)
        # check: a connection the server dropped while it idled in the pool (a restart, a failover,
        # pg_terminate_backend) is replaced when handed out, instead of failing the next page run.
        self.pool = ConnectionPool(url, min_size=1, max_size=size, open=False, configure=configure,
                                   kwargs={"autocommit": True}, timeout=30,
                                   check=ConnectionPool.check_connection)
        self.pool.open(wait=True, timeout=30)

    def cursor(self) -> PgCursor:
        """This thread's cursor (bound to a transaction's connection while storage.write runs)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = PgCursor(self)
        return cur

    def execute(self, sql: str, params: Sequence | dict | None = None) -> PgCursor:
        return self.cursor().execute(sql, params)

    def close(self) -> None:
        self.pool.close()


def missing_write_grants(store: PgStore) -> tuple[str, str, list[str]]:
    """(role, schema, names): the tables of the schema this role cannot read and write, and the
    sequences it cannot draw ids from: the grants an app server needs (SECURITY.md, least
    privilege). The migrations' own table is the owner's."""
    role, schema = store.execute("SELECT current_user, current_schema()").fetchone()
    sql = """SELECT c.relname FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
             WHERE c.relname <> 'schema_migrations' AND (
               (c.relkind IN ('r', 'p') AND NOT (has_table_privilege(c.oid, 'SELECT')
                  AND has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')
                  AND has_table_privilege(c.oid, 'DELETE')))
               OR (c.relkind = 'S' AND NOT has_sequence_privilege(c.oid, 'USAGE')))
             ORDER BY c.relname"""
    return role, schema, [row[0] for row in store.execute(sql).fetchall()]


def is_postgres_url(target: object) -> bool:
    """Whether a --db / $ANNOTATE_DB value names a PostgreSQL database rather than a DuckDB file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (in the user part or a `password=` query parameter), for
    messages and logs."""
    url = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
    return re.sub(r"([?&]password=)[^&#\s]*", r"\1***", url)
