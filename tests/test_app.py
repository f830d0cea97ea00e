"""The app from its entry point (AppTest): login, labeling, skip, flag, edit, roles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX

from annotate.labeling import auth, forms
from annotate.labeling.annotators import add_annotator, set_active
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
    """The app run once with `name` logged in (a session from their invite token)."""
    _, token = add_annotator(db, name, role)
    at = AppTest.from_file(APP, default_timeout=30)
    if project:
        at.session_state["project"] = project
    at.session_state["user"] = auth.login(db, token, "127.0.0.1")
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def controls(at: AppTest):
    """The label controls component's element (pages/components/label_keys)."""
    return at.get("bidi_component")[0].proto


def controls_data(at: AppTest) -> dict:
    proto = controls(at)
    return json.loads(proto.mixed.json if proto.WhichOneof("data") == "mixed" else proto.json)


def send(at: AppTest, kind: str, data: dict | None = None, **fields) -> AppTest:
    """Send one action message from the label controls, as the browser does (the "action" trigger),
    for the form on screen unless `data` names another one; return the app after the rerun."""
    data = data or controls_data(at)
    states = at._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{controls(at).id}__events"
    message = {"type": kind, "nonce": data["nonce"], "item_id": data["item_id"], **fields}
    trigger.json_trigger_value = json.dumps([{"event": "action", "value": message}])
    return at._run(states)


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def label_events(db, project_id: int):
    return storage.labels.label_events_frame(storage.cursor(db), project_id)


def test_pairwise_login_label_and_next_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    assert not at.exception
    assert "Prompt number 0" in texts(at) and "secret-model" not in texts(at)
    at = send(at, "submit", values={"overall": -2})
    assert not at.exception
    progress = at.get("progress")[0].proto.text
    assert "Prompt number 1" in texts(at) and "Saved item 1 of your history" in progress and "· 2 left" in progress
    events = label_events(app_db, project.id)
    assert events["kind"].tolist() == ["label"] and events["seconds"].iloc[0] >= 0
    expected = -2.0 if events["presented_order"].iloc[0] == "AB" else 2.0
    assert events["label_values"].iloc[0][0]["value"] == expected


def test_rubric_login_label_and_next_item(app_db, tmp_path):
    project = add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="rubric")
    assert "Rubric task 0" in texts(at)
    assert [r["key"] for r in controls_data(at)["rows"]] == ["0:accuracy", "0:style"]
    at = send(at, "submit", values={"0:accuracy": 3, "0:style": 3})
    assert not at.exception and "Rubric task 1" in texts(at)
    values = label_events(app_db, project.id)["label_values"].iloc[0]
    assert sorted((v["aspect"], v["value"]) for v in values) == [("accuracy", 3.0), ("style", 3.0)]


def test_submit_without_choice_is_refused_visibly_and_records_nothing(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = send(logged_in(app_db), "submit", values={"overall": None})
    assert "choose a value" in at.error[0].value and label_events(app_db, project.id).empty
    assert "Prompt number 0" in texts(at)


def test_a_submit_for_an_item_no_longer_on_screen_is_refused_and_a_repeat_is_a_duplicate(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    first = controls_data(at)
    at = send(at, "submit", values={"overall": 1})
    at = send(at, "submit", first, values={"overall": -2})  # the same message again (a double Ctrl+Enter)
    assert at.error[0].value == forms.DUPLICATE_MESSAGE
    on_screen = controls_data(at)
    at = send(at, "submit", {"nonce": "an-old-form", "item_id": on_screen["item_id"]}, values={"overall": 0})
    assert at.error[0].value == forms.STALE_MESSAGE
    assert len(label_events(app_db, project.id)) == 1 and controls_data(at)["nonce"] == on_screen["nonce"]


def test_skip_with_reason_moves_to_next_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = send(logged_in(app_db), "skip", note="Off-topic for me")
    assert "Prompt number 1" in texts(at)
    events = label_events(app_db, project.id)
    assert events[["kind", "note"]].values.tolist() == [["skip", "Off-topic for me"]]


def test_flag_with_comment_keeps_the_item(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = send(logged_in(app_db), "flag", note="Prompt is truncated")
    assert "Prompt number 0" in texts(at)
    events = label_events(app_db, project.id)
    assert events[["kind", "note"]].values.tolist() == [["flag", "Prompt is truncated"]]


def test_highlighting_redraws_the_same_form_with_the_differences(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    before = controls_data(at)
    at = send(at, "diff", on=True)
    assert controls_data(at)["nonce"] == before["nonce"] and controls_data(at)["diff"] == {"on": True}
    assert ":orange-background[" in texts(at)


def test_edit_from_history_supersedes_label_and_names_the_item_by_its_ordinal(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    at = send(logged_in(app_db), "submit", values={"overall": 0})
    at.switch_page("pages/history.py").run()
    assert "Item 1 of your history" in texts(at) and "overall\\: Tie" in texts(at) and "q0" not in texts(at)
    at = click(at, "Edit")
    at.switch_page("pages/label.py").run()  # AppTest reruns the page it last switched to, not st.switch_page's
    assert "Prompt number 0" in texts(at) and at.info[0].value.startswith("Editing your label of item 1 of your history")
    assert controls_data(at)["rows"][0]["value"] == 0 and controls_data(at)["mode"] == "edit"
    at = send(at, "submit", values={"overall": 1})
    assert not at.exception and "Prompt number 1" in texts(at)
    events = label_events(app_db, project.id)
    assert events["kind"].tolist() == ["label", "label"]
    assert events["supersedes"].iloc[1] == events["event_id"].iloc[0]


def test_an_action_after_the_annotator_was_deactivated_stores_nothing_and_logs_out(app_db, tmp_path):
    """The action callback and the fragment check the session themselves (issue 17 section 5)."""
    project = add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    set_active(app_db, "ann", False)
    at = send(at, "submit", values={"overall": 1})
    assert label_events(app_db, project.id).empty
    assert "Prompt number 0" not in texts(at) and not at.get("bidi_component")


def test_a_redraw_of_the_item_alone_checks_the_session_too(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    at = logged_in(app_db)
    set_active(app_db, "ann", False)
    at = send(at, "diff", on=True)  # only the fragment reruns in a browser
    assert "Prompt number 0" not in texts(at) and not at.get("bidi_component")


def test_the_history_edit_button_checks_the_session_before_reopening_a_label(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    at = send(logged_in(app_db), "submit", values={"overall": 0})
    at.switch_page("pages/history.py").run()
    set_active(app_db, "ann", False)
    at = click(at, "Edit")
    assert "editing_event" not in at.session_state and not at.get("bidi_component")


def guarded_pages(role: str) -> list[str]:
    """Page scripts whose first action is require_role(role) (researcher pages are added by others)."""
    pages = sorted(Path(APP).parent.glob("pages/*.py"))
    return [str(p) for p in pages if f'require_role("{role}")' in p.read_text()]


@pytest.mark.parametrize("script", guarded_pages("researcher") + guarded_pages("admin"), ids=lambda s: Path(s).name)
def test_annotator_opening_a_researcher_or_admin_page_directly_is_refused(app_db, script):
    _, token = add_annotator(app_db, "ann")
    at = AppTest.from_file(script, default_timeout=30)
    at.session_state["user"] = auth.login(app_db, token, "127.0.0.1")
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
