"""Admins manage projects: counts, create, import an uploaded file, edit the config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.data.adapters import import_upload
from annotate.labeling.annotators import add_annotator
from annotate.errors import ImportDataError
from annotate.projects import get_project, list_project_status
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


def test_admin_creates_a_project_and_edits_its_config(db, admin_app):
    at = admin_app
    at.text_input[0].set_value("new-eval")
    at.text_area[0].set_value(json.dumps({"overlap": 2, "guidelines": "Be kind"}))
    at = next(b for b in at.button if b.label == "Create").click().run()
    assert not at.error
    assert get_project(db, "new-eval").config.overlap == 2
    editor = next(t for t in at.text_area if t.label == "Config (JSON)")
    config = json.loads(editor.value) | {"overlap": 4}
    editor.set_value(json.dumps(config))
    at = next(b for b in at.button if b.label == "Save").click().run()
    assert not at.error and get_project(db, "new-eval").config.overlap == 4


def test_invalid_project_config_shows_the_field_and_creates_nothing(db, admin_app):
    at = admin_app
    at.text_input[0].set_value("broken")
    at.text_area[0].set_value(json.dumps({"overlap": 0}))
    at = next(b for b in at.button if b.label == "Create").click().run()
    assert "field 'overlap'" in at.error[0].value
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
