"""The agreement report from the store: PandaLM's published kappas, judges vs the human ceiling,
slices, bias, the CLI's JSON and the analysis page."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling.annotators import add_annotator
from annotate.cli import cli
from annotate.config import THREE_POINT_SCALE, Criterion, ProjectConfig
from annotate.errors import AnnotateError
from annotate.data.importers import ColumnMapping, import_file
from annotate.labeling.labels import record_label, record_skip
from annotate.projects import create_project
from annotate.analysis.report import CEILING, ReportFilters, build_report
from storage import judgments as judgment_store, routing as routing_store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def pair_kappas(report) -> dict[tuple[str, str], float]:
    return {(a, b): k for a, b, k in report.pairs[["rater_a", "rater_b", "kappa"]].itertuples(index=False)}


def test_pandalm_report_reproduces_the_published_annotator_kappas(db, pandalm):
    # PandaLM README (github.com/WeOpenML/PandaLM): Cohen's kappa #1-#2 0.85, #1-#3 0.88, #2-#3 0.86.
    kappas = pair_kappas(build_report(db, "pandalm", ReportFilters(n_boot=0)))
    assert kappas[("pandalm-annotator-1", "pandalm-annotator-2")] == pytest.approx(0.85, abs=0.005)
    assert kappas[("pandalm-annotator-1", "pandalm-annotator-3")] == pytest.approx(0.88, abs=0.005)
    assert kappas[("pandalm-annotator-2", "pandalm-annotator-3")] == pytest.approx(0.86, abs=0.005)


def test_pandalm_judges_agree_with_the_majority_less_than_the_human_ceiling(db, pandalm):
    report = build_report(db, "pandalm", ReportFilters(n_boot=200, seed=1))
    table = report.judges.set_index("rater")
    print(table[["majority_n", "majority_agreement", "majority_agreement_lo", "majority_agreement_hi",
                 "majority_kappa", "pairwise_agreement"]].to_string())
    assert set(table.index) == {"gpt-3.5-turbo", "pandalm-7b", CEILING}
    # 25 gpt-3.5-turbo verdicts are unparseable ('garbage') and no PandaLM item lacks a majority.
    assert table.loc["gpt-3.5-turbo", "majority_n"] == 974 and table.loc["pandalm-7b", "majority_n"] == 999
    assert table.loc["gpt-3.5-turbo", "majority_agreement"] == pytest.approx(697 / 974)
    assert table.loc["pandalm-7b", "majority_agreement"] == pytest.approx(667 / 999)
    ceiling = table.loc[CEILING, "majority_agreement"]
    assert ceiling > table.loc["gpt-3.5-turbo", "majority_agreement_hi"]
    for rater in table.index:
        assert table.loc[rater, "majority_agreement_lo"] <= table.loc[rater, "majority_agreement"] \
            <= table.loc[rater, "majority_agreement_hi"]
    assert (report.judges["tie_policy"] == "with_ties").all()
    assert report.overview["items_without_majority"] == 0


def test_pandalm_report_is_reproducible_and_slices_on_metadata(db, pandalm):
    filters = ReportFilters(n_boot=50, seed=3, metadata=("motivation_app", "Grammarly"))
    first, again = build_report(db, "pandalm", filters), build_report(db, "pandalm", filters)
    pd.testing.assert_frame_equal(first.judges, again.judges)
    assert first.overview["items"] == 34 and first.overview["human_labels"] == 102


def test_without_ties_drops_tie_comparisons_everywhere(db, pandalm):
    report = build_report(db, "pandalm", ReportFilters(tie_policy="without_ties", n_boot=0))
    assert (report.pairs["tie_policy"] == "without_ties").all()
    assert report.human_agreement["tie_policy"] == report.fleiss["tie_policy"] == "without_ties"
    assert report.judges.set_index("rater").loc["pandalm-7b", "majority_n"] < 999
    assert report.confusion.groupby("judge")["count"].sum().to_dict() == {"gpt-3.5-turbo": 974, "pandalm-7b": 999}


def test_unknown_aspect_is_an_error(db, pandalm):
    with pytest.raises(AnnotateError, match="no aspect or criterion 'style'"):
        build_report(db, "pandalm", ReportFilters(aspect="style"))


def test_cli_agreement_json_has_pairs_judges_and_alpha(db, db_path, pandalm):
    db.close()
    result = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "--project", "pandalm", "--json",
                                      "--bootstrap", "20", "--seed", "5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    pair = next(p for p in data["pairs"] if {p["rater_a"], p["rater_b"]} ==
                {"pandalm-annotator-1", "pandalm-annotator-3"})
    assert round(pair["kappa"], 2) == 0.88 and pair["agreement"] > 0.9
    judges = {row["rater"]: row for row in data["judges"]}
    assert round(judges["pandalm-7b"]["majority_agreement"], 4) == round(667 / 999, 4)
    assert {row["level"] for row in data["alpha"]} == {"nominal", "ordinal", "interval", "ratio"}
    assert data["filters"]["tie_policy"] == "with_ties"
    bad = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "--project", "pandalm",
                                   "--tie-policy", "sometimes"])
    assert bad.exit_code != 0


# ------------------------------------------------------------------ a hand-built pairwise project

@pytest.fixture
def small(db, tmp_path):
    """Four items; B is 40+ characters longer everywhere. Humans h1, h2, h3; judge 'fair' and the
    position-biased judge 'first' (always picks what it was shown first)."""
    rows = [{"id": f"q{i}", "prompt": f"P{i}", "response_a": "short", "response_b": "long " * 10,
             "model_a": "m1", "model_b": "m2", "topic": "math" if i < 2 else "code"} for i in range(4)]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "small", ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE))
    import_file(db, project, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    items = storage.items.items_frame(storage.cursor(db), project.id)["item_id"].tolist()
    people = {name: add_annotator(db, name)[0]["id"] for name in ("h1", "h2", "h3")}
    labels = {"h1": [1, 1, 1, -1], "h2": [1, 1, 0, -1], "h3": [1, -1, 1, 1]}
    for name, values in labels.items():
        for k, (item, value) in enumerate(zip(items, values)):
            record_label(db, project, people[name], item, {"overall": value},
                         presented_order="AB" if k % 2 == 0 else "BA", seconds=10.0 + k)
    record_skip(db, project, people["h3"], items[0], "unclear")
    rows = []
    for judge, verdicts in {"fair": {"AB": "BBBA", "BA": "BBBA"}, "first": {"AB": "AAAA", "BA": "BBBB"}}.items():
        judge_id = storage.write(db, lambda c: judgment_store.get_or_create_judge(
            c, judge, "external", "{}", f"hash-{judge}", None))
        for order, letters in verdicts.items():
            rows += [{"judge_id": judge_id, "item_id": item, "aspect": "overall", "presented_order": order,
                      "verdict": letter, "is_parsed": True, "source": "test"} for item, letter in zip(items, letters)]
    storage.write(db, lambda c: judgment_store.insert_judgments(c, pd.DataFrame(rows)))
    return project, items


def test_small_project_agreement_by_hand(db, small):
    report = build_report(db, "small", ReportFilters(n_boot=0))
    table = report.judges.set_index("rater")
    # Majorities: B, B, B, A. 'fair' says B, B, B, A -> 4/4; 'first' says tie on every item
    # (A in one order, B in the other, averaged) -> 0/4.
    assert table.loc["fair", "majority_agreement"] == 1.0 and table.loc["first", "majority_agreement"] == 0.0
    # Ceiling, leave-one-out: q0 3/3; q1 h1, h2 agree with {B, A}? no majority for those two, h3 vs
    # {B, B} disagrees -> 0/1; q2 h1 vs {tie, B}: none, h2 vs {B, B}: no, h3 vs {B, tie}: none -> 0/1;
    # q3 h1 vs {A, B}: none, h2 likewise, h3 vs {A, A}: no -> 0/1. Total 3/6.
    assert table.loc[CEILING, ["majority_n", "majority_agreement"]].tolist() == [6, 0.5]


def test_small_project_bias_panels(db, small):
    report = build_report(db, "small", ReportFilters(n_boot=0))
    position = report.position.set_index("judge")
    assert position.loc["fair", "consistent"] == 1.0
    assert position.loc["first", ["consistent", "biased_first", "biased_second"]].tolist() == [0.0, 1.0, 0.0]
    length = report.length.set_index("rater")
    assert length.loc["fair", "p_prefer_longer"] == 0.75
    assert length.loc["humans", ["n_pairs_long_diff", "n_ties", "n_preferences"]].tolist() == [12, 1, 11]
    side = report.side.set_index("annotator")
    # h1 labels B, B, B, A shown AB, BA, AB, BA: screen right, left, right, right.
    assert side.loc["h1", ["left", "right"]].tolist() == [1, 3]
    assert side.loc["(all annotators)", "n_labels"] == 12
    people = report.annotators.set_index("annotator")
    assert people.loc["h3", "skips"] == 1 and people.loc["h3", "skip_rate"] == pytest.approx(1 / 5)
    assert people.loc["h1", "median_seconds"] == pytest.approx(11.5)


def test_small_project_slices_on_metadata_and_calibration(db, small):
    project, items = small
    math = build_report(db, "small", ReportFilters(n_boot=0, metadata=("topic", "math")))
    assert math.overview["items"] == 2
    decisions = pd.DataFrame([{field: None for field in routing_store.DECISION_FIELDS} | {
        "project_id": project.id, "item_id": items[3], "route": "human", "priority": 1.0, "strategy": "test",
        "is_calibration": True}])
    storage.write(db, lambda c: routing_store.insert_routing_decisions(c, decisions))
    calibration = build_report(db, "small", ReportFilters(n_boot=0, calibration_only=True))
    assert calibration.overview["items"] == 1
    assert calibration.judges.set_index("rater").loc["fair", "majority_n"] == 1


def test_rankings_from_humans_and_judges(db, small):
    report = build_report(db, "small", ReportFilters(n_boot=20))
    ratings = report.ratings.set_index(["source", "model"])
    assert ratings.loc[("humans", "m2"), "rating"] > ratings.loc[("humans", "m1"), "rating"]
    assert set(report.ranking_tau["source"]) == {"fair", "first"}


def test_rubric_project_reports_correlations_with_the_human_ceiling(db, tmp_path):
    rows = [{"id": f"r{i}", "prompt": f"T{i}", "response": f"answer {i}", "model": f"m{i % 3}"} for i in range(6)]
    path = tmp_path / "rubric.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "rub", ProjectConfig(task_type="rubric", criteria=[
        Criterion(name="accuracy", scores={1: "wrong", 2: "partly", 3: "right"})]))
    import_file(db, project, path, mapping=ColumnMapping(models=["model"]))
    items = storage.items.items_frame(storage.cursor(db), project.id)["item_id"].tolist()
    scores = {"r1": [1, 2, 3, 1, 2, 3], "r2": [1, 2, 3, 2, 2, 3]}
    for name, values in scores.items():
        person = add_annotator(db, name)[0]["id"]
        for item, value in zip(items, values):
            record_label(db, project, person, item, {0: {"accuracy": value}})
    judge_id = storage.write(db, lambda c: judgment_store.get_or_create_judge(c, "scorer", "external", "{}", "h", None))
    judged = pd.DataFrame({"judge_id": judge_id, "item_id": items, "aspect": "accuracy", "response_idx": 0,
                           "score": [1.0, 2, 3, 1, 2, 3], "is_parsed": True, "source": "test"})
    storage.write(db, lambda c: judgment_store.insert_judgments(c, judged))
    report = build_report(db, "rub", ReportFilters(aspect="accuracy", n_boot=0))
    table = report.judges.set_index(["rater", "level", "method"])
    assert table.loc[("scorer", "item", "pearson"), "r"] == pytest.approx(
        np.corrcoef([1, 2, 3, 1, 2, 3], [1, 2, 3, 1.5, 2, 3])[0, 1])
    assert (CEILING, "item", "spearman") in table.index
    assert report.pairs.set_index(["rater_a", "rater_b"]).loc[("r1", "r2"), "agreement"] == pytest.approx(5 / 6)
    assert report.alpha.set_index("level").loc["ordinal", "reason"] is None


def test_analysis_page_shows_the_report_to_researchers(db, db_path, pandalm, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "res", "researcher")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["token"] = token
    at.run()
    at.switch_page("pages/analysis.py").run()
    assert not at.exception
    assert any("Analysis: pandalm" in h.value for h in at.header)
    frames = [df.value for df in at.dataframe]
    pairs = next(f for f in frames if "kappa_quadratic" in f.columns)
    assert sorted(pairs["kappa"].round(2).tolist())[-3:] == [0.85, 0.86, 0.88]
    assert any(f["rater"].tolist()[-1] == CEILING for f in frames if "rater" in f.columns)


def test_a_project_without_labels_or_judges_gets_reasons_not_exceptions(db, tmp_path):
    path = tmp_path / "bare.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": "p", "response_a": "a", "response_b": "b"})
                              for i in range(3)))
    import_file(db, create_project(db, "bare", ProjectConfig(task_type="pairwise")), path)
    report = build_report(db, "bare", ReportFilters(n_boot=10))
    ceiling = report.judges.set_index("rater").loc[CEILING]
    assert ceiling["majority_n"] == 0 and ceiling["reason"] == "no comparisons"
    assert report.alpha["reason"].eq("no unit has two or more values").all()
    assert report.human_agreement["reason"] == "no item has two raters"
    assert json.dumps(report.as_dict(), default=str)


def test_data_version_changes_with_any_new_label_or_edit(db, tmp_path):
    from annotate.labeling.annotators import add_annotator
    from annotate.labeling.labels import edit_label, record_label
    from annotate.projects import get_project
    from annotate.projects import data_version
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps({"id": "q1", "prompt": "p", "response_a": "a", "response_b": "b"}))
    import_file(db, create_project(db, "v", ProjectConfig(task_type="pairwise")), path)
    project = get_project(db, "v")
    item_id = storage.cursor(db).execute("SELECT id FROM items").fetchone()[0]
    annotator = add_annotator(db, "ann")[0]["id"]
    first = data_version(db, "v")
    event = record_label(db, project, annotator, item_id, {"overall": 1})
    second = data_version(db, "v")
    edit_label(db, project, annotator, event, {"overall": -1})
    assert len({first, second, data_version(db, "v")}) == 3
