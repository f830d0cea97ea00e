"""The app from its entry point (AppTest): login, labeling, skip, flag, edit, roles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling.annotators import add_annotator
from annotate.config import Criterion, ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app_db(db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    return db


def add_pairwise(db, tmp_path, n: int = 3):
    rows = [{"id": f"q{i}", "prompt": f"Prompt number {i}", "response_a": f"Alpha answer {i}",
             "response_b": f"Beta answer {i}", "model_a": "secret-model-a", "model_b": "secret-model-b"}
            for i in range(n)]
    path = tmp_path / "pairwise.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise", overlap=2, highlight_diff=True))
    import_file(db, project, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    return project


def add_rubric(db, tmp_path):
    rows = [{"id": f"r{i}", "prompt": f"Rubric task {i}", "response": f"Rubric response {i}"} for i in range(2)]
    path = tmp_path / "rubric.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    criteria = [Criterion(name="accuracy", scores={1: "wrong", 2: "partly", 3: "right"}),
                Criterion(name="style", scores={1: "poor", 2: "fine", 3: "great"})]
    project = create_project(db, "rubric", ProjectConfig(task_type="rubric", criteria=criteria))
    import_file(db, project, path)
    return project


def logged_in(db, name: str = "ann", role: str = "annotator", project: str | None = None) -> AppTest:
    _, token = add_annotator(db, name, role)
    at = AppTest.from_file(APP, default_timeout=30)
    if project:
        at.session_state["project"] = project
    at.query_params["token"] = token
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def label_events(db, project_id: int):
    return storage.labels.label_events_frame(storage.cursor(db), project_id)


def test_pairwise_login_label_and_next_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    assert not at.exception and "token" not in at.query_params
    assert "Prompt number 0" in texts(at) and "secret-model" not in texts(at)
    at = click(click(at, "A is much better"), "Submit")
    assert not at.exception
    assert "Prompt number 1" in texts(at)
    events = label_events(app_db, project.id)
    assert events["kind"].tolist() == ["label"] and events["seconds"].iloc[0] >= 0
    expected = -2.0 if events["presented_order"].iloc[0] == "AB" else 2.0
    assert events["label_values"].iloc[0][0]["value"] == expected


def test_rubric_login_label_and_next_item(app_db, tmp_path):
    project = add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="rubric")
    assert "Rubric task 0" in texts(at)
    for radio in at.radio:
        radio.set_value(3)
    at = click(at.run(), "Submit")
    assert not at.exception and "Rubric task 1" in texts(at)
    values = label_events(app_db, project.id)["label_values"].iloc[0]
    assert sorted((v["aspect"], v["value"]) for v in values) == [("accuracy", 3.0), ("style", 3.0)]


def test_submit_without_choice_warns_and_records_nothing(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = click(logged_in(app_db), "Submit")
    assert at.warning and label_events(app_db, project.id).empty


def test_skip_with_reason_moves_to_next_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = click(logged_in(app_db), "Skip")
    at.text_input[0].set_value("Off-topic for me")
    at = click(at, "Confirm skip")
    assert "Prompt number 1" in texts(at)
    events = label_events(app_db, project.id)
    assert events[["kind", "note"]].values.tolist() == [["skip", "Off-topic for me"]]


def test_flag_with_comment_keeps_the_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = click(logged_in(app_db), "Flag")
    at.text_input[0].set_value("Prompt is truncated")
    at = click(at, "Send flag")
    assert "Prompt number 0" in texts(at)
    events = label_events(app_db, project.id)
    assert events[["kind", "note"]].values.tolist() == [["flag", "Prompt is truncated"]]


def test_edit_from_history_supersedes_label(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = click(click(logged_in(app_db), "Tie"), "Submit")
    at.switch_page("pages/history.py").run()
    assert "q0" in texts(at) and "overall: Tie" in texts(at)
    at = click(at, "Edit")
    assert "Prompt number 0" in texts(at) and at.info
    at.switch_page("pages/label.py")  # AppTest reruns the page it last switched to, not st.switch_page's
    at = click(click(at, "B is slightly better"), "Save edit")
    assert not at.exception and "Prompt number 1" in texts(at)
    events = label_events(app_db, project.id)
    assert events["kind"].tolist() == ["label", "label"]
    assert events["supersedes"].iloc[1] == events["event_id"].iloc[0]


def guarded_pages(role: str) -> list[str]:
    """Page scripts whose first action is require_role(role) (researcher pages are added by others)."""
    pages = sorted(Path(APP).parent.glob("pages/*.py"))
    return [str(p) for p in pages if f'require_role("{role}")' in p.read_text()]


@pytest.mark.parametrize("script", guarded_pages("researcher") + guarded_pages("admin"), ids=lambda s: Path(s).name)
def test_annotator_opening_a_researcher_or_admin_page_directly_is_refused(app_db, script):
    annotator, _ = add_annotator(app_db, "ann")
    at = AppTest.from_file(script, default_timeout=30)
    at.session_state["user"] = annotator
    at.run()
    assert not at.exception
    assert "needs the" in at.error[0].value
    assert len(at.main.children) == 1  # nothing but the refusal


def test_annotator_navigation_offers_no_researcher_or_admin_pages(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        logged_in(app_db).switch_page("pages/admin.py")
    admin = logged_in(app_db, "boss", "admin")
    admin.switch_page("pages/admin.py").run()
    assert any(h.value == "Annotators" for h in admin.header)


def test_admin_creates_annotator_and_sees_invite_once(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    at = logged_in(app_db, "boss", "admin")
    at.switch_page("pages/admin.py").run()
    at.text_input[0].set_value("carol")
    at = next(b for b in at.button if b.label == "Create and invite").click().run()
    link = next(c.value for c in at.code)
    assert "?token=" in link
    at.run()
    assert not at.code


def test_wrong_token_is_refused(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    add_annotator(app_db, "ann")
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["token"] = "not-a-real-token"
    at.run()
    assert "not valid" in at.error[0].value
    assert "Prompt number 0" not in texts(at) and at.text_input[0].label == "Invite token"
