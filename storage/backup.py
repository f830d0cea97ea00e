"""Whole tables in and out as Arrow batches, on DuckDB and PostgreSQL alike: what backups, restores
and `annotate migrate` are made of.

One format for both engines: every column has a portable type (`column_types`), and rows are read
into Arrow batches of that type whichever engine holds them, so a table written to Parquet from
DuckDB and from PostgreSQL has the same schema, and a backup of either restores into the other.
Reads run inside `snapshot`: one read transaction (DuckDB's MVCC; PostgreSQL's REPEATABLE READ,
READ ONLY) in which every statement sees the database as of the same moment, so the tables agree
with each other (no label without its item) while the app keeps writing.

Content checksums (`Checksum`) are computed here, from the Arrow batches, over each row's values in
a canonical text form (timestamps as microseconds, floats by their bits, JSON parsed and re-written
with sorted keys, label values as the same list of {aspect, response_idx, value}): the sum of the
rows' SHA-256 values, so they do not depend on row order or on the engine. (Earlier backups used
DuckDB's `hash()`, which differs between DuckDB versions and does not exist on PostgreSQL.)

Every result is read to its end (fetchall): DuckDB refuses other work on a cursor whose last result
is unfinished. Writes go in with the engine's bulk path: DuckDB inserts from the registered Arrow batch,
PostgreSQL from `COPY ... FROM STDIN`, both inside the caller's transaction (`storage.write`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from storage import pg
from storage.db import StoreError, _locked_error, is_postgres

MIGRATIONS_TABLE = "schema_migrations"
BATCH_ROWS = 50_000
CHECKSUM_ALGORITHM = "sha256-canonical-rows-v2"  # v1 (one development day) wrote values as JSON

LABEL_VALUES = pa.list_(pa.struct([("aspect", pa.string()), ("response_idx", pa.int16()), ("value", pa.float64())]))
ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(), "int32": pa.int32(), "int16": pa.int16(),
    "float64": pa.float64(), "float32": pa.float32(),
    "text": pa.string(), "json": pa.string(), "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
    "float64[]": pa.list_(pa.float64()), "float32[]": pa.list_(pa.float32()),
    "label_values": LABEL_VALUES,
}
_DUCKDB_TYPES = {"BIGINT": "int64", "INTEGER": "int32", "SMALLINT": "int16", "DOUBLE": "float64", "FLOAT": "float32",
                 "VARCHAR": "text", "JSON": "json", "BOOLEAN": "bool", "TIMESTAMP": "timestamp",
                 "TIMESTAMP WITH TIME ZONE": "timestamptz", "DATE": "date", "DOUBLE[]": "float64[]",
                 "FLOAT[]": "float32[]", "HUGEINT": "int64", "UBIGINT": "int64", "UINTEGER": "int64"}
_POSTGRES_TYPES = {"int8": "int64", "int4": "int32", "int2": "int16", "float8": "float64", "float4": "float32",
                   "numeric": "float64", "text": "text", "varchar": "text", "bpchar": "text", "json": "json",
                   "bool": "bool", "timestamp": "timestamp", "timestamptz": "timestamptz", "date": "date",
                   "_float8": "float64[]", "_float4": "float32[]"}
LABEL_VALUES_COLUMNS = {"values_list"}  # DuckDB's STRUCT list is JSONB on PostgreSQL (storage.pg.postgres_ddl)

Columns = list[tuple[str, str]]  # [(column, portable type), ...] in table order


def open_read_only(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open an existing DuckDB file read-only (no migrations run).

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


def quote(name: str) -> str:
    """An identifier, quoted for both engines."""
    return '"' + name.replace('"', '""') + '"'


def _portable_type(table: str, column: str, engine_type: str, postgres: bool) -> str:
    if postgres:
        if engine_type == "jsonb":
            return "label_values" if column in LABEL_VALUES_COLUMNS else "json"
        portable = _POSTGRES_TYPES.get(engine_type)
    elif engine_type.startswith("STRUCT(aspect"):
        portable = "label_values"
    else:
        portable = _DUCKDB_TYPES.get(engine_type)
    if portable is None:
        raise StoreError(f"Column {table}.{column} has type {engine_type}, which backups and `annotate migrate` "
                         f"do not know how to carry; nothing was written")
    return portable


def table_columns(cur) -> dict[str, Columns]:
    """Every base table of the database (PostgreSQL: of the connection's schema) with its columns in
    order and their portable types: {table: [(column, type), ...]}."""
    postgres = is_postgres(cur)
    if postgres:
        rows = cur.execute("""
            SELECT c.table_name, c.column_name, c.udt_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
            ORDER BY c.table_name, c.ordinal_position""").fetchall()
    else:
        rows = cur.execute("""
            SELECT c.table_name, c.column_name, c.data_type FROM duckdb_columns() c
            JOIN duckdb_tables() t ON t.table_oid = c.table_oid
            WHERE t.schema_name = 'main' AND NOT t.temporary AND t.database_name = current_database()
            ORDER BY c.table_name, c.column_index""").fetchall()
    tables: dict[str, Columns] = {}
    for table, column, engine_type in rows:
        tables.setdefault(table, []).append((column, _portable_type(table, column, engine_type, postgres)))
    return tables


def sequence_values(cur) -> dict[str, int | None]:
    """Each sequence's last value handed out (None if it has not been used yet)."""
    if is_postgres(cur):
        rows = cur.execute("SELECT sequencename, last_value FROM pg_sequences "
                           "WHERE schemaname = current_schema()").fetchall()
    else:
        rows = cur.execute("""SELECT sequence_name, last_value FROM duckdb_sequences()
                              WHERE schema_name = 'main' AND database_name = current_database()""").fetchall()
    return {name: None if value is None else int(value) for name, value in rows}


def advance_sequence(cur, sequence: str, last_value: int) -> None:
    """Move a sequence on so that it has handed out `last_value` (never back): new ids continue after it.

    PostgreSQL: setval. DuckDB has no ALTER SEQUENCE ... RESTART, and the tables' defaults keep the
    sequence from being dropped and recreated, so it draws up to the value (one statement,
    milliseconds for millions of ids).
    """
    current = sequence_values(cur).get(sequence) or 0
    if last_value <= current:
        return
    if is_postgres(cur):
        cur.execute("SELECT setval(?, ?)", [sequence, last_value]).fetchall()
    else:
        cur.execute(f"SELECT max(nextval('{sequence.replace(chr(39), chr(39) * 2)}')) FROM range(?)",
                    [last_value - current]).fetchall()


def forget_migrations(cur, versions: list[int]) -> None:
    """Delete these versions' rows from the migration history (a restore puts the backup's rows there)."""
    cur.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE version = ANY(?)", [versions])


def applied_migrations(cur) -> list[int]:
    """The applied migration versions, ascending. Versions are reserved in ranges per area, so a
    later release can add a lower version: the schema is this set, not its maximum."""
    return [int(r[0]) for r in cur.execute(f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version").fetchall()]


def schema_of(columns: Columns) -> pa.Schema:
    """The Arrow schema of a table's portable columns (what its Parquet file holds)."""
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns])


@contextlib.contextmanager
def snapshot(cur) -> Iterator[None]:
    """One read transaction, so that every table is read as of the same moment; nothing is written.

    On PostgreSQL it binds one pooled connection to `cur` (REPEATABLE READ, READ ONLY), as
    storage.write does for writes; inside a write it joins that transaction.
    """
    if is_postgres(cur):
        if cur.bound is not None:
            yield
            return
        with cur.store.pool.connection() as conn:
            cur.bound = conn
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield
            finally:
                cur.bound = None
        return
    cur.execute("BEGIN TRANSACTION")
    try:
        yield
    finally:
        cur.execute("ROLLBACK")


def read_batches(cur, table: str, columns: Columns, where: str = "",
                 params: Sequence | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of `table` (optionally `WHERE ...` with `?` parameters) as Arrow batches of the
    portable schema. On PostgreSQL call it inside `snapshot` or `storage.write` (it streams through
    a server-side cursor on the bound connection)."""
    schema = schema_of(columns)
    sql = f"SELECT {', '.join(quote(name) for name, _ in columns)} FROM {quote(table)} {where}"
    if is_postgres(cur):
        if cur.bound is None:
            raise RuntimeError("read_batches on PostgreSQL needs a transaction (snapshot or storage.write)")
        with cur.bound.cursor(name=f"annotate_read_{table}") as server_side:
            server_side.execute(pg.psycopg_sql(sql), params)
            while rows := server_side.fetchmany(BATCH_ROWS):
                yield _batch_from_rows(rows, columns, schema)
        return
    reader = cur.sql(sql, params=list(params) if params else None).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        yield _conform(batch, schema)


def _batch_from_rows(rows: list[tuple], columns: Columns, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for index, (_, kind) in enumerate(columns):
        values = [row[index] for row in rows]
        if kind == "json":  # a jsonb column comes back parsed; a json one as text
            values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
        arrays.append(pa.array(values, type=ARROW_TYPES[kind]))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with exactly `schema`'s types (DuckDB names list items `l`; older Parquet files may
    carry JSON as an extension type)."""
    arrays = []
    for field in schema:
        array = batch.column(batch.schema.get_field_index(field.name))
        if isinstance(array.type, pa.ExtensionType):
            array = array.storage
        arrays.append(array if array.type == field.type else array.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def conform(batch: pa.RecordBatch, columns: Columns) -> pa.RecordBatch:
    """A batch read from a Parquet file, cast to the portable schema of `columns`."""
    return _conform(batch, schema_of(columns))


def insert_batch(cur, table: str, batch: pa.RecordBatch, target: Columns) -> None:
    """Append `batch`'s rows to `table` (columns matched by name; the table's other columns keep
    their defaults). `target` is the table's columns in this database (for PostgreSQL's jsonb)."""
    if batch.num_rows == 0:
        return
    names = ", ".join(quote(name) for name in batch.schema.names)
    if not is_postgres(cur):
        view = f"_annotate_insert_{table}"
        cur.register(view, pa.Table.from_batches([batch]))
        try:
            cur.execute(f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {quote(view)}")
        finally:
            cur.unregister(view)
        return
    if cur.bound is None:
        raise RuntimeError("insert_batch on PostgreSQL needs storage.write's transaction")
    kinds = dict(target)
    columns = []
    for name in batch.schema.names:
        values = batch.column(batch.schema.get_field_index(name)).to_pylist()
        if kinds.get(name) == "label_values":  # jsonb: COPY takes its text
            values = [None if v is None else json.dumps(v) for v in values]
        columns.append(values)
    with cur.bound.cursor() as raw, raw.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
        for row in zip(*columns):
            copy.write_row(row)


def count_rows(cur, table: str, where: str = "", params: Sequence | None = None) -> int:
    """The number of rows of `table` (optionally `WHERE ...`)."""
    return int(cur.execute(f"SELECT count(*) FROM {quote(table)} {where}", params).fetchall()[0][0])


def tables_with_rows(cur) -> list[str]:
    """The tables (other than the migration history) that have rows; [] for an empty database."""
    return [table for table in table_columns(cur) if table != MIGRATIONS_TABLE
            and cur.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})").fetchall()[0][0]]


class Checksum:
    """An engine-independent content checksum: the sum (mod 2^128) of each row's SHA-256 over its
    values in canonical text form, so that row order does not matter.

    The canonical text is built column by column with Arrow compute (a Python loop per value made
    a 300K-row backup take seconds of the app's interpreter lock): integers and booleans as text,
    floats as the integer of their IEEE bits, timestamps and dates as integers (microseconds, days),
    JSON re-written with sorted keys, lists (label values, probabilities) element by element; each
    value is prefixed with its length ("N" for NULL), so that no two rows share a text.
    """

    def __init__(self, columns: Columns) -> None:
        self.kinds = [kind for _, kind in columns]
        self.rows = 0
        self.total = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        parts = [_prefixed(_canonical_text(batch.column(i), kind)) for i, kind in enumerate(self.kinds)]
        rows = pc.binary_join_element_wise(*parts, "") if parts else pa.array([""] * batch.num_rows)
        for text in rows.to_pylist():
            self.total += int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "big")
        self.rows += batch.num_rows
        self.total %= 1 << 128

    @property
    def hexdigest(self) -> str:
        return f"{self.total:032x}"


def _canonical_text(array: pa.Array, kind: str) -> pa.Array:
    """One column's values as canonical text (NULL stays NULL)."""
    if kind == "json":  # parsed and re-written: the same document whatever the engine kept of its spacing
        return pa.array([None if v is None else _json_text(v) for v in array.to_pylist()], pa.string())
    return _arrow_text(array)


def _arrow_text(array: pa.Array) -> pa.Array:
    """Canonical text of an Arrow array by its type; lists and structs (label values, probabilities)
    element by element, joined, without a Python loop."""
    kind = array.type
    if pa.types.is_list(kind):
        elements = _prefixed(_arrow_text(array.flatten()))
        offsets = pc.subtract(array.offsets, array.offsets[0])
        return pc.binary_join(pa.ListArray.from_arrays(offsets, elements, mask=array.is_null()), ",")
    if pa.types.is_struct(kind):
        joined = pc.binary_join_element_wise(*[_prefixed(_arrow_text(f)) for f in array.flatten()], "")
        return pc.if_else(array.is_null(), pa.scalar(None, pa.string()), joined)
    if pa.types.is_floating(kind):  # the IEEE bits: exact, and no formatting to disagree about
        return array.view(pa.int64() if kind.bit_width == 64 else pa.int32()).cast(pa.string())
    if pa.types.is_timestamp(kind):
        return array.cast(pa.int64()).cast(pa.string())
    if pa.types.is_date32(kind):
        return array.cast(pa.int32()).cast(pa.string())
    return array.cast(pa.string())  # text as it is; integers and booleans as text


def _json_text(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _prefixed(text: pa.Array) -> pa.Array:
    """Each value as LENGTH:VALUE, NULL as N: the concatenation of a row's values is then unambiguous."""
    lengths = pc.utf8_length(text).cast(pa.string())
    return pc.fill_null(pc.binary_join_element_wise(lengths, text, ":"), "N")


def table_stats(cur, table: str, columns: Columns) -> tuple[int, str]:
    """(row count, content checksum) of `table` over `columns` (inside `snapshot` or a write on PostgreSQL)."""
    checksum = Checksum(columns)
    for batch in read_batches(cur, table, columns):
        checksum.add(batch)
    return checksum.rows, checksum.hexdigest
