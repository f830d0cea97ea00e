"""Backups and restores: identical tables, sequences that continue, damage detected, and backups of a
file that another process holds (answered by that process's watcher, or a clear timeout).

The app itself answering a backup under load is tested in tests/test_reliability_live.py.
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

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def labeled(db, db_path, pandalm, tmp_path):
    """The PandaLM database (imported labels and judges) plus a small project with three labels
    written through the app's functions; closed, so that other processes can open it."""
    data = tmp_path / "small.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"s{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b"})
                              for i in range(6)))
    create_project(db, "small", ProjectConfig(task_type="pairwise", overlap=1))
    import_items(db, "small", data)
    project = get_project(db, "small")
    annotator, _ = add_annotator(db, "ann")
    for _ in range(3):  # record_label: submit_label would start a background re-rank that outlives close()
        item = next_item(db, project, annotator["id"])
        record_label(db, project, annotator["id"], item.item_id, {"overall": 1}, presented_order="AB")
    db.close()
    return db_path


def test_restore_rebuilds_every_table_identically_and_ids_continue(labeled, tmp_path):
    result = run_cli("--db", str(labeled), "backup", "--out", str(tmp_path / "bk"))
    assert result.returncode == 0, result.stderr
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


def test_restore_says_checksums_were_not_compared_when_they_could_not_be(labeled, tmp_path):
    backup.backup_database(labeled, tmp_path / "bk")
    manifest_path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["duckdb_version"] = "0.9.0"  # another DuckDB version hashes rows differently
    manifest_path.write_text(json.dumps(manifest))
    result = run_cli("restore", "--from", str(tmp_path / "bk"), "--db", str(tmp_path / "new.duckdb"))
    assert result.returncode == 0, result.stderr
    assert "content checksums were not compared" in result.stdout and "checksums match" not in result.stdout
    assert f"row counts of all {len(manifest['tables'])} tables match the backup" in result.stdout


def test_restore_refuses_an_existing_file_and_a_damaged_backup(labeled, tmp_path):
    backup.backup_database(labeled, tmp_path / "bk")
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.restore_database(tmp_path / "bk", labeled)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.backup_database(labeled, tmp_path / "bk")
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


def test_backup_of_a_file_held_by_a_writing_process_is_taken_by_that_process(labeled, tmp_path):
    holder = hold(labeled, "watch")
    try:
        assert run_cli("--db", str(labeled), "status", "-p", "pandalm").returncode != 0  # the file is locked
        result = run_cli("--db", str(labeled), "backup", "--out", str(tmp_path / "bk"), "--timeout", "60")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert backup.restore_database(tmp_path / "bk", tmp_path / "new.duckdb")["annotators"]["checksum_checked"]
    restored = backup.file_checksums(tmp_path / "new.duckdb")
    final = backup.file_checksums(labeled)
    assert 1 < restored["annotators"][0] <= final["annotators"][0]  # a snapshot from the middle of the writes
    assert restored["label_events"] == final["label_events"]
    assert not list(backup.requests_dir(labeled).glob("backup-*"))  # request and answer cleaned up


def test_backup_says_clearly_when_the_holder_does_not_answer(labeled, tmp_path):
    holder = hold(labeled, "silent")
    try:
        started = time.monotonic()
        result = run_cli("--db", str(labeled), "backup", "--out", str(tmp_path / "bk"), "--timeout", "2")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and time.monotonic() - started < 60
    assert "did not answer the backup request within 2 s" in result.stderr
    assert f"process {holder.pid}" in result.stderr
    assert not (tmp_path / "bk").exists() and not list(backup.requests_dir(labeled).glob("backup-*"))
