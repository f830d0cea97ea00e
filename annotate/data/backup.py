"""Consistent backups (Parquet + manifest) of DuckDB or PostgreSQL, taken while the app runs, and
restores into a new DuckDB file or an empty PostgreSQL database: either engine's backup restores
into the other.

A backup is a folder: one Parquet file per table, written inside one read transaction (so the
files agree with each other), and `manifest.json` with the schema version, each table's columns
and portable types, row count, content checksum and file SHA-256, and each sequence's last value.
Both engines write the same Parquet schema (storage.backup reads rows as Arrow batches of portable
types) and the checksums are computed in Python over canonical rows, so they do not depend on the
engine, its version or row order: a restore into either engine compares them.

DuckDB lets only one process open a file, and the running app holds it. So when the CLI finds the
file locked it asks the app to take the snapshot: the app runs a watcher thread (started once with
its connection, `serve_backup_requests`) that looks for request files in `<db>.requests/`, takes
the snapshot in-process on its own cursor while annotators keep labeling, and answers with a
`.done` or `.err` file that the CLI waits for. Anyone who can write into the database's folder can
ask for a backup; that folder must be as private as the database file itself (see SECURITY.md).
PostgreSQL serves many connections, so a backup of a postgresql:// URL simply connects (no watcher).

A restore loads the Parquet files into a fresh database with the current migrations, moves every
sequence past the last id it had handed out, checks counts and checksums against the manifest, and
only then commits: into DuckDB it builds a new file beside the target and renames it into place;
into PostgreSQL it runs in one transaction on a database whose tables are empty (a failed restore
leaves nothing behind in either).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

import storage
from storage import backup as store, pg, pg_errors
from storage.migrations import MIGRATIONS
from annotate.errors import AnnotateError

MANIFEST = "manifest.json"
FORMAT = "annotate-backup"
FORMAT_VERSION = 2  # 2: portable column types and engine-independent checksums (1: DuckDB's hash())
POLL_SECONDS = 0.25
DEFAULT_TIMEOUT = 300.0
_WATCHERS: dict[str, threading.Thread] = {}
_WATCHERS_LOCK = threading.Lock()


class BackupError(AnnotateError):
    """A backup cannot be taken, or a backup folder cannot be restored."""


def requests_dir(db_path: str | os.PathLike) -> Path:
    """The folder next to the database where backup requests for the running app are placed."""
    return Path(f"{Path(db_path).resolve()}.requests")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prepare_out(out: Path) -> Path:
    """Check that `out` is new (or an empty folder) and return the staging folder beside it."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"Backup folder {out} already exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"


def write_snapshot(conn: storage.db.Connection, out: str | os.PathLike) -> dict:
    """Write every table of `conn` (DuckDB or PostgreSQL) to `out` (a new folder) from one
    transaction; return the manifest.

    Safe while other threads write through the same connection: the snapshot is one transaction on
    this thread's own cursor. The folder appears complete or not at all (written beside it, renamed).
    """
    out = Path(out).resolve()
    staging = _prepare_out(out)
    staging.mkdir(mode=0o700)
    try:
        manifest = _copy_all(storage.cursor(conn), staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _copy_all(cur, folder: Path) -> dict:
    tables: dict[str, dict] = {}
    with store.snapshot(cur):
        migrations = store.applied_migrations(cur)
        for table, columns in store.table_columns(cur).items():
            checksum = store.Checksum(columns)
            with pq.ParquetWriter(folder / f"{table}.parquet", store.schema_of(columns), compression="zstd") as out:
                for batch in store.read_batches(cur, table, columns):
                    out.write_batch(batch)
                    checksum.add(batch)
            tables[table] = {"file": f"{table}.parquet", "rows": checksum.rows, "checksum": checksum.hexdigest,
                             "columns": [name for name, _ in columns], "types": [kind for _, kind in columns]}
        sequences = store.sequence_values(cur)
    for entry in tables.values():
        entry["sha256"] = _sha256(folder / entry["file"])
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": max(migrations, default=0),
            "migrations": migrations, "engine": "postgres" if storage.db.is_postgres(cur) else "duckdb",
            "checksum_algorithm": store.CHECKSUM_ALGORITHM, "duckdb_version": duckdb.__version__,
            "created_at": datetime.now(timezone.utc).isoformat(), "tables": tables, "sequences": sequences}


def backup_database(db_path: str | os.PathLike, out: str | os.PathLike,
                    timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Back up the database at `db_path` (a DuckDB file or a postgresql:// URL) into the new folder
    `out`; return the manifest.

    A DuckDB file is opened read-only when it is free; when a process holds it (the running app),
    that process is asked through a request file, and its answer awaited up to `timeout` seconds.
    A PostgreSQL database is read over a connection of its own, whatever servers are running.

    Raises:
        BackupError: `out` is not new, the app reported an error, or nobody answered in time.
        StoreError: the database cannot be opened for another reason.
    """
    if pg.is_postgres_url(str(db_path)):
        conn = pg_errors.open_postgres(str(db_path))
        try:
            return write_snapshot(conn, out)
        except Exception as exc:
            raise pg_errors.store_error(exc, str(db_path)) or exc from None
        finally:
            conn.close()
    if not Path(db_path).is_file():
        raise BackupError(f"No database file {db_path}")
    try:
        conn = store.open_read_only(db_path)
    except storage.StoreLockedError as locked:
        return request_backup(db_path, out, timeout, locked)
    try:
        return write_snapshot(conn, out)
    finally:
        conn.close()


def request_backup(db_path: str | os.PathLike, out: str | os.PathLike, timeout: float,
                   locked: Exception | None = None) -> dict:
    """Ask the process that holds `db_path` to write the backup, and wait for its answer."""
    out = Path(out).resolve()
    _prepare_out(out)
    folder = requests_dir(db_path)
    folder.mkdir(mode=0o700, exist_ok=True)
    request_id = uuid.uuid4().hex
    staged = folder / f".backup-{request_id}.tmp"
    staged.write_text(json.dumps({"out": str(out)}), encoding="utf-8")
    staged.rename(folder / f"backup-{request_id}.json")  # atomic: the watcher never sees half a request
    done, failed = folder / f"backup-{request_id}.done", folder / f"backup-{request_id}.err"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for answer in (done, failed):
            if answer.exists():
                text = answer.read_text(encoding="utf-8")
                answer.unlink()
                if answer is failed:
                    raise BackupError(f"The running app could not back up {db_path}: {text}")
                return json.loads(text)
        time.sleep(POLL_SECONDS)
    (folder / f"backup-{request_id}.json").unlink(missing_ok=True)
    raise BackupError(f"{locked or f'Database {db_path} is in use.'} It did not answer the backup request within "
                      f"{timeout:g} s: only the annotate app (`streamlit run app.py`) answers backup requests. "
                      f"Stop the other process, or raise --timeout if the app is busy.")


def serve_backup_requests(conn: duckdb.DuckDBPyConnection, db_path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Start (once per database file in this process) the thread that answers backup requests; return `conn`."""
    key = str(Path(db_path).resolve())
    with _WATCHERS_LOCK:
        thread = _WATCHERS.get(key)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_watch, args=(conn, requests_dir(db_path)),
                                      name="annotate-backup-requests", daemon=True)
            _WATCHERS[key] = thread
            thread.start()
    return conn


def _watch(conn: duckdb.DuckDBPyConnection, folder: Path) -> None:
    while True:
        for request in sorted(folder.glob("backup-*.json")) if folder.is_dir() else []:
            answer_request(conn, request)
        time.sleep(POLL_SECONDS)


def answer_request(conn: duckdb.DuckDBPyConnection, request: Path) -> None:
    """Take the backup one request file asks for and write its `.done` (manifest) or `.err` (message)."""
    try:
        out = json.loads(request.read_text(encoding="utf-8"))["out"]
        request.unlink()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        request.unlink(missing_ok=True)
        _answer(request.with_suffix(".err"), f"unreadable request {request.name}: {exc}")
        return
    try:
        manifest = write_snapshot(conn, out)
    except (AnnotateError, storage.StoreError, duckdb.Error, OSError) as exc:
        _answer(request.with_suffix(".err"), str(exc))
    else:
        _answer(request.with_suffix(".done"), json.dumps(manifest))


def _answer(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text, encoding="utf-8")
    staged.rename(path)


def database_checksums(conn: storage.db.Connection) -> dict[str, tuple[int, str]]:
    """{table: (row count, content checksum)} for every table, as a backup manifest records them;
    the same on DuckDB and PostgreSQL for the same rows."""
    cur = storage.cursor(conn)
    with store.snapshot(cur):
        return {table: store.table_stats(cur, table, columns) for table, columns in store.table_columns(cur).items()}


def file_checksums(db_path: str | os.PathLike) -> dict[str, tuple[int, str]]:
    """database_checksums of a database file that no process holds, opened read-only (or of a
    postgresql:// URL): how an original and its restore are compared."""
    conn = pg_errors.open_postgres(str(db_path)) if pg.is_postgres_url(str(db_path)) else store.open_read_only(db_path)
    try:
        return database_checksums(conn)
    finally:
        conn.close()


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a backup folder after checking every file's SHA-256 against it."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a backup folder: cannot read {MANIFEST} ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{folder / MANIFEST} is not an annotate backup manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise BackupError(f"{folder} was written by a newer version (format {manifest['format_version']})")
    for table, entry in manifest["tables"].items():
        path = folder / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise BackupError(f"Backup file {path} of table '{table}' is missing or damaged (SHA-256 differs)")
    return manifest


def restore_database(folder: str | os.PathLike, db_path: str | os.PathLike) -> dict:
    """Rebuild a database from a backup folder, into `db_path`: a new DuckDB file, or a postgresql://
    URL whose tables are empty; return a per-table summary.

    Raises:
        BackupError: the target exists (a file) or has data (PostgreSQL), the backup is damaged or
            from a newer schema, or the restored counts or checksums differ from the manifest.
    """
    manifest = read_manifest(folder)
    unknown = sorted(set(_backup_migrations(manifest)) - {version for version, _, _ in MIGRATIONS})
    if unknown:
        raise BackupError(f"Backup {folder} has schema migrations {unknown} that this version of annotate "
                          f"does not know. Upgrade annotate to restore it.")
    if pg.is_postgres_url(str(db_path)):
        return _restore_postgres(Path(folder), manifest, str(db_path))
    target = Path(db_path)
    if target.exists():
        raise BackupError(f"{target} already exists; restore into a new file")
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        conn = storage.connect(staging)
        try:
            summary = _load_all(conn, Path(folder), manifest)
        finally:
            conn.close()
        staging.rename(target)
    finally:
        for leftover in (staging, Path(f"{staging}.wal")):
            leftover.unlink(missing_ok=True)
    return summary


def _restore_postgres(folder: Path, manifest: dict, url: str) -> dict:
    """Restore into the PostgreSQL database at `url` in one transaction; refuse one that has data."""
    conn = storage.connect(url)
    try:
        filled = store.tables_with_rows(storage.cursor(conn))
        if filled:
            raise BackupError(f"PostgreSQL database {pg.redact(url)} already has data (in {', '.join(filled[:5])}"
                              f"{' ...' if len(filled) > 5 else ''}); restore into an empty database "
                              f"(e.g. `createdb annotate_restored`) and point --db at it. Nothing was changed.")
        try:
            return _load_all(conn, folder, manifest)
        except BackupError:
            raise
        except Exception as exc:
            error = pg_errors.store_error(exc, url)
            if error is None:
                raise
            raise BackupError(f"Cannot restore backup {folder}: {error}. Nothing was changed.") from None
    finally:
        conn.close()


def _load_all(conn: storage.db.Connection, folder: Path, manifest: dict) -> dict:
    """Load every table and advance the sequences in one transaction, verified before it commits."""
    tables = manifest["tables"]

    def load(cur) -> dict:
        present = store.table_columns(cur)
        for table, entry in tables.items():
            if table not in present:
                raise BackupError(f"Backup table '{table}' does not exist in this version's schema; "
                                  f"nothing was restored")
            columns = _backup_columns(entry, present[table])
            if table == store.MIGRATIONS_TABLE:  # already filled by connect(): keep the backup's rows
                history = pq.read_table(folder / entry["file"], columns=["version"])
                versions = [int(v) for v in history["version"].to_pylist()]
                store.forget_migrations(cur, versions)
            for batch in pq.ParquetFile(folder / entry["file"]).iter_batches(store.BATCH_ROWS):
                store.insert_batch(cur, table, store.conform(batch, columns), present[table])
        for sequence, last_value in manifest["sequences"].items():
            if last_value is not None:
                store.advance_sequence(cur, sequence, last_value)
        return _verify(cur, manifest, present)

    try:
        return storage.write(conn, load)
    except duckdb.Error as exc:
        raise BackupError(f"Cannot load backup {folder} into a new database: {exc}") from exc


def _backup_columns(entry: dict, present: store.Columns) -> store.Columns:
    """The backup's columns with their portable types (a format-1 manifest has none: this schema's)."""
    kinds = dict(present)
    types = entry.get("types") or [kinds.get(name) for name in entry["columns"]]
    missing = [name for name, kind in zip(entry["columns"], types) if name not in kinds or kind is None]
    if missing:
        raise BackupError(f"Backup columns {missing} do not exist in this version's schema; nothing was restored")
    return list(zip(entry["columns"], types))


def describe_restore(summary: dict, target: str | os.PathLike) -> str:
    """What a restore verified, exactly: row counts always; content checksums only for the tables
    where they were compared."""
    rows = sum(entry["rows"] for entry in summary.values())
    checked = sum(bool(entry["checksum_checked"]) for entry in summary.values())
    verified = f"row counts of all {len(summary)} tables match the backup"
    if checked == len(summary):
        verified += f", and so do the content checksums of all {checked}"
    elif checked:
        verified += f"; content checksums were compared for {checked} of them and match"
    else:
        verified += ("; content checksums were not compared (the backup was made by an older version, whose "
                     "checksums depend on the DuckDB version)")
    shown = pg.redact(str(target)) if pg.is_postgres_url(str(target)) else target
    return f"Restored {len(summary)} tables ({rows} rows) into {shown}: {verified}."


def _backup_migrations(manifest: dict) -> list[int]:
    """The migration versions of a backup (manifests before the "migrations" field: every known
    version up to its schema_version)."""
    if "migrations" in manifest:
        return sorted(manifest["migrations"])
    return sorted(version for version, _, _ in MIGRATIONS if version <= manifest["schema_version"])


def _verify(cur, manifest: dict, present: dict[str, store.Columns]) -> dict:
    """Compare restored counts and checksums with the manifest (inside the restore's transaction).

    Checksums are compared over the backup's own columns, so a backup from an older schema (whose
    tables gained columns since) is still checked; only the migration history itself differs then
    (it has the newer migrations too) and is left out. Format-1 manifests hold DuckDB hash() sums,
    which cannot be compared: their counts are.
    """
    same_schema = _backup_migrations(manifest) == store.applied_migrations(cur)
    comparable = manifest.get("checksum_algorithm") == store.CHECKSUM_ALGORITHM
    summary = {}
    for table, entry in manifest["tables"].items():
        if table == store.MIGRATIONS_TABLE and not same_schema:
            continue
        rows, checksum = store.table_stats(cur, table, _backup_columns(entry, present[table]))
        if rows != entry["rows"] or (comparable and checksum != entry["checksum"]):
            raise BackupError(f"Restored table '{table}' differs from the backup: {rows} rows (backup "
                              f"{entry['rows']}), checksum {checksum} (backup {entry['checksum']}); "
                              f"nothing was restored")
        summary[table] = {"rows": rows, "checksum_checked": comparable}
    return summary
