"""The CLI, run as a user would: a subprocess of `python -m annotate`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from annotate.errors import AuthError
from annotate.labeling.annotators import authenticate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import cli_reference  # noqa: E402


def run(db_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m annotate --db DB ARGS...` with $ANNOTATE_BASE_URL unset unless `env` sets it."""
    base = {k: v for k, v in os.environ.items() if k != "ANNOTATE_BASE_URL"}
    return subprocess.run([sys.executable, "-m", "annotate", "--db", str(db_path), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, env={**base, **(env or {})})


def test_import_then_status_json_reports_the_counts(db_path, pandalm_dir):
    result = run(db_path, "import", str(pandalm_dir), "--project", "pandalm", "--adapter", "pandalm")
    assert result.returncode == 0, result.stderr
    assert "Imported 999 items, 2997 human labels and 1998 judgments into 'pandalm'" in result.stdout
    assert "note: converted 6 boolean responses" in result.stdout
    status = json.loads(run(db_path, "status", "--project", "pandalm", "--json").stdout)
    assert {k: status[k] for k in ("items", "human_labels", "judge_labels", "annotators")} == \
        {"items": 999, "human_labels": 2997, "judge_labels": 1998, "annotators": 3}


def test_bad_file_exits_nonzero_with_the_place_and_no_traceback(db_path, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "prompt": "q", "response_a": "a"}\n')
    result = run(db_path, "import", str(bad), "--project", "p")
    assert result.returncode == 1
    assert "bad.jsonl line 1, field 'response_b': missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(run(db_path, "projects", "--json").stdout) == []


def test_column_mapping_flags_map_fields_and_labels(db_path, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("qid,question,left,right,alice\n1,Why?,Because.,No idea.,A\n2,How?,Like so.,Dunno.,tie\n")
    result = run(db_path, "import", str(data), "--project", "p", "--map", "id=qid", "--map", "prompt=question",
                 "--map", "response_a=left", "--map", "response_b=right", "--map", "human.alice=alice", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label_events"] == 2


def test_annotators_add_prints_an_invite_link_that_logs_in(db_path):
    result = run(db_path, "annotators", "add", "maria", "--role", "researcher")
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip().splitlines()[-1]
    assert link.startswith("/?token=")  # no port is guessed: the note says what the link is relative to
    assert "the address the app is served on" in result.stdout and "ANNOTATE_BASE_URL" in result.stdout
    conn = storage.connect(db_path)
    assert authenticate(conn, link.split("token=")[1])["name"] == "maria"
    conn.close()
    assert link.split("token=")[1] not in run(db_path, "annotators", "list").stdout


def test_invite_links_use_the_configured_base_url(db_path):
    env = {"ANNOTATE_BASE_URL": "https://annotate.example.org/"}
    link = run(db_path, "annotators", "add", "maria", env=env).stdout.strip().splitlines()[-1]
    assert link.startswith("https://annotate.example.org/?token=")
    reset = run(db_path, "annotators", "reset-token", "maria", env=env)
    new_link = reset.stdout.strip().splitlines()[-1]
    assert reset.returncode == 0 and new_link.startswith("https://annotate.example.org/?token=")
    conn = storage.connect(db_path)
    assert authenticate(conn, new_link.split("token=")[1])["name"] == "maria"
    with pytest.raises(AuthError):
        authenticate(conn, link.split("token=")[1])
    conn.close()


def test_unknown_project_names_the_existing_ones(db_path, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "1", "prompt": "q", "response_a": "a", "response_b": "b"}\n')
    run(db_path, "import", str(data), "--project", "alpha")
    result = run(db_path, "status", "--project", "beta")
    assert result.returncode == 1 and "No project 'beta' (projects: 'alpha')" in result.stderr


def test_init_with_demo_creates_projects_and_prints_links(db_path):
    result = run(db_path, "init", "--demo")
    assert result.returncode == 0, result.stderr
    assert "admin: /?token=" in result.stdout and "demo-annotator: /?token=" in result.stdout
    projects = json.loads(run(db_path, "projects", "--json").stdout)
    assert {p["name"]: p["items"] for p in projects} == {"demo-pairwise": 40, "demo-rubric": 20}
    again = run(db_path, "init", "--demo")
    assert again.returncode == 0 and "no demo created" in again.stdout and "http://" not in again.stdout


def test_readme_cli_reference_matches_the_commands_help():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == cli_reference.readme_with_reference(readme), \
        "README's CLI reference is stale: run python scripts/cli_reference.py --write"
