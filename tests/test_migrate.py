"""`annotate migrate`: projects move from a DuckDB file into PostgreSQL (and back) with verified counts,
ids kept into an empty target and shifted into a used one, people matched by name, sequences
advanced, and nothing written when anything fails.

These tests need the PostgreSQL server named by $ANNOTATE_TEST_PG (.ci/run starts one); without it
they are skipped, which fails in strict mode.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from annotate.data import backup, migrate
from annotate.data.adapters import import_items
from annotate.data.demo import create_demo
from annotate.labeling import auth
from annotate.labeling.annotators import add_annotator
from conftest import postgres_schema_url
from storage import backup as store, transfer

ROOT = Path(__file__).resolve().parents[1]
LABELS = """SELECT i.external_id, a.name, e.kind, e.values_list, e.presented_order, e.source, e.created_at
            FROM label_events e JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
            JOIN projects p ON p.id = e.project_id WHERE p.name = ?"""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL schema (a URL)."""
    yield from postgres_schema_url()


@pytest.fixture
def demo_file(tmp_path) -> tuple[Path, dict[str, str]]:
    """A DuckDB file with the demo projects (labels by alice, bob and chen, two judges); and its tokens."""
    path = tmp_path / "demo.duckdb"
    conn = storage.connect(path)
    tokens = create_demo(conn)
    conn.close()
    return path, tokens


def labels(db, project: str) -> list[tuple]:
    """A project's label events as the dataset names them (external ids, annotator names), sorted."""
    conn = storage.connect(db)
    try:
        rows = storage.cursor(conn).execute(LABELS, [project]).fetchall()
    finally:
        conn.close()
    return sorted((*row[:3], [(v["aspect"], v["response_idx"], float(v["value"])) for v in row[3] or []], *row[4:])
                  for row in rows)


def test_a_project_moves_into_postgres_with_verified_counts_and_its_ids_kept(pandalm_dir, pg_url, tmp_path):
    source = tmp_path / "pandalm.duckdb"
    conn = storage.connect(source)
    import_items(conn, "pandalm", pandalm_dir, adapter="pandalm")
    create_demo(conn)
    project_id = storage.cursor(conn).execute("SELECT id FROM projects WHERE name = 'pandalm'").fetchone()[0]
    conn.close()

    result = run_cli("migrate", "--from", str(source), "--to", pg_url, "--project", "pandalm")
    assert result.returncode == 0, result.stderr
    table = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in result.stdout.splitlines()[1:-1]}
    assert table["items"] == [999, 999, 0, 999] and table["label_events"] == [2997, 2997, 0, 2997]
    assert table["judgments"] == [1998, 1998, 0, 1998] and table["projects"] == [1, 1, 0, 1]
    assert "Moved 1 project(s)" in result.stdout and "every table's count in the target matches" in result.stdout
    assert labels(pg_url, "pandalm") == labels(source, "pandalm")

    target = storage.connect(pg_url)
    try:
        cur = storage.cursor(target)
        assert cur.execute("SELECT name, id FROM projects").fetchall() == [("pandalm", project_id)]  # only that one
        last_annotator = cur.execute("SELECT max(id) FROM annotators").fetchone()[0]
        assert add_annotator(target, "new-after-migrate")[0]["id"] > last_annotator  # the sequence moved on
    finally:
        target.close()


def test_a_second_project_gets_new_ids_and_its_people_are_matched_by_name(demo_file, pg_url):
    source, _ = demo_file
    assert run_cli("migrate", "--from", str(source), "--to", pg_url, "-p", "demo-pairwise").returncode == 0
    result = run_cli("migrate", "--from", str(source), "--to", pg_url, "-p", "demo-rubric", "--json")
    assert result.returncode == 0, result.stderr
    counts = {row["table"]: row for row in json.loads(result.stdout)}
    assert counts["annotators"]["matched"] >= 2 and counts["annotators"]["copied"] == 0  # alice, bob: already there
    assert counts["label_events"]["copied"] == counts["label_events"]["target"] > 0
    for project in ("demo-pairwise", "demo-rubric"):
        assert labels(pg_url, project) == labels(source, project)
    conn = storage.connect(pg_url)
    try:
        cur = storage.cursor(conn)
        names = [row[0] for row in cur.execute("SELECT name FROM annotators ORDER BY name").fetchall()]
        ids = cur.execute("SELECT id FROM projects ORDER BY id").fetchall()
    finally:
        conn.close()
    assert names == sorted(set(names)) and "alice" in names  # one alice, holding both projects' labels
    assert ids[0] != ids[1]


def test_a_project_name_the_target_has_is_refused_and_nothing_changes(demo_file, pg_url):
    source, _ = demo_file
    assert run_cli("migrate", "--from", str(source), "--to", pg_url, "-p", "demo-rubric").returncode == 0
    before = backup.file_checksums(pg_url)
    result = run_cli("migrate", "--from", str(source), "--to", pg_url, "-p", "demo-pairwise", "-p", "demo-rubric")
    assert result.returncode == 1
    assert "already has project 'demo-rubric'; nothing was moved" in result.stderr and "Traceback" not in result.stderr
    assert backup.file_checksums(pg_url) == before  # demo-pairwise was not moved either
    missing = run_cli("migrate", "--from", str(source), "--to", pg_url, "-p", "nope")
    assert missing.returncode == 1 and "No project 'nope'" in missing.stderr and "demo-pairwise" in missing.stderr


def test_everything_moves_to_postgres_and_back_unchanged_and_invite_links_keep_working(demo_file, pg_url, tmp_path):
    source, tokens = demo_file
    conn = storage.connect(source)
    auth.login(conn, tokens["admin"], "10.0.0.1")  # a session and its row move too
    conn.close()
    assert run_cli("migrate", "--from", str(source), "--to", pg_url).returncode == 0
    back = tmp_path / "back.duckdb"
    result = run_cli("migrate", "--from", pg_url, "--to", str(back))
    assert result.returncode == 0, result.stderr
    moved = {table for table, rule in transfer.TABLES.items() if rule.scope != "none"}
    original, returned = backup.file_checksums(source), backup.file_checksums(back)
    assert {t: original[t] for t in moved & set(original)} == {t: returned[t] for t in moved & set(original)}
    assert original["sessions"][0] == 1 and original["label_events"][0] > 0

    conn = storage.connect(pg_url)
    try:
        assert auth.login(conn, tokens["admin"], "10.0.0.2")["name"] == "admin"  # the token hash moved
    finally:
        conn.close()


def test_a_failure_during_the_copy_leaves_the_target_without_any_of_it(demo_file, pg_url):
    source, tokens = demo_file
    conn = storage.connect(source)
    auth.login(conn, tokens["admin"], "10.0.0.1")
    key_hash = storage.cursor(conn).execute("SELECT key_hash FROM sessions").fetchone()[0]
    conn.close()
    target = storage.connect(pg_url)
    storage.cursor(target).execute(  # the same session key is already there: the copy of sessions fails
        "INSERT INTO sessions (key_hash, annotator_id, created_at, expires_at) VALUES (?, 99, now(), now())",
        [key_hash])
    target.close()
    result = run_cli("migrate", "--from", str(source), "--to", pg_url)
    assert result.returncode == 1 and "Nothing was moved" in result.stderr and "Traceback" not in result.stderr
    after = backup.file_checksums(pg_url)
    assert after["projects"][0] == after["items"][0] == after["annotators"][0] == 0
    assert after["sessions"][0] == 1


def test_every_table_of_the_schema_has_a_rule_for_migrate(tmp_path, pg_url):
    for db in (tmp_path / "fresh.duckdb", pg_url):
        conn = storage.connect(db)
        try:
            tables = set(store.table_columns(storage.cursor(conn)))
        finally:
            conn.close()
        assert tables - set(transfer.TABLES) == set(), "add a rule to storage/transfer.py TABLES"
        for table, rule in transfer.TABLES.items():
            if table in tables and rule.scope == "project":
                assert "project_id" in rule.ids, table
    with pytest.raises(migrate.MigrateError, match="same database"):
        migrate.migrate_projects(pg_url, pg_url)
