"""The review queue end to end on the demo: flag -> resolve; split -> adjudicate -> export;
re-queue for more labels; one item in full; the CLI and the Review page."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.data import export
from annotate.data.dataset_card import render_card
from annotate.data.demo import create_demo
from annotate.errors import AnnotateError
from annotate.labeling import review
from annotate.labeling.annotators import add_annotator, get_annotator
from annotate.labeling.queue import get_queue
from annotate.projects import get_project
from storage import items as item_store

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAIRWISE = "demo-pairwise"


@pytest.fixture
def demo(db):
    create_demo(db)
    add_annotator(db, "rita", "researcher")
    return db


def dpo_row(conn, item: str) -> dict:
    rows = export.build_export(conn, PAIRWISE, "dpo").rows
    return rows[rows["id"] == item].iloc[0].to_dict()


def test_queue_lists_the_demo_flag_skip_splits_and_judge_disagreements(demo):
    queue = review.review_queue(demo, PAIRWISE)
    counts = queue.counts.set_index("reason")["open"].to_dict()
    assert counts == {"flagged": 1, "skipped": 1, "split": 8, "judge_disagrees": 7}
    items = queue.items.set_index("id")
    assert "Should we judge the translation" in items.loc["pw-17", "flags"]
    assert "chen:" in items.loc["pw-27", "skips"]
    assert items.loc["pw-03", "human_majority"] == "none" and items.loc["pw-03", "human_labels"] == "A 1 · B 1"
    assert set(queue.annotators.loc[queue.annotators["is_low"], "annotator"]) == {"chen"}


def test_filters_keep_one_reason_and_one_annotator(demo):
    flagged = review.review_queue(demo, PAIRWISE, reasons=("flagged",))
    assert flagged.items["id"].tolist() == ["pw-17"]
    by_chen = review.review_queue(demo, PAIRWISE, annotator="chen")
    assert "pw-27" in set(by_chen.items["id"]) and "pw-01" not in set(by_chen.items["id"])
    with pytest.raises(AnnotateError, match="Unknown review reason"):
        review.review_queue(demo, PAIRWISE, reasons=("bogus",))


def test_flag_is_resolved_with_a_note_and_leaves_the_open_queue(demo):
    review.resolve_item(demo, PAIRWISE, "pw-17", "rita", "Guidelines now say: judge the translation only.")
    assert "pw-17" not in set(review.review_queue(demo, PAIRWISE).items["id"])
    closed = review.review_queue(demo, PAIRWISE, status="closed").items.set_index("id")
    assert closed.loc["pw-17", "status"] == "closed"
    actions = review.review_item(demo, PAIRWISE, "pw-17").actions
    assert actions[["researcher", "action", "note"]].values.tolist() == [
        ["rita", "resolve", "Guidelines now say: judge the translation only."]]


def test_resolving_needs_a_note_and_a_researcher(demo):
    with pytest.raises(AnnotateError, match="needs a note"):
        review.resolve_item(demo, PAIRWISE, "pw-17", "rita", "  ")
    with pytest.raises(AnnotateError, match="not an active researcher"):
        review.resolve_item(demo, PAIRWISE, "pw-17", "demo-annotator", "ok")
    with pytest.raises(AnnotateError, match="No item 'nope'"):
        review.resolve_item(demo, PAIRWISE, "nope", "rita", "ok")


def test_split_adjudicated_label_is_exported_with_its_provenance(demo):
    before = dpo_row(demo, "pw-03")
    assert before["source"] == "human" and before["label"] == 0  # one A vote, one B vote: a tie
    review.adjudicate_item(demo, PAIRWISE, "pw-03", "rita", {"overall": 2}, note="B keeps a default delay")
    after = dpo_row(demo, "pw-03")
    assert after["source"] == "adjudicated" and after["label"] == 2
    assert after["chosen_model"] == "model-beta" and after["p_chosen"] == 1.0
    assert after["n_annotators"] == 2  # the humans' count stays beside the adjudicated label
    result = export.build_export(demo, PAIRWISE, "dpo")
    assert result.summary["sources"]["adjudicated"] == 1
    assert "'adjudicated' rows carry a researcher's final label" in render_card(result, "dpo-jsonl")
    assert review.review_queue(demo, PAIRWISE, status="closed").items.set_index("id").loc[
        "pw-03", "adjudicated"] == "by rita"
    report = build_report(demo, PAIRWISE, ReportFilters(n_boot=0))
    assert report.reference["items_adjudicated"] == 1 and report.reference["adjudicators"] == ["rita"]
    assert report.overview["annotators"] == 3  # the adjudicator is not counted as an annotator


def test_split_dropped_by_policy_keeps_the_humans_count_beside_its_adjudicated_label(demo):
    from annotate.projects import update_config
    update_config(demo, PAIRWISE, {"split_policy": "drop"})
    assert "pw-03" not in set(export.build_export(demo, PAIRWISE, "dpo").rows["id"])  # A 1 : B 1, dropped
    review.adjudicate_item(demo, PAIRWISE, "pw-03", "rita", {"overall": 2})
    after = dpo_row(demo, "pw-03")
    assert after["source"] == "adjudicated" and after["label"] == 2
    assert after["n_annotators"] == 2 and after["agreement"] == 0.0  # as under the 'tie' policy


def test_a_gold_rater_is_not_a_human_vote_in_the_queue(db_path, tmp_path):
    from click.testing import CliRunner
    from annotate.cli import cli
    data = tmp_path / "gold.jsonl"
    data.write_text('{"id": "g1", "prompt": "p", "a": "x", "b": "y", "h": "A", "g": "B", "j": "A"}\n')
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(data), "-p", "gp", "--map", "response_a=a",
                                      "--map", "response_b=b", "--map", "human.h=h", "--map", "gold=g",
                                      "--map", "judge.J=j"])
    assert result.exit_code == 0, result.output
    conn = storage.connect(db_path)
    try:
        queue = review.review_queue(conn, "gp")
    finally:
        conn.close()
    # One human said A; the gold answer B is a reference, not a second vote that splits the item.
    assert queue.counts.set_index("reason")["total"].to_dict()["split"] == 0
    assert "gold" not in set(queue.annotators["annotator"])


def test_a_second_adjudication_by_the_same_researcher_replaces_the_first(demo):
    review.adjudicate_item(demo, PAIRWISE, "pw-03", "rita", {"overall": 2})
    review.adjudicate_item(demo, PAIRWISE, "pw-03", "rita", {"overall": -1})
    assert dpo_row(demo, "pw-03")["label"] == -1
    events = review.events_table(review.review_item(demo, PAIRWISE, "pw-03"))
    assert events.loc[events["Rater"] == "adjudicator", "Status"].tolist() == ["superseded by an edit", "current"]


def test_an_annotator_of_the_item_cannot_adjudicate_it(demo):
    project = get_project(demo, PAIRWISE)
    from annotate.labeling.labels import record_label
    item_id = item_store.item_id_for(storage.cursor(demo), project.id, "pw-30")
    record_label(demo, project, get_annotator(demo, "rita")["id"], item_id, {"overall": 1})
    with pytest.raises(AnnotateError, match="rita labeled item 'pw-30' as an annotator"):
        review.adjudicate_item(demo, PAIRWISE, "pw-30", "rita", {"overall": 1})


def open_for_newcomer(conn, item: str) -> bool:
    project = get_project(conn, PAIRWISE)
    cur = storage.cursor(conn)
    queue = get_queue(conn, cur, project.id)
    newcomer = get_annotator(conn, "demo-annotator")["id"]
    return bool(queue.open_mask(newcomer, [], project.config.overlap)[
        queue.position[item_store.item_id_for(cur, project.id, item)]])


def test_adjudication_does_not_count_toward_k(demo):
    assert open_for_newcomer(demo, "pw-30")  # unlabeled
    review.adjudicate_item(demo, PAIRWISE, "pw-30", "rita", {"overall": 1})
    review.adjudicate_item(demo, PAIRWISE, "pw-30", "admin", {"overall": 1})
    assert open_for_newcomer(demo, "pw-30")  # two adjudications, still 0 of k=2 human labels


def test_requeue_serves_a_full_item_again_until_it_has_the_extra_labels(demo):
    assert not open_for_newcomer(demo, "pw-01")  # 2 labels = k
    review.requeue_item(demo, PAIRWISE, "pw-01", "rita", more=1)
    assert open_for_newcomer(demo, "pw-01")
    project = get_project(demo, PAIRWISE)
    from annotate.labeling.labels import record_label
    item_id = item_store.item_id_for(storage.cursor(demo), project.id, "pw-01")
    record_label(demo, project, get_annotator(demo, "admin")["id"], item_id, {"overall": -2})
    assert not open_for_newcomer(demo, "pw-01")  # got its one extra label


def test_opening_an_item_shows_models_orders_times_and_both_judge_orders(demo):
    item = review.review_item(demo, PAIRWISE, "pw-03")
    assert [(r["letter"], r["model"]) for r in item.item["responses"]] == [("A", "model-delta"), ("B", "model-beta")]
    events = review.events_table(item)
    assert events["Annotator"].tolist() == ["alice", "bob"]
    assert events["Label"].tolist() == ["A is slightly better", "B is slightly better"]
    assert set(events["Order shown"]) <= {"A left, B right", "B left, A right"}
    assert events["Justification or note"].str.len().gt(0).all() and events["Time (UTC)"].notna().all()
    judged = review.judgments_table(item)
    assert sorted(zip(judged["Judge"], judged["Order shown"])) == [
        ("judge-large", "A first, B second"), ("judge-large", "B first, A second"),
        ("judge-small", "A first, B second"), ("judge-small", "B first, A second")]
    assert item.combined.set_index("judge").loc["judge-large", "is_inconsistent"]


def test_rubric_queue_and_adjudication(demo):
    queue = review.review_queue(demo, "demo-rubric")
    assert set(queue.items["id"]) == {"rb-04", "rb-05", "rb-08", "rb-09"}
    scores = {"helpfulness": 3, "correctness": 4, "clarity": 3}
    review.adjudicate_item(demo, "demo-rubric", "rb-05", "rita", {0: scores})
    rows = export.build_export(demo, "demo-rubric", "rubric").rows.set_index("id")
    assert rows.loc["rb-05", ["helpfulness", "correctness", "clarity", "source"]].tolist() == [3, 4, 3, "adjudicated"]


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", "--db", str(db_path), *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_lists_resolves_and_adjudicates(demo, db_path, tmp_path):
    demo.close()
    listed = cli(db_path, "review", "list", "-p", PAIRWISE, "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert {c["reason"]: c["open"] for c in data["counts"]}["flagged"] == 1
    assert cli(db_path, "review", "resolve", "-p", PAIRWISE, "pw-17", "--by", "rita", "--note", "ok").returncode == 0
    done = cli(db_path, "review", "adjudicate", "-p", PAIRWISE, "pw-03", "--by", "rita", "--label", "B")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "dpo.jsonl"
    assert cli(db_path, "export", "-p", PAIRWISE, "--format", "dpo-jsonl", "--out", str(out)).returncode == 0
    row = next(r for r in map(json.loads, out.read_text().splitlines()) if r["id"] == "pw-03")
    assert row["source"] == "adjudicated" and row["chosen_model"] == "model-beta"
    bad = cli(db_path, "review", "adjudicate", "-p", PAIRWISE, "pw-03", "--by", "rita", "--label", "C")
    assert bad.returncode == 1 and "--label 'C': use A, B, tie or a signed whole number" in bad.stderr
    closed = json.loads(cli(db_path, "review", "list", "-p", PAIRWISE, "--status", "closed", "--json").stdout)
    assert {i["id"] for i in closed["items"]} == {"pw-17", "pw-03"}


def test_review_page_adjudicates_a_split_item(demo, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(demo, "rachel", "researcher")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = PAIRWISE
    at.query_params["token"] = token
    at = at.run().switch_page("pages/review.py").run()
    assert not at.exception
    assert [m.label for m in at.metric][:2] == ["Flagged", "Skipped"]
    item_box = next(s for s in at.selectbox if s.label == "Open item")
    item_box.set_value("pw-03").run()
    assert any("model-delta" in m.value for m in at.markdown)
    next(r for r in at.radio if r.label == "Final label: overall").set_value(2)
    next(b for b in at.button if b.label == "Save final label").click().run()
    assert not at.exception
    assert dpo_row(demo, "pw-03")["source"] == "adjudicated"


def test_review_page_on_a_rubric_project_shows_scores_and_no_pairwise_columns(demo, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(demo, "rachel", "researcher")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = "demo-rubric"
    at.query_params["token"] = token
    at = at.run().switch_page("pages/review.py").run()
    assert not at.exception
    assert "human_majority" not in at.dataframe[0].value.columns
    assert any("Judges' scores" in m.value for m in at.markdown)
    assert len([s for s in at.select_slider if s.label.startswith("Response 1:")]) == 3


def test_a_project_with_a_flag_and_judges_but_no_human_label_lists_the_flag(db_path, tmp_path):
    """A fresh study project: judges' verdicts and a flag, no human label anywhere yet."""
    from click.testing import CliRunner
    from annotate.cli import cli
    from annotate.labeling.assignment import flag_item, next_item
    data = tmp_path / "fresh.jsonl"
    data.write_text("".join(f'{{"id": "f{i}", "prompt": "p{i}", "a": "x", "b": "y", "j": "A"}}\n' for i in range(3)))
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(data), "-p", "fresh", "--map",
                                      "response_a=a", "--map", "response_b=b", "--map", "judge.J=j"])
    assert result.exit_code == 0, result.output
    conn = storage.connect(db_path)
    try:
        annotator_id = add_annotator(conn, "ann", "annotator")[0]["id"]
        project = get_project(conn, "fresh")
        shown = next_item(conn, project, annotator_id)
        flag_item(conn, project, annotator_id, shown.item_id, "The prompt is cut off")
        queue = review.review_queue(conn, "fresh")
    finally:
        conn.close()
    assert queue.counts.set_index("reason")["open"].to_dict()["flagged"] == 1
