"""No traceback reaches a user and nothing stays half-done (issue 17 section 6), and every CSV the app
writes escapes formulas while JSONL, Parquet and HF datasets keep text byte for byte (section 4).

Damaged, held or missing database files, a full disk, a folder given as an output file and a broken
mapping file each give one line naming the cause and what to do; the app on a database it cannot
open stops instead of serving tracebacks while its health check says "ok".
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.data.adapters import import_items
from annotate.data.export import export_dataset
from annotate.data.export_files import csv_bytes
from annotate.judges import get_run
from annotate.judges.config import JudgeConfig
from annotate.judges.runs import create_run
from storage import judgments as judgment_store

pytestmark = pytest.mark.both_backends  # the tests on `db` / `db_path`; the others are about DuckDB files

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TRICKY = ["-1 is the answer", "=SUM(A1:A9)", "+44 20 7946", "@home", "\tindented", "plain ünïcode ✓"]


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The command failed with exactly one line on stderr and no traceback; return that line."""
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def damaged(tmp_path) -> Path:
    path = tmp_path / "damaged.duckdb"
    path.write_bytes(b"not a database " * 2000)
    return path


@pytest.fixture
def damaged_blocks(tmp_path) -> Path:
    """A real database whose data blocks were overwritten on disk (their checksums no longer match)."""
    path = tmp_path / "blocks.duckdb"
    storage.connect(path).close()
    data = bytearray(path.read_bytes())
    for offset in range(3 * 4096 + 100, len(data), 256 * 1024):  # after the headers, inside every block
        data[offset:offset + 64] = b"\xab" * 64
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------------ the CLI

@pytest.mark.parametrize("command", [["status", "-p", "x"], ["agreement", "-p", "x"], ["projects"],
                                     ["judge", "list", "-p", "x"], ["export", "-p", "x", "--format", "dpo-jsonl",
                                                                     "--out", "OUT"], ["backup", "--out", "OUT"]])
@pytest.mark.parametrize("kind", ["damaged", "damaged_blocks"])
def test_a_damaged_database_file_gives_one_line_and_stays_unchanged(request, tmp_path, command, kind):
    damaged = request.getfixturevalue(kind)
    before = damaged.read_bytes()
    command = [str(tmp_path / "out") if part == "OUT" else part for part in command]
    line = one_line_error(run_cli("--db", str(damaged), *command))
    assert f"Database {damaged} is damaged or is not an annotate database" in line and "restore" in line
    assert damaged.read_bytes() == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["status", "-p", "x"], ["agreement", "-p", "x"], ["projects"],
                                     ["judge", "list", "-p", "x"], ["router", "apply", "-p", "x", "-j", "j", "-s",
                                                                     "random", "-b", "1"]])
def test_a_mistyped_db_for_a_reading_command_says_the_file_does_not_exist(tmp_path, command):
    missing = tmp_path / "typo.duckdb"
    line = one_line_error(run_cli("--db", str(missing), *command))
    assert line == (f"Error: No database file {missing}: check the path given with --db or $ANNOTATE_DB "
                    f"(`python -m annotate init` creates a new one)")
    assert not missing.exists()


def test_init_still_creates_a_new_database(tmp_path):
    result = run_cli("--db", str(tmp_path / "new.duckdb"), "init")
    assert result.returncode == 0 and (tmp_path / "new.duckdb").is_file()


def test_a_database_held_by_another_process_gives_one_line_naming_it(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = hold(path)
    try:
        line = one_line_error(run_cli("--db", str(path), "status", "-p", "x"))
    finally:
        holder.kill()
        holder.wait()
    assert f"Database {path} is in use by process {holder.pid}" in line


def test_export_out_naming_a_folder_and_a_broken_mapping_file_give_one_line(tmp_path, db, db_path):
    db.close()
    folder = tmp_path / "exports"
    folder.mkdir()
    line = one_line_error(run_cli("--db", str(db_path), "export", "-p", "x", "--format", "dpo-jsonl",
                                  "--out", str(folder)))
    assert line == f"Error: --out {folder} is a folder; give the name of the file to write, e.g. {folder / 'x.jsonl'}"
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"prompt": "instruction",}', encoding="utf-8")
    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps({"id": "1"}) + "\n", encoding="utf-8")
    line = one_line_error(run_cli("--db", str(db_path), "import", str(data), "-p", "x", "--mapping", str(mapping)))
    assert re.fullmatch(r"Error: .*mapping\.json line 1: .*JSON.*", line)


# ------------------------------------------------------------------------ a full disk

FULL_DISK = """
import json, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
import storage
from annotate.data.adapters import import_items
from annotate.labeling.annotators import add_annotator
from annotate.labeling.assignment import next_item
from annotate.labeling.labels import record_label
from annotate.projects import get_project

db, items = sys.argv[1], sys.argv[2]
conn = storage.connect(db)
import_items(conn, "pairs", items, task_type="pairwise")
project = get_project(conn, "pairs")
annotator, _ = add_annotator(conn, "ann")
conn.execute("CHECKPOINT")
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(db) + 300_000, hard))  # the disk fills up

def label(note):
    item = next_item(conn, project, annotator["id"])
    return record_label(conn, project, annotator["id"], item.item_id, {"overall": 1}, presented_order="AB",
                        justification=note)

saved, error, calls = 0, None, []
def fill(cur):
    calls.append(1)
    cur.execute("INSERT INTO annotators (name, role, kind, token_hash) SELECT 'x' || range || repeat('y', 4000), "
                "'annotator', 'imported', NULL FROM range(100)")
try:
    while True:
        label("z" * 20_000)
        saved += 1
except storage.StoreError as exc:
    error = exc
attempts = None
try:
    storage.write(conn, fill)
except storage.db.StoreFullError:
    attempts = len(calls)
from annotate.labeling import forms, screen  # what the label page does with a submit while the disk is full
state = {}
item = next_item(conn, project, annotator["id"])
form = forms.show_form(state, item.item_id)
submit = {"type": "submit", "nonce": form.nonce, "item_id": item.item_id, "values": {"overall": 1},
          "justification": "z" * 20_000}
outcome = screen.handle_action(conn, project, annotator["id"], state, submit)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is back
again = screen.handle_action(conn, project, annotator["id"], state, submit)  # the same form, submitted again
conn.close()
conn = storage.connect(db)
stored = conn.execute("SELECT count(*) FROM current_label_events").fetchone()[0]
print(json.dumps({"saved": saved, "kind": type(error).__name__, "message": str(error), "attempts": attempts,
                  "stored": stored, "page": [outcome.kind, outcome.message], "again": again.kind}))
"""


def test_a_full_disk_stops_writes_with_a_clear_message_without_retrying_and_they_resume(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"p{i}", "response_a": "a", "response_b": "b"}) + "\n"
                             for i in range(400)), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path / "full.duckdb"), str(items)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["kind"] == "StoreFullError" and outcome["saved"] > 0
    assert outcome["message"] == storage.db.DISK_FULL_MESSAGE and "\n" not in outcome["message"]
    assert outcome["attempts"] == 1  # not retried: retrying cannot free space
    assert outcome["page"] == ["refused", storage.db.DISK_FULL_MESSAGE]  # the label page shows the message
    assert outcome["again"] == "saved"  # the annotator's same submit goes through once space is back
    assert outcome["stored"] == outcome["saved"] + 1  # every label saved before, none half-written, and one after


# ------------------------------------------------------------------------ the app

HOLDER = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)"


def hold(path: Path) -> subprocess.Popen:
    """A process that holds the database file (as a running app would)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def health(port: int) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None, ""


def wait_for_server(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if health(port)[0] is not None:
            return
        time.sleep(0.2)
    raise AssertionError(f"no server on port {port}")


@pytest.mark.parametrize("case, port", [("damaged", 8623), ("held", 8624)])
def test_the_app_on_an_unusable_database_stops_with_one_line_and_health_is_not_ok(tmp_path, damaged, case, port):
    path, holder = (damaged, None) if case == "damaged" else (tmp_path / "held.duckdb", None)
    if case == "held":
        holder = hold(path)
    env = {**os.environ, "ANNOTATE_DB": str(path)}
    output = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port),
                               "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                              cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # a file: a pipe could fill
    try:
        wait_for_server(port, server)
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            try:
                page.get_by_text("The app cannot open its database").wait_for(timeout=60_000)
            finally:
                body = page.inner_text("body")
            browser.close()
        assert "Traceback" not in body and str(path) not in body and "duckdb" not in body.lower()
        deadline = time.monotonic() + 10
        while health(port) == (200, "ok") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert health(port) != (200, "ok")
    finally:
        server.terminate()
        server.wait(timeout=30)
        output.seek(0)
        log = output.read().decode(errors="replace")
        if holder is not None:
            holder.kill()
            holder.wait()
    lines = [line for line in log.splitlines() if line.startswith("annotate: ")]
    assert "Traceback" not in log and len(lines) == 1
    expected = "is damaged or is not an annotate database" if case == "damaged" else f"is in use by process {holder.pid}"
    assert expected in lines[0]


def test_serve_refuses_to_start_on_a_damaged_database_and_listens_on_nothing(damaged):
    line = one_line_error(run_cli("--db", str(damaged), "serve", "--server.port", "8625", "--server.headless", "true"))
    assert "is damaged or is not an annotate database" in line
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8625)) != 0


def test_runs_left_running_are_marked_interrupted_when_the_app_starts(db, db_path, tmp_path, monkeypatch):
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "q1", "prompt": "p", "response_a": "a", "response_b": "b"}) + "\n")
    import_items(db, "pairs", items, task_type="pairwise")
    config = JudgeConfig(name="j", backend="causal_lm", model="m")
    run_id = create_run(db, "pairs", config)
    storage.write(db, lambda cur: judgment_store.update_run(cur, run_id, status="running"))
    db.close()
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    conn = storage.connect(db_path)
    try:
        run = get_run(conn, run_id)
    finally:
        conn.close()
    assert run["status"] == "interrupted" and "resume it" in run["error"]


# ------------------------------------------------------------------------ CSV, and only CSV

def test_csv_downloads_escape_formula_cells_and_keep_numbers():
    frame = pd.DataFrame({"rater": ["=HYPERLINK(\"http://x\")", "alice", "-2 votes"], "kappa": [-0.5, 0.8, 1.0]})
    text = csv_bytes(frame).decode("utf-8")
    assert text.splitlines() == ["rater,kappa", "\"'=HYPERLINK(\"\"http://x\"\")\",-0.5", "alice,0.8", "'-2 votes,1.0"]


def test_no_page_writes_csv_without_the_escaping_function():
    for page in sorted((ROOT / "pages").glob("*.py")):
        source = page.read_text(encoding="utf-8")
        assert ".to_csv(" not in source, f"{page.name} writes CSV itself; use annotate.data.export_files.csv_bytes"
        for call in re.findall(r"download_button\((.*?)\n", source):
            assert "csv_bytes(" in call or "export_bytes(" in call, f"{page.name}: {call}"


@pytest.fixture
def tricky(db, tmp_path):
    rows = [{"id": f"t{i}", "prompt": text, "response_a": text + " A", "response_b": "B " + text,
             "gold": "A"} for i, text in enumerate(TRICKY)]
    path = tmp_path / "tricky.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    from annotate.data.importers import ColumnMapping
    import_items(db, "tricky", path, task_type="pairwise", mapping=ColumnMapping(human_labels={"gold": "gold"}))
    return rows


def test_jsonl_parquet_and_hf_keep_text_byte_for_byte_and_only_csv_escapes(db, tricky, tmp_path):
    prompts = [r["prompt"] for r in tricky]
    export_dataset(db, "tricky", "dpo-jsonl", tmp_path / "d.jsonl")
    jsonl = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()]
    export_dataset(db, "tricky", "dpo-parquet", tmp_path / "d.parquet")
    parquet = pd.read_parquet(tmp_path / "d.parquet")
    export_dataset(db, "tricky", "hf", tmp_path / "hf")
    from datasets import load_from_disk
    hf = load_from_disk(str(tmp_path / "hf"))["train"]
    for rows in (jsonl, parquet.to_dict("records"), list(hf)):
        assert sorted(r["prompt"] for r in rows) == sorted(prompts)
        assert sorted(r["chosen"] for r in rows) == sorted(p + " A" for p in prompts)
    export_dataset(db, "tricky", "dpo-csv", tmp_path / "d.csv")
    csv = pd.read_csv(tmp_path / "d.csv", keep_default_na=False)
    escaped = {p: ("'" + p if p[0] in "=+-@\t" else p) for p in prompts}
    assert sorted(csv["prompt"]) == sorted(escaped.values())
