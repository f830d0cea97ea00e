"""The store: migrations, transactions, concurrent writers, crash safety and the file lock."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.both_backends

import storage
from annotate.data.adapters import import_items
from annotate.labeling.annotators import add_annotator
from annotate.config import ProjectConfig
from annotate.labeling.labels import record_label
from annotate.projects import create_project, get_project
from storage import labels as label_store, migrations, projects as project_store

ROOT = Path(__file__).resolve().parents[1]


def make_project_with_items(conn, tmp_path: Path, n_items: int, name: str = "p") -> None:
    rows = "".join(f'{{"id": "i{i}", "prompt": "q", "response_a": "a", "response_b": "b"}}\n' for i in range(n_items))
    (tmp_path / "items.jsonl").write_text(rows)
    import_items(conn, name, tmp_path / "items.jsonl")


def test_migrations_are_recorded_and_applied_once(db_path):
    conn = storage.connect(db_path)
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert versions == sorted(v for v, _, _ in migrations.MIGRATIONS)
    conn.close()
    conn = storage.connect(db_path)
    assert storage.migrate(conn) == []
    conn.close()


def test_write_rolls_back_everything_when_the_function_fails(db):
    def half_done(cur):
        project_store.insert_project(cur, "half", "pairwise", ProjectConfig(task_type="pairwise").model_dump_json())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        storage.write(db, half_done)
    assert project_store.get_project(storage.cursor(db), "half") is None


def test_32_threads_writing_200_label_events_each_store_exactly_6400(db, tmp_path):
    make_project_with_items(db, tmp_path, 200)
    project = get_project(db, "p")
    item_ids = sorted(int(i) for i in storage.cursor(db).execute(
        "SELECT id FROM items WHERE project_id = ?", [project.id]).fetchall() for i in i)
    annotators = [add_annotator(db, f"t{n}")[0]["id"] for n in range(32)]
    errors: list[BaseException] = []

    def label_all(annotator_id: int) -> None:
        try:
            for item_id in item_ids:
                record_label(db, project, annotator_id, item_id, {"overall": 1}, presented_order="AB")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=label_all, args=(a,)) for a in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert label_store.count_label_events(storage.cursor(db)) == 6400
    assert len(label_store.current_label_values(storage.cursor(db), project.id)) == 6400


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import storage
    from annotate.labeling.labels import record_label
    from annotate.projects import get_project
    conn = storage.connect({db!r})
    project = get_project(conn, "p")
    items = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]
    for n, item_id in enumerate(items):
        event_id = record_label(conn, project, {annotator}, item_id, {{"overall": -2}}, presented_order="BA")
        print(event_id, flush=True)
""")


def test_labels_that_returned_survive_sigkill_and_the_file_reopens_cleanly(db_path, tmp_path):
    conn = storage.connect(db_path)
    make_project_with_items(conn, tmp_path, 5000)
    annotator = add_annotator(conn, "writer")[0]["id"]
    conn.close()
    script = WRITER.format(root=str(ROOT), db=str(db_path), annotator=annotator)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    returned: list[int] = []
    deadline = time.time() + 60
    while len(returned) < 300 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(returned) >= 300, "the writer did not get going"
    conn = storage.connect(db_path)
    stored = {r[0] for r in conn.execute("SELECT id FROM label_events").fetchall()}
    assert set(returned) <= stored
    values = conn.execute("SELECT count(*) FROM label_values WHERE event_id IN (SELECT id FROM label_events)").fetchone()
    assert values[0] == len(stored)
    conn.close()


def test_second_process_gets_a_clear_error_naming_the_lock_holder(tmp_path):
    db_path = tmp_path / "test.duckdb"  # DuckDB's file lock (PostgreSQL has no such lock): DuckDB only
    conn = storage.connect(db_path)
    result = subprocess.run([sys.executable, "-m", "annotate", "--db", str(db_path), "projects"],
                            capture_output=True, text=True, cwd=ROOT)
    conn.close()
    assert result.returncode == 1
    assert f"is in use by process {os.getpid()}" in result.stderr
    assert "stop that process" in result.stderr and "Traceback" not in result.stderr


def test_lock_error_is_raised_as_store_locked_error(tmp_path):
    db_path = tmp_path / "test.duckdb"  # DuckDB's file lock: DuckDB only
    conn = storage.connect(db_path)
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import storage\n"
            f"try:\n    storage.connect({str(db_path)!r})\nexcept storage.StoreLockedError as e:\n    print('LOCKED', e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    conn.close()
    assert out.startswith("LOCKED Database")


def test_db_path_comes_from_argument_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ANNOTATE_DB", str(tmp_path / "env.duckdb"))
    assert storage.resolve_db_path(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"
    assert storage.resolve_db_path() == tmp_path / "env.duckdb"
    monkeypatch.delenv("ANNOTATE_DB")
    assert storage.resolve_db_path() == Path("data/annotate.duckdb")


def test_duckdb_transaction_conflicts_are_retried_not_raised(db):
    """Two threads updating the same row conflict in DuckDB; write() retries until both succeed."""
    create_project(db, "c", ProjectConfig(task_type="pairwise"))
    config = ProjectConfig(task_type="pairwise").model_dump_json()
    barrier = threading.Barrier(2)
    errors = []

    def update(cur):
        project_store.update_project_config(cur, get_project(db, "c").id, config)
        try:
            barrier.wait(timeout=0.2)
        except threading.BrokenBarrierError:
            pass

    def run():
        try:
            storage.write(db, update)
        except duckdb.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
