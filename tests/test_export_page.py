"""The Export page from the app's entry point: researchers only; preview, counts, download."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling.annotators import add_annotator

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def logged_in(db, role: str) -> AppTest:
    _, token = add_annotator(db, f"a-{role}", role)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = "pandalm"
    at.query_params["token"] = token
    return at.run()


def test_researcher_previews_counts_and_downloads(pandalm, db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = logged_in(db, "researcher").switch_page("pages/export.py").run()
    assert not at.exception
    next(c for c in at.checkbox if c.label == "Exclude ties").check()
    next(b for b in at.button if b.label == "Build export").click()
    at.run()
    assert not at.exception
    counts = at.dataframe[0].value
    assert counts.set_index("step")["rows"].to_dict() == {"items": 999, "final_labels": 999,
                                                          "exclude_ties": 894, "rows": 894}
    assert len(at.dataframe[1].value) == 20
    assert any("Preview (first 20 of 894 rows)" in h.value for h in at.subheader)
    assert [b.proto.label for b in at.get("download_button")] == ["Download dpo.jsonl"]


def test_annotators_cannot_open_the_export_page(pandalm, db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = logged_in(db, "annotator")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/export.py")
