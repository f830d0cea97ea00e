"""Backups and restores on DuckDB and PostgreSQL: identical tables, sequences that continue, one format
for both engines (a DuckDB backup restores into PostgreSQL and back, with the same content checksums),
damage detected, nothing half-restored, and backups of a file that another process holds (answered by
that process's watcher, or a clear timeout).

Tests that take the `labeled` database run on both backends; the ones about a DuckDB file held by
another process use `duck_labeled` (a file only). The app itself answering a backup under load is
tested in tests/test_reliability_live.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import storage
from annotate.data import backup
from annotate.labeling.annotators import add_annotator
from annotate.labeling.assignment import next_item
from annotate.labeling.labels import record_label
from annotate.config import ProjectConfig
from annotate.data.adapters import import_items
from annotate.projects import create_project, get_project
from conftest import PANDALM_DIR, postgres_schema_url

pytestmark = pytest.mark.both_backends
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def fill(conn, tmp_path: Path) -> None:
    """PandaLM (imported labels and judges) plus a small project with three labels written through the
    app's functions (record_label: submit_label would start a background re-rank that outlives close())."""
    import_items(conn, "pandalm", PANDALM_DIR, adapter="pandalm")
    data = tmp_path / "small.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"s{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b",
                                          "meta": {"z": i, "a": [1.5, None]}}) for i in range(6)))
    create_project(conn, "small", ProjectConfig(task_type="pairwise", overlap=1))
    import_items(conn, "small", data)
    project = get_project(conn, "small")
    annotator, _ = add_annotator(conn, "ann")
    for value in (1, -2, 0):
        item = next_item(conn, project, annotator["id"])
        record_label(conn, project, annotator["id"], item.item_id, {"overall": value}, presented_order="AB")


@pytest.fixture
def labeled(db, db_path, pandalm_dir, tmp_path):
    """The filled database on the test's backend, closed (a file path or a postgresql:// URL)."""
    fill(db, tmp_path)
    db.close()
    return db_path


@pytest.fixture
def duck_labeled(pandalm_dir, tmp_path) -> Path:
    """The filled database as a DuckDB file (for what only a file has: a process holding it)."""
    path = tmp_path / "file.duckdb"
    conn = storage.connect(path)
    fill(conn, tmp_path)
    conn.close()
    return path


@pytest.fixture
def other_engine(backend, tmp_path):
    """A new database on the other engine: a fresh PostgreSQL schema for DuckDB, a new file for PostgreSQL."""
    if backend == "postgres":
        yield tmp_path / "other.duckdb"
        return
    yield from postgres_schema_url()


@pytest.fixture
def empty_pg():
    """A fresh, empty PostgreSQL schema (a URL)."""
    yield from postgres_schema_url()


def test_restore_rebuilds_every_table_identically_and_ids_continue(labeled, tmp_path):
    result = run_cli("--db", str(labeled), "backup", "--out", str(tmp_path / "bk"))
    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout
    result = run_cli("restore", "--from", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb"))
    assert result.returncode == 0, result.stderr
    tables = len(json.loads((tmp_path / "bk" / "manifest.json").read_text())["tables"])
    assert f"row counts of all {tables} tables match the backup, and so do the content checksums of all {tables}" \
        in result.stdout
    original = backup.file_checksums(labeled)
    assert backup.file_checksums(tmp_path / "new.duckdb") == original
    assert original["label_events"][0] > 3 and original["judgments"][0] > 0  # imported labels and judges too

    conn = storage.connect(tmp_path / "new.duckdb")
    try:
        cur = storage.cursor(conn)
        last_event, last_annotator = cur.execute(
            "SELECT (SELECT max(id) FROM label_events), (SELECT max(id) FROM annotators)").fetchone()
        project = get_project(conn, "small")
        annotator, _ = add_annotator(conn, "after-restore")
        item = next_item(conn, project, annotator["id"])
        event_id = record_label(conn, project, annotator["id"], item.item_id, {"overall": -1}, presented_order="AB")
    finally:
        conn.close()
    assert annotator["id"] == last_annotator + 1 and event_id == last_event + 1


def test_a_backup_restores_into_the_other_engine_and_back_with_the_same_checksums(labeled, other_engine, tmp_path):
    result = run_cli("--db", str(labeled), "backup", "--out", str(tmp_path / "bk"))
    assert result.returncode == 0, result.stderr
    result = run_cli("restore", "--from", str(tmp_path / "bk"), "--db", str(other_engine))
    assert result.returncode == 0, result.stderr
    assert "and so do the content checksums of all" in result.stdout
    original = backup.file_checksums(labeled)
    assert backup.file_checksums(other_engine) == original  # the checksum does not depend on the engine

    # and back: a backup of the restored copy, restored into a new DuckDB file, is still the same
    result = run_cli("--db", str(other_engine), "backup", "--out", str(tmp_path / "bk2"))
    assert result.returncode == 0, result.stderr
    first = json.loads((tmp_path / "bk" / "manifest.json").read_text())["tables"]
    second = json.loads((tmp_path / "bk2" / "manifest.json").read_text())["tables"]
    assert {t: (e["rows"], e["checksum"], e["types"]) for t, e in first.items()} == \
        {t: (e["rows"], e["checksum"], e["types"]) for t, e in second.items()}
    assert backup.restore_database(tmp_path / "bk2", tmp_path / "back.duckdb")
    assert backup.file_checksums(tmp_path / "back.duckdb") == original

    conn = storage.connect(other_engine)  # ids continue after the restored ones on the other engine too
    try:
        cur = storage.cursor(conn)
        last_event = cur.execute("SELECT max(id) FROM label_events").fetchone()[0]
        project = get_project(conn, "small")
        annotator, _ = add_annotator(conn, "after-restore")
        item = next_item(conn, project, annotator["id"])
        assert record_label(conn, project, annotator["id"], item.item_id, {"overall": 1},
                            presented_order="BA") == last_event + 1
        labels = cur.execute("SELECT values_list FROM label_events WHERE annotator_id = ? ORDER BY id",
                             [annotator["id"] - 1]).fetchall()
    finally:
        conn.close()
    assert [[v["value"] for v in row[0]] for row in labels] == [[1.0], [-2.0], [0.0]]  # label values intact


def test_restore_into_postgres_refuses_a_database_with_data_and_changes_nothing(duck_labeled, empty_pg, tmp_path):
    backup.backup_database(duck_labeled, tmp_path / "bk")
    conn = storage.connect(empty_pg)
    add_annotator(conn, "already-here")
    conn.close()
    result = run_cli("restore", "--from", str(tmp_path / "bk"), "--db", empty_pg)
    assert result.returncode == 1
    assert "already has data (in annotators)" in result.stderr and "restore into an empty database" in result.stderr
    assert backup.file_checksums(empty_pg)["annotators"][0] == 1 and backup.file_checksums(empty_pg)["items"][0] == 0


def test_a_restore_whose_rows_differ_from_the_manifest_leaves_postgres_empty(duck_labeled, empty_pg, tmp_path):
    backup.backup_database(duck_labeled, tmp_path / "bk")
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["label_events"]["checksum"] = "0" * 32  # rows that are not what the manifest says
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError, match="Restored table 'label_events' differs from the backup"):
        backup.restore_database(tmp_path / "bk", empty_pg)
    assert not any(rows for table, (rows, _) in backup.file_checksums(empty_pg).items()
                   if table != "schema_migrations")  # one transaction: nothing was kept


def test_a_postgres_backup_taken_while_another_server_writes_is_one_consistent_snapshot(empty_pg, tmp_path):
    import threading
    setup = storage.connect(empty_pg)
    create_project(setup, "live", ProjectConfig(task_type="pairwise", overlap=50))
    data = tmp_path / "live.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"l{i}", "prompt": "p", "response_a": "a", "response_b": "b"})
                              for i in range(3)))
    import_items(setup, "live", data)
    setup.close()
    stop, written = threading.Event(), []

    def other_server() -> None:  # a new annotator and their first label, again and again, in two transactions
        conn = storage.connect(empty_pg)
        project = get_project(conn, "live")
        try:
            while not stop.is_set():
                annotator, _ = add_annotator(conn, f"writer-{len(written)}")
                item = next_item(conn, project, annotator["id"])
                record_label(conn, project, annotator["id"], item.item_id, {"overall": 1}, presented_order="AB")
                written.append(annotator["id"])
        finally:
            conn.close()

    writer = threading.Thread(target=other_server)
    writer.start()
    try:
        while len(written) < 3:
            time.sleep(0.05)
        backup.backup_database(empty_pg, tmp_path / "bk")
        while len(written) < 6:
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join()
    backup.restore_database(tmp_path / "bk", tmp_path / "copy.duckdb")
    conn = storage.connect(tmp_path / "copy.duckdb")
    try:
        cur = storage.cursor(conn)
        annotators = {row[0] for row in cur.execute("SELECT id FROM annotators").fetchall()}
        labelers = {row[0] for row in cur.execute("SELECT annotator_id FROM label_events").fetchall()}
    finally:
        conn.close()
    assert 3 <= len(annotators) < len(written)  # taken mid-way
    assert labelers <= annotators  # annotators were read before label_events, from the same snapshot
    assert len(labelers) >= len(annotators) - 1  # at most the one between its two transactions lacks a label


def test_restore_says_checksums_were_not_compared_for_a_backup_from_an_older_version(duck_labeled, tmp_path):
    backup.backup_database(duck_labeled, tmp_path / "bk")
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 1  # format 1 summed DuckDB's hash(), which this version cannot compare
    del manifest["checksum_algorithm"]
    for entry in manifest["tables"].values():
        entry["checksum"] = "123456789"
        del entry["types"]
    manifest_path.write_text(json.dumps(manifest))
    result = run_cli("restore", "--from", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb"))
    assert result.returncode == 0, result.stderr
    assert "content checksums were not compared" in result.stdout and "checksums match" not in result.stdout
    assert f"row counts of all {len(manifest['tables'])} tables match the backup" in result.stdout
    assert backup.file_checksums(tmp_path / "new.duckdb") == backup.file_checksums(duck_labeled)


def test_restore_refuses_an_existing_file_and_a_damaged_backup(duck_labeled, tmp_path):
    backup.backup_database(duck_labeled, tmp_path / "bk")
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.restore_database(tmp_path / "bk", duck_labeled)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.backup_database(duck_labeled, tmp_path / "bk")
    damaged = tmp_path / "bk" / "label_events.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(backup.BackupError, match="label_events.parquet of table 'label_events'.*damaged"):
        backup.restore_database(tmp_path / "bk", tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()


HOLDER = """
import sys, time
import storage
from annotate.data import backup
from annotate.labeling.annotators import add_annotator
conn = storage.connect(sys.argv[1])
if sys.argv[2] == "watch":
    backup.serve_backup_requests(conn, sys.argv[1])
print("ready", flush=True)
for i in range(100_000):  # keep writing while the backup runs
    add_annotator(conn, f"writer-{i}")
    time.sleep(0.01)
"""


def hold(db_path: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(db_path), mode], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_backup_of_a_file_held_by_a_writing_process_is_taken_by_that_process(duck_labeled, tmp_path):
    holder = hold(duck_labeled, "watch")
    try:
        assert run_cli("--db", str(duck_labeled), "status", "-p", "pandalm").returncode != 0  # the file is locked
        result = run_cli("--db", str(duck_labeled), "backup", "--out", str(tmp_path / "bk"), "--timeout", "60")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert backup.restore_database(tmp_path / "bk", tmp_path / "new.duckdb")["annotators"]["checksum_checked"]
    restored = backup.file_checksums(tmp_path / "new.duckdb")
    final = backup.file_checksums(duck_labeled)
    assert 1 < restored["annotators"][0] <= final["annotators"][0]  # a snapshot from the middle of the writes
    assert restored["label_events"] == final["label_events"]
    assert not list(backup.requests_dir(duck_labeled).glob("backup-*"))  # request and answer cleaned up


def test_backup_says_clearly_when_the_holder_does_not_answer(duck_labeled, tmp_path):
    holder = hold(duck_labeled, "silent")
    try:
        started = time.monotonic()
        result = run_cli("--db", str(duck_labeled), "backup", "--out", str(tmp_path / "bk"), "--timeout", "2")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and time.monotonic() - started < 60
    assert "did not answer the backup request within 2 s" in result.stderr
    assert f"process {holder.pid}" in result.stderr
    assert not (tmp_path / "bk").exists() and not list(backup.requests_dir(duck_labeled).glob("backup-*"))
