"""The Judges page from the app's entry point: register a judge, run it in the background, see the run."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling.annotators import add_annotator
from annotate.config import ProjectConfig
from annotate.data.importers import import_file
from annotate.judges import get_run, list_runs
from annotate.judges.tiny import build_tiny_models
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def project(db, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    rows = [{"id": f"q{i}", "prompt": f"Prompt {i}", "response_a": f"yes {i}", "response_b": f"no {i}"} for i in range(3)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    created = create_project(db, "pairs", ProjectConfig(task_type="pairwise"))
    import_file(db, created, path)
    return created


def logged_in(db, role: str) -> AppTest:
    _, token = add_annotator(db, f"a-{role}", role)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = "pairs"
    at.query_params["token"] = token
    return at.run()


def test_researcher_registers_a_judge_and_runs_it_in_the_background(db, project, tmp_path):
    model = build_tiny_models(tmp_path / "tiny")["reward_model"]
    at = logged_in(db, "researcher").switch_page("pages/judges.py").run()
    assert not at.exception and any("No judges registered yet" in i.value for i in at.info)
    form = {t.label: t for t in at.text_input}
    form["Name"].input("tiny-rm")
    form["Model"].input(str(model))
    next(s for s in at.selectbox if s.label == "Backend").set_value("reward_model")
    next(b for b in at.button if b.label == "Register").click()
    at.run()
    assert not at.exception and any("Judge 'tiny-rm' registered" in s.value for s in at.success)
    next(b for b in at.button if b.label == "Start run").click()
    at.run()
    assert any("Run 1 started" in s.value for s in at.success)
    deadline = time.monotonic() + 60
    while get_run(db, 1)["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get_run(db, 1)["status"] == "done" and get_run(db, 1)["n_done"] == 6
    at.run()
    runs = next(d.value for d in at.dataframe if "Answers" in d.value.columns)
    assert runs[["Judge", "Status", "Answers"]].to_dict("records") == [{"Judge": "tiny-rm", "Status": "done",
                                                                        "Answers": "6 of 6"}]


def test_register_form_shows_config_errors(db, project):
    at = logged_in(db, "researcher").switch_page("pages/judges.py").run()
    next(t for t in at.text_input if t.label == "Name").input("no-model")
    next(b for b in at.button if b.label == "Register").click()
    at.run()
    assert any("needs 'model'" in e.value for e in at.error)
    assert list_runs(db, "pairs").empty


def test_annotators_cannot_open_the_judges_page(db, project):
    at = logged_in(db, "annotator")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/judges.py")
