"""The Export page from the app's entry point: researchers only; preview, counts, download."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling.annotators import add_annotator

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def logged_in(db, role: str) -> AppTest:
    _, token = add_annotator(db, f"a-{role}", role)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = "pandalm"
    at.query_params["token"] = token
    return at.run()


def test_dpo_leaves_out_ties_by_default_and_counts_what_each_filter_removed(pandalm, db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = logged_in(db, "researcher").switch_page("pages/export.py").run()
    assert not at.exception
    next(b for b in at.button if b.label == "Build export").click()
    at.run()
    assert not at.exception
    counts = at.dataframe[0].value.set_index("step")
    assert counts["rows"].to_dict() == {"Items in the project": 999, "Items (and aspects) with a final label": 999,
                                        "Ties excluded": 894, "'Both bad' pairs excluded": 894, "Rows exported": 894}
    assert counts.loc["Ties excluded", "removed"] == "105"
    assert counts.loc["'Both bad' pairs excluded", "removed"] == "0"
    assert counts.loc["Rows exported", "removed"] == ""
    assert len(at.dataframe[1].value) == 20
    assert any("Preview (first 20 of 894 rows)" in h.value for h in at.subheader)
    assert [b.proto.label for b in at.get("download_button")] == ["Download dpo.jsonl"]


def test_ticking_include_ties_brings_the_ties_back(pandalm, db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = logged_in(db, "researcher").switch_page("pages/export.py").run()
    next(c for c in at.checkbox if c.label == "Include ties in DPO pairs").check()
    next(c for c in at.checkbox if c.label == "Include 'both bad' pairs in DPO").check()
    next(b for b in at.button if b.label == "Build export").click()
    at.run()
    assert not at.exception
    counts = at.dataframe[0].value.set_index("step")["rows"].to_dict()
    assert counts == {"Items in the project": 999, "Items (and aspects) with a final label": 999,
                      "Rows exported": 999}


def test_annotators_cannot_open_the_export_page(pandalm, db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = logged_in(db, "annotator")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/export.py")
