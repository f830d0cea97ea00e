"""The agreement report from the store: PandaLM's published kappas, judges vs the human ceiling,
slices, bias, the CLI's JSON and the analysis page."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats
from sklearn.metrics import cohen_kappa_score
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

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def pair_kappas(report) -> dict[tuple[str, str], float]:
    """Kappa per pair of raters, PandaLM's annotators named by their number ('1', '2', '3')."""
    short = lambda name: name.rsplit("annotator-", 1)[-1]  # noqa: E731 ('import:pandalm-annotator-1' -> '1')
    return {(short(a), short(b)): k for a, b, k in report.pairs[["rater_a", "rater_b", "kappa"]].itertuples(index=False)}


def test_pandalm_report_reproduces_the_published_annotator_kappas(db, pandalm):
    # PandaLM README (github.com/WeOpenML/PandaLM): Cohen's kappa #1-#2 0.85, #1-#3 0.88, #2-#3 0.86.
    kappas = pair_kappas(build_report(db, "pandalm", ReportFilters(n_boot=0)))
    assert kappas[("1", "2")] == pytest.approx(0.85, abs=0.005)
    assert kappas[("1", "3")] == pytest.approx(0.88, abs=0.005)
    assert kappas[("2", "3")] == pytest.approx(0.86, abs=0.005)


def test_pandalm_judges_agree_with_the_majority_less_than_the_human_ceiling(db, pandalm):
    report = build_report(db, "pandalm", ReportFilters(n_boot=200, seed=1))
    table = report.judges.set_index("rater")
    print(table[["majority_n", "majority_agreement", "majority_agreement_lo", "majority_agreement_hi",
                 "majority_kappa", "pairwise_agreement"]].to_string())
    assert set(table.index) == {"gpt-3.5-turbo", "pandalm-7b", CEILING}
    # 25 gpt-3.5-turbo verdicts are unparseable ('garbage') and no PandaLM item lacks a majority.
    # By default an unparsed verdict counts as wrong (697 / 999); over parsed items it is 697 / 974.
    assert table.loc["gpt-3.5-turbo", "majority_n"] == 999 and table.loc["pandalm-7b", "majority_n"] == 999
    assert table.loc["gpt-3.5-turbo", "majority_agreement"] == pytest.approx(697 / 999)
    assert table.loc["gpt-3.5-turbo", ["majority_n_parsed", "coverage"]].tolist() == [974, pytest.approx(974 / 999)]
    assert table.loc["gpt-3.5-turbo", "majority_agreement_parsed"] == pytest.approx(697 / 974)
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
    pair = next(p for p in data["pairs"] if {p["rater_a"][-1], p["rater_b"][-1]} == {"1", "3"}
                and p["kind_a"] == p["kind_b"] == "human")
    assert round(pair["kappa"], 2) == 0.88 and pair["agreement"] > 0.9
    judges = {row["rater"]: row for row in data["judges"]}
    assert round(judges["pandalm-7b"]["majority_agreement"], 4) == round(667 / 999, 4)
    assert data["reference"]["split_policy"] == "tie" and "counts as a tie" in data["reference"]["statement"]
    assert {row["measure"] for row in data["definitions"]} >= {"accuracy", "both_correct", "loo_agreement"}
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
    return small_project(db, tmp_path)


def small_project(db, tmp_path, split_policy: str = "tie"):
    rows = [{"id": f"q{i}", "prompt": f"P{i}", "response_a": "short", "response_b": "long " * 10,
             "model_a": "m1", "model_b": "m2", "topic": "math" if i < 2 else "code",
             "level": "easy" if i % 2 == 0 else "hard"} for i in range(4)]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "small", ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE,
                                                        split_policy=split_policy))
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
    # Ceiling, leave-one-out, split policy 'tie' (the default): q0 3/3; q1 h1 and h2 see {B, A}: a
    # tie, wrong; h3 (A) sees {B, B}: wrong -> 0/3; q2 h1 (B) sees {tie, B}: tie, h2 (tie) sees
    # {B, B}, h3 (B) sees {B, tie}: tie -> 0/3; q3 likewise 0/3. Total 3/12.
    assert table.loc[CEILING, ["majority_n", "majority_agreement"]].tolist() == [12, 0.25]
    # The judge on the very same comparisons (like for like): q0 3/3, q1 1/3 (h3's reference B),
    # q2 1/3 (h2's reference B), q3 1/3 (h3's reference A) -> 6/12.
    loo = report.definitions.set_index(["rater", "measure", "over"])
    assert loo.loc[("fair", "loo_agreement", "all items"), ["value", "n"]].tolist() == [0.5, 12]
    assert loo.loc[(CEILING, "loo_agreement", "all items"), ["value", "n"]].tolist() == [0.25, 12]


def test_split_policy_drop_leaves_out_the_comparisons_where_the_others_split(db, tmp_path):
    small_project(db, tmp_path, split_policy="drop")
    table = build_report(db, "small", ReportFilters(n_boot=0)).judges.set_index("rater")
    # Only q0 (3/3) and the third rater of q1, q2, q3 (0/1 each) remain: 3/6, today's number.
    assert table.loc[CEILING, ["majority_n", "majority_agreement"]].tolist() == [6, 0.5]
    assert (table["split_policy"] == "drop").all()


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


# ------------------------------------------------------------------ issue 14: every definition, coverage, gold

def two_order_project(db, tmp_path, with_human: bool = True):
    """Six items with a gold label, a judge 'j' in both orders (one unparseable reply) and, with
    `with_human`, one imported human 'alice' (a single rater: her label is the human reference)."""
    gold, first, swapped, alice = "ABABAT", ["A", "B", "B", "??", "A", "A"], "AAtAB" + "B", "ABBBAT"
    expand = {"A": "A", "B": "B", "T": "tie", "t": "tie"}
    rows = [{"id": f"q{i}", "prompt": "p", "response_a": "a", "response_b": "b", "gold": expand[gold[i]],
             "first": first[i], "swapped": expand[swapped[i]], "alice": expand[alice[i]]} for i in range(6)]
    path = tmp_path / "two_orders.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "orders", ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE))
    import_file(db, project, path, mapping=ColumnMapping(
        gold="gold", judge_labels={"j": "first", "j@BA": "swapped"},
        human_labels={"alice": "alice"} if with_human else {}))
    return project


def test_every_definition_of_a_judges_two_orders_by_hand(db, tmp_path):
    two_order_project(db, tmp_path)
    report = build_report(db, "orders", ReportFilters(n_boot=0))
    rows = report.definitions[(report.definitions["reference"] == "gold: gold") & (report.definitions["rater"] == "j")]
    rows = rows.set_index(["measure", "over"])
    value = lambda measure, over="all items": rows.loc[(measure, over), "value"]  # noqa: E731
    # gold      A  B  A  B  A  tie
    # AB        A  B  B  ?  A  A      (? = unparsed)
    # BA        A  A  tie A  B  B
    assert (value("accuracy_first"), value("accuracy_first", "parsed items")) == (pytest.approx(3 / 6), 3 / 5)
    assert (value("accuracy_swapped"), value("accuracy_swapped", "parsed items")) == (pytest.approx(1 / 6),) * 2
    assert value("accuracy_mean") == pytest.approx((3 / 6 + 1 / 6) / 2)  # LLMBar correct_average
    assert value("accuracy_mean", "parsed items") == pytest.approx((3 / 5 + 1 / 6) / 2)
    # Both orders right: q0 only (the tie of q5 is not a tie in both orders).
    assert (value("both_correct"), value("both_correct", "parsed items")) == (pytest.approx(1 / 6), 1 / 5)
    # MT-Bench: q0 A; q1, q2, q4, q5 inconsistent -> tie, right only where gold is a tie (q5).
    assert (value("mtbench_combined"), value("mtbench_combined", "parsed items")) == (pytest.approx(2 / 6), 2 / 5)
    assert value("position_consistency", "parsed items") == pytest.approx(1 / 5)
    assert value("positional_agreement") == pytest.approx(1 / 6)
    # The app's combined verdict: q0 A, q3 A (only BA parsed), others tie -> right on q0 and q5.
    assert value("accuracy") == pytest.approx(2 / 6)
    assert rows.loc[("accuracy_first", "all items"), ["n", "n_total", "n_parsed", "coverage"]].tolist() == \
        [6, 6, 5, pytest.approx(5 / 6)]
    assert "LLMBar" in rows.loc[("accuracy_mean", "all items"), "source"]
    assert "2310.07641" in rows.loc[("accuracy_mean", "all items"), "source"]
    assert "Auto-J" in rows.loc[("both_correct", "all items"), "source"]
    assert "2306.05685" in rows.loc[("mtbench_combined", "all items"), "source"]
    first = np.array([-1, 1, 1, -1, -1]), np.array([-1, 1, -1, -1, 0])  # parsed AB verdicts vs gold
    assert rows.loc[("kappa_first", "parsed items"), "value"] == pytest.approx(cohen_kappa_score(*first))
    coverage = report.coverage.set_index(["judge", "order"])
    assert coverage.loc[("j", "AB"), ["judgments", "parsed", "unparsed"]].tolist() == [6, 5, 1]
    assert coverage.loc[("j", "all"), ["judgments", "parsed", "items", "items_parsed"]].tolist() == [12, 11, 6, 6]


def test_gold_gives_accuracy_against_gold_for_judges_and_humans(db, tmp_path):
    two_order_project(db, tmp_path)
    report = build_report(db, "orders", ReportFilters(n_boot=50))
    gold = report.gold.set_index(["rater", "over"])
    assert gold.loc[("import:alice", "all items"), "value"] == pytest.approx(5 / 6)
    assert gold.loc[("j", "all items"), "value"] == pytest.approx(2 / 6)
    assert gold.loc[("j", "all items"), "lo"] <= 2 / 6 <= gold.loc[("j", "all items"), "hi"]
    # The gold rater is a reference, never a human rater; alice is the only human.
    assert report.overview["annotators"] == 1 and report.reference["gold_raters"] == ["gold"]
    assert "gold" in report.human_agreement["reason"]
    assert set(report.pairs.loc[report.pairs["rater_a"] == "gold", "kind_a"]) == {"gold"}


def test_without_human_votes_the_judges_table_measures_against_gold(db, tmp_path):
    two_order_project(db, tmp_path, with_human=False)
    report = build_report(db, "orders", ReportFilters(n_boot=0))
    judge = report.judges.set_index("rater").loc["j"]
    assert judge["reference"] == "gold: gold" and judge["majority_agreement"] == pytest.approx(2 / 6)
    assert not np.isnan(judge["majority_agreement"])
    assert "humans" not in set(report.definitions["reference"])


def test_an_adjudicated_label_is_the_reference_and_the_adjudicator_is_not_a_rater(db, small):
    from annotate.labeling.review import adjudicate_item
    add_annotator(db, "boss", "researcher")
    # q1: h1 B, h2 B, h3 A -> majority B; the researcher settles it as A.
    adjudicate_item(db, "small", "q1", "boss", {"overall": -1})
    report = build_report(db, "small", ReportFilters(n_boot=0))
    table = report.judges.set_index("rater")
    # 'fair' says B on q1: now wrong (3/4); 'first' says tie everywhere: still 0/4.
    assert table.loc["fair", "majority_agreement"] == 0.75 and table.loc["first", "majority_agreement"] == 0.0
    assert report.reference["items_adjudicated"] == 1 and report.reference["adjudicators"] == ["boss"]
    assert "boss" not in set(report.pairs["rater_a"]) | set(report.pairs["rater_b"])
    assert report.overview["annotators"] == 3


def test_agreement_by_key_gives_every_number_per_value_and_overall(db, db_path, small):
    from annotate.analysis.report import build_report_by
    sliced = build_report_by(db, "small", "topic", ReportFilters(n_boot=0))
    assert list(sliced.reports) == ["(all items)", "topic=code", "topic=math"]
    table = sliced.table()
    fair = table[(table["rater"] == "fair") & (table["measure"] == "accuracy") & (table["over"] == "all items")]
    assert fair.set_index("slice")["items"].to_dict() == {"(all items)": 4, "topic=code": 2, "topic=math": 2}
    db.close()
    result = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "-p", "small", "--by", "level",
                                      "--metadata", "topic=math", "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data["slices"]) == ["(all items)", "level=easy", "level=hard"]
    assert {row["items"] for row in data["table"]} == {2, 1}
    assert data["slices"]["level=easy"]["filters"]["metadata"] == [["topic", "math"], ["level", "easy"]]
    both = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "-p", "small", "--metadata", "topic=math",
                                    "--metadata", "level=hard", "--bootstrap", "0", "--json"])
    assert json.loads(both.output)["overview"]["items"] == 1
    text = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "-p", "small", "--bootstrap", "0"])
    assert "split policy 'tie'" in text.output and "LLMBar" in text.output
    missing = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", "-p", "small", "--by", "nope"])
    assert missing.exit_code != 0 and "no item of project 'small' has metadata 'nope'" in missing.output


def test_imported_judge_scores_off_the_scale_are_counted_as_out_of_range_in_the_report(db_path, tmp_path):
    criteria = tmp_path / "criteria.json"
    criteria.write_text(json.dumps({"scale": "0-3", "criteria": [{"name": "relevance"}]}))
    graded = tmp_path / "graded.csv"
    graded.write_text("id,prompt,passage,alice,bob,llm\nq1,p1,t1,3,2,3\nq2,p2,t2,0,1,5\n"
                      "q3,p3,t3,2,2,2\nq4,p4,t4,1,1,10\n")
    run = lambda *args: CliRunner().invoke(cli, ["--db", str(db_path), *args])  # noqa: E731
    assert run("projects", "create", "rel", "--task-type", "rubric", "--criteria", str(criteria)).exit_code == 0
    imported = run("import", str(graded), "-p", "rel", "--map", "responses=passage", "--map", "human.alice=alice",
                   "--map", "human.bob=bob", "--map", "judge.llm=llm")
    assert imported.exit_code == 0 and "off the scale, judge llm: 2" in imported.output, imported.output
    result = run("agreement", "-p", "rel", "--aspect", "relevance", "--bootstrap", "0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # The importer stores 5 and 10 unparsed with their raw text; the report still names them off the scale.
    coverage = next(row for row in data["coverage"] if row["order"] == "all")
    assert [coverage[k] for k in ("judgments", "parsed", "unparsed", "out_of_range")] == [4, 2, 0, 2]
    assert data["overview"]["judge_scores_out_of_range"] == 2


def test_rubric_judge_against_a_single_rater_reference_counts_out_of_range_scores(db, tmp_path):
    rows = [{"id": f"r{i}", "prompt": f"T{i}", "response": f"answer {i}", "model": f"m{i % 3}", "topic": "x"}
            for i in range(9)]
    path = tmp_path / "graded.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "graded", ProjectConfig(task_type="rubric", criteria=[
        Criterion(name="relevance", scores={0: "none", 1: "some", 2: "most", 3: "all"})]))
    import_file(db, project, path, mapping=ColumnMapping(models=["model"]))
    items = storage.items.items_frame(storage.cursor(db), project.id)["item_id"].tolist()
    human = [0, 1, 2, 3, 0, 1, 2, 3, 3]
    person = add_annotator(db, "assessor")[0]["id"]
    for item, value in zip(items, human):
        record_label(db, project, person, item, {0: {"relevance": value}})
    judge_id = storage.write(db, lambda c: judgment_store.get_or_create_judge(c, "run", "external", "{}", "g", None))
    scores = [0.0, 1, 2, 3, 1, 1, 2, 10, 5]  # 10 and 5 are off the 0-3 scale
    storage.write(db, lambda c: judgment_store.insert_judgments(c, pd.DataFrame({
        "judge_id": judge_id, "item_id": items, "aspect": "relevance", "response_idx": 0, "score": scores,
        "is_parsed": True, "source": "test"})))
    report = build_report(db, "graded", ReportFilters(aspect="relevance", n_boot=100))
    assert report.coverage.set_index("order").loc["all", ["judgments", "parsed", "out_of_range"]].tolist() == [9, 7, 2]
    assert report.overview["judge_scores_out_of_range"] == 2
    rows = report.definitions.set_index(["measure", "level", "over"])
    # Seven valid scores, six equal to the single assessor's: 6/7 over parsed units, 6/9 over all.
    assert rows.loc[("exact_agreement", "item", "parsed items"), "value"] == pytest.approx(6 / 7)
    assert rows.loc[("exact_agreement", "item", "all items"), ["value", "coverage"]].tolist() == \
        [pytest.approx(6 / 9), pytest.approx(7 / 9)]
    x, y = np.array([0, 1, 2, 3, 1, 1, 2]), np.array([0, 1, 2, 3, 0, 1, 2])
    assert rows.loc[("kappa_quadratic", "item", "parsed items"), "value"] == pytest.approx(
        cohen_kappa_score(x, y, weights="quadratic"))
    assert rows.loc[("kendall", "item", "parsed items"), "value"] == pytest.approx(stats.kendalltau(x, y)[0])
    assert {"alpha_ordinal", "alpha_interval", "kappa_unweighted", "kappa_linear", "spearman"} <= set(
        report.definitions["measure"])
    assert ("pearson", "system", "parsed items") in rows.index
    interval = rows.loc[("pearson", "item", "parsed items")]
    assert interval["lo"] <= interval["value"] <= interval["hi"]
    ratings = report.ratings.set_index(["source", "model"])
    assert ratings.loc[("humans", "m0"), "rating"] == pytest.approx(np.mean([0, 3, 2]))
    assert not np.isnan(ratings.loc[("run", "m1"), "rating_lo"])
    assert set(report.ranking_tau["source"]) == {"run"}


def test_export_card_states_the_split_policy_and_export_uses_it(db, tmp_path):
    from annotate.data.dataset_card import render_card
    from annotate.data.export import build_export
    small_project(db, tmp_path, split_policy="mean-sign")
    result = build_export(db, "small", "dpo")
    assert "split policy 'mean-sign'" in render_card(result, "dpo-jsonl")
    # Every small item has a strict majority, so all four export; the card names the rule all the same.
    assert len(result.rows) == 4
