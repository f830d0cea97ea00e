"""The demo fills every researcher page on first start and still leaves a queue for demo-annotator."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import storage
from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.data.demo import DEMO_RATERS, PAIRWISE_PROJECT, RUBRIC_PROJECT, create_demo, is_demo_needed
from annotate.labeling.annotators import get_annotator
from annotate.labeling.queue import get_queue
from annotate.projects import get_project
from storage import judgments as judgment_store, labels as label_store

pytestmark = pytest.mark.both_backends


def test_pairwise_demo_has_several_annotators_a_flag_a_skip_and_two_judges_in_both_orders(db):
    create_demo(db)
    project = get_project(db, PAIRWISE_PROJECT)
    cur = storage.cursor(db)
    events = label_store.label_events_frame(cur, project.id)
    labels = events[events["kind"] == "label"]
    assert set(labels["annotator"]) == set(DEMO_RATERS) and len(labels) == 48
    assert events["kind"].value_counts()[["flag", "skip"]].tolist() == [1, 1]
    assert labels["presented_order"].isin(["AB", "BA"]).all() and labels["justification"].notna().all()
    judgments = judgment_store.judgments_frame(cur, project.id)
    per_judge = judgments.groupby(["judge", "presented_order"]).size().to_dict()
    assert per_judge == {(j, o): 40 for j in ("judge-large", "judge-small") for o in ("AB", "BA")}
    report = build_report(db, PAIRWISE_PROJECT, ReportFilters(n_boot=50))
    judges = report.judges.set_index("rater")
    assert np.isfinite(judges.loc[["judge-large", "judge-small"], "majority_agreement"]).all()
    assert report.overview["items_without_majority"] > 0  # some disagreement to review
    assert not report.position.empty and not report.ratings.empty


def test_rubric_demo_has_two_annotators_and_a_judge(db):
    create_demo(db)
    report = build_report(db, RUBRIC_PROJECT, ReportFilters(aspect="correctness", n_boot=0))
    assert report.overview["annotators"] == 2 and report.overview["judges"] == 1
    assert set(report.pairs["rater_a"]) | set(report.pairs["rater_b"]) == {"alice", "bob", "judge-large"}


def test_demo_annotator_still_has_unlabeled_items_to_label(db):
    create_demo(db)
    newcomer = get_annotator(db, "demo-annotator")["id"]
    for name, expected in ((PAIRWISE_PROJECT, 16), (RUBRIC_PROJECT, 8)):
        project = get_project(db, name)
        queue = get_queue(db, storage.cursor(db), project.id)
        assert queue.open_mask(newcomer, [], project.config.overlap).sum() == expected
    assert not is_demo_needed(db)


def test_a_fresh_database_prints_the_demo_links_on_the_servers_own_address(tmp_path, monkeypatch, capfd):
    """Not on the first visitor's: whoever reaches the server first sets that address."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(tmp_path / "fresh.duckdb"))
    monkeypatch.delenv("ANNOTATE_BASE_URL", raising=False)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
    assert not at.exception
    out = capfd.readouterr().out
    assert "Created the demo projects" in out
    links = [line.split(": ", 1)[1] for line in out.splitlines() if "?token=" in line]
    assert len(links) == 2 and all(link.startswith("http://localhost:8501/?token=") for link in links)
