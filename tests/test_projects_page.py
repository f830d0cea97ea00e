"""Admins manage projects: counts, create (pairwise or rubric), import an uploaded file with a
preview before anything is written, edit the config, archive and delete."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.data.adapters import import_upload
from annotate.labeling.annotators import add_annotator
from annotate.errors import ImportDataError
from annotate.projects import get_project, list_project_status, project_names
from storage import projects as project_store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def admin_app(db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "boss", "admin")
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["token"] = token
    at.run()
    return at.switch_page("pages/projects.py").run()


def widget(items, label: str):
    return next(w for w in items if w.label == label)


def click(at, label: str):
    return widget(at.button, label).click().run()


def test_admin_creates_a_project_that_appears_at_once_and_edits_its_config(db, admin_app):
    at = admin_app
    widget(at.text_input, "Name").set_value("new-eval")
    widget(at.number_input, "Human labels per item").set_value(2)
    widget(at.text_area, "Guidelines for annotators").set_value("Be kind")
    at = click(at, "Create")
    assert not at.error and "Created pairwise project 'new-eval'." in at.success[0].value
    assert get_project(db, "new-eval").config.overlap == 2
    assert at.dataframe[0].value["Project"].tolist() == ["new-eval"]  # the table, redrawn at once
    editor = widget(at.text_area, "Config (JSON)")
    editor.set_value(json.dumps(json.loads(editor.value) | {"overlap": 4}))
    at = click(at, "Save")
    assert not at.error and get_project(db, "new-eval").config.overlap == 4


def test_admin_creates_a_rubric_project_with_yaml_criteria(db, admin_app):
    at = admin_app
    widget(at.text_input, "Name").set_value("graded")
    widget(at.radio, "Task type").set_value("rubric")
    widget(at.text_area, "Criteria (rubric; YAML or JSON)").set_value("- name: relevance\n  scale: 0-3\n")
    at = click(at, "Create")
    assert not at.error
    config = get_project(db, "graded").config
    assert config.task_type == "rubric" and list(config.criterion("relevance").scores) == [0, 1, 2, 3]


def test_invalid_project_config_shows_the_field_and_creates_nothing(db, admin_app):
    at = admin_app
    widget(at.text_input, "Name").set_value("broken")
    widget(at.radio, "Task type").set_value("rubric")
    at = click(at, "Create")
    assert "a rubric project needs at least one criterion" in at.error[0].value
    assert project_store.get_project(storage.cursor(db), "broken") is None


def test_uploaded_file_imports_under_its_own_name_and_reports_errors_with_it(db):
    rows = b'{"id": "1", "prompt": "q", "response_a": "a", "response_b": "b"}\n'
    report = import_upload(db, "uploaded", "my data.jsonl", rows)
    assert report.items == 1
    assert list_project_status(db).set_index("project").loc["uploaded", "items"] == 1
    with pytest.raises(ImportDataError, match=r"my data\.jsonl line 1, field 'response_b': missing"):
        import_upload(db, "uploaded", "my data.jsonl", b'{"id": "2", "prompt": "q", "response_a": "a"}\n')
    with pytest.raises(ImportDataError, match="no name"):
        import_upload(db, "uploaded", "..", rows)


def test_a_dry_run_upload_previews_rows_as_stored_and_writes_nothing(db):
    rows = b'{"qid": "7", "q": "Why?", "x": "yes", "y": "no", "alice": "B", "topic": "math"}\n'
    from annotate.data.importers import parse_mapping
    mapping = parse_mapping(["id=qid", "prompt=q", "response_a=x", "response_b=y", "human.alice=alice"])
    report = import_upload(db, "up", "d.jsonl", rows, mapping=mapping, dry_run=True)
    assert report.items == 1 and report.labels_per_rater == {"import:alice": 1}
    assert report.preview == [{"item": "7", "prompt": "Why?", "response A": "yes", "response B": "no",
                               "metadata": "topic = math", "labels": "import:alice: B is slightly better", "judges": ""}]
    assert project_names(db, include_archived=True) == []


def test_archive_hides_a_project_and_delete_needs_its_typed_name(db, admin_app):
    import_upload(db, "old", "d.jsonl", b'{"id": "1", "prompt": "q", "response_a": "a", "response_b": "b"}\n')
    at = admin_app.run()
    at = click(at, "Archive (hide it; keep every label)")
    assert "Archived 'old'." in at.success[0].value and project_names(db) == []
    assert "Archived (hidden from annotators; data kept): old" in at.caption[0].value
    assert widget(at.button, "Delete for good").disabled
    widget(at.text_input, "Type old to delete it").set_value("old")
    at = at.run()
    at = click(at, "Delete for good")
    assert "Deleted 'old' (1 items)." in at.success[0].value
    assert project_names(db, include_archived=True) == []


def test_a_new_project_appears_in_the_sidebar_at_once_and_the_import_field_keeps_what_was_typed(db, admin_app):
    import_upload(db, "first", "d.jsonl", b'{"id": "1", "prompt": "q", "response_a": "a", "response_b": "b"}\n')
    at = admin_app.run()
    widget(at.text_input, "Name").set_value("second")
    at = click(at, "Create")
    project_boxes = [s for s in at.selectbox if s.label == "Project"]  # the sidebar's and the config editor's
    assert len(project_boxes) == 2 and all("second" in s.options for s in project_boxes)
    widget(at.text_input, "Project (a new name creates a pairwise project)").set_value("my-new-eval")
    at = click(at, "Preview (writes nothing)")
    assert "Choose a file first." in at.warning[0].value
    at = click(at, "Create")  # another run of the page (the form is empty: a named error)
    assert widget(at.text_input, "Project (a new name creates a pairwise project)").value == "my-new-eval"
