"""The router: budgets, strategies, apply, online re-ranking and AI labels (issue 6)."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import storage
from annotate.cli import cli
from annotate.data.adapters import import_items
from annotate.data.importers import ColumnMapping
from annotate.errors import AnnotateError
from annotate.labeling.annotators import add_annotator
from annotate.labeling.labels import record_label
from annotate.projects import get_project
from annotate.router.budget import Budget, BudgetError, parse_budget
from annotate.router.features import sibling_evidence
from annotate.router.names import STRATEGIES
from annotate.router.routing import (
    apply_routing,
    final_ai_labels,
    plan_routing,
    rerank_if_due,
    routing_status,
)
from storage import routing as store

pytestmark = pytest.mark.both_backends

N_ITEMS = 60
MODELS = ["m1", "m2", "m3", "m4"]


def _write_project(db, tmp_path, name: str = "synthetic") -> None:
    """60 items over 15 prompts (4 models each, pairs of them), two external judges."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(N_ITEMS):
        a, b = rng.choice(4, 2, replace=False)
        prompt = f"prompt {i % 15}"
        rows.append({"id": f"i{i}", "prompt": prompt, "response_a": f"{MODELS[a]} answers {prompt} " * (a + 1),
                     "response_b": f"{MODELS[b]} answers {prompt} " * (b + 1), "model_a": MODELS[a],
                     "model_b": MODELS[b], "topic": ["math", "code", "chat"][i % 3],
                     "j1": ["A", "B", "tie", "garbage"][i % 4], "j2": ["A", "B", "B"][i % 3]})
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    mapping = ColumnMapping(model_a="model_a", model_b="model_b", judge_labels={"j1": "j1", "j2": "j2"})
    import_items(db, name, path, mapping=mapping)


@pytest.fixture
def synthetic(db, tmp_path):
    _write_project(db, tmp_path)
    return get_project(db, "synthetic")


def _label(db, project, annotator_id: int, item_ids) -> None:
    for item_id in item_ids:
        record_label(db, project, annotator_id, int(item_id), {"overall": 1})


def test_budget_counts_overlap_and_calibration():
    budget = Budget(labels=90, overlap=3, calibration_fraction=0.1)
    assert budget.human_items(100) == 30
    assert budget.calibration_items(30) == 3
    money = Budget(money=100.0, cost_per_human_label=2.0, cost_per_judge_call=0.5, overlap=2)
    assert money.human_items(1000, judge_calls=40) == 20  # (100 - 40 * 0.5) / 2 = 40 labels, k = 2
    assert parse_budget("30%").fraction == pytest.approx(0.3)
    assert parse_budget("300", overlap=3).human_items(1000) == 100
    assert parse_budget("$12", cost_per_human_label=3.0).human_items(10) == 4
    with pytest.raises(BudgetError, match="Budget 'lots'"):
        parse_budget("lots")
    with pytest.raises(BudgetError, match="does not cover 40 judge calls"):
        Budget(money=1.0, cost_per_human_label=1.0, cost_per_judge_call=1.0).human_items(10, judge_calls=40)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s not in ("all-ai", "all-human", "inconsistency")])
def test_each_strategy_routes_exactly_the_budget_with_its_calibration_slice(db, synthetic, strategy):
    budget = Budget(labels=36, overlap=2, calibration_fraction=0.2)  # 18 items, 4 of them calibration
    plan = plan_routing(db, "synthetic", "j1", strategy, budget)
    human = plan.decisions[plan.decisions["route"] == "human"]
    assert len(human) == 18
    assert plan.decisions["is_calibration"].sum() == 4
    assert human["is_calibration"].sum() == 4
    assert human.loc[human["is_calibration"], "priority"].min() > plan.decisions.loc[~plan.decisions["is_calibration"], "priority"].max()


def test_inconsistency_first_needs_the_judge_in_both_orders(db, synthetic):
    with pytest.raises(AnnotateError, match="'j1' has one order"):
        plan_routing(db, "synthetic", "j1", "inconsistency", Budget(fraction=0.5))


def test_all_ai_routes_nothing_and_all_human_needs_the_whole_budget(db, synthetic):
    plan = plan_routing(db, "synthetic", "j1", "all-ai", Budget(fraction=0.5))
    assert (plan.decisions["route"] == "ai").all()
    assert len(plan_routing(db, "synthetic", "j1", "all-human", Budget(fraction=1.0)).decisions) == N_ITEMS
    with pytest.raises(BudgetError, match="needs 60 human labels"):
        plan_routing(db, "synthetic", "j1", "all-human", Budget(labels=59))


def test_money_budget_pays_for_judge_calls_first(db, synthetic):
    budget = Budget(money=30.0, cost_per_human_label=1.0, cost_per_judge_call=0.25)  # 60 calls = 15
    plan = plan_routing(db, "synthetic", "j1", "random", budget)
    assert (plan.decisions["route"] == "human").sum() == 15


def test_apply_writes_one_decision_per_item_with_ai_labels(db, synthetic):
    apply_routing(db, "synthetic", "j1", "disagreement", Budget(fraction=0.25))
    routes = store.current_routes(storage.cursor(db), synthetic.id)
    assert len(routes) == N_ITEMS
    assert (routes["route"] == "human").sum() == 15
    assert json.loads(routes["features"].iloc[0])["gain"] >= 0
    ai = final_ai_labels(db, "synthetic")
    assert len(ai) == 45
    assert set(ai["judge"]) == {"j1"}
    unparsed_j1 = ai[ai["source"] == "j2"]  # j1 said 'garbage': the second judge gives the label
    assert len(unparsed_j1) and unparsed_j1["probs"].isna().all()
    assert set(ai["verdict"]) <= {"A", "B", "tie"}


def test_rerank_changes_only_pending_items(db, synthetic):
    apply_routing(db, "synthetic", "j1", "learned", Budget(fraction=0.5), every_n=5)
    cur = storage.cursor(db)
    before = store.current_routes(cur, synthetic.id).set_index("item_id")
    annotator, _ = add_annotator(db, "ann")
    labelled = before.sort_values("priority", ascending=False).index[:4]
    _label(db, synthetic, annotator["id"], labelled)
    assert rerank_if_due(db, "synthetic") is False  # 4 < every_n
    _label(db, synthetic, annotator["id"], before.sort_values("priority", ascending=False).index[4:6])
    labelled = before.sort_values("priority", ascending=False).index[:6]
    assert rerank_if_due(db, "synthetic") is True
    after = store.current_routes(cur, synthetic.id).set_index("item_id")
    assert (after.loc[labelled, "decision_id"] == before.loc[labelled, "decision_id"]).all()
    pending = before.index.difference(labelled)
    assert (after.loc[pending, "decision_id"] > before["decision_id"].max()).all()
    # 6 labels are too few for the error model to reorder anything: the baseline's order stays
    assert np.allclose(after.loc[pending, "priority"], before.loc[pending, "priority"], atol=1e-6)
    status = routing_status(db, "synthetic")
    assert status["human"] == 30 and status["human_labelled"] == 6
    assert rerank_if_due(db, "synthetic") is False


def test_sibling_evidence_leaves_out_the_items_own_label():
    # texts 0 > 1 (item 0), 1 > 2 (item 1); item 2 compares 0 with 2 and has its own label
    text_a, text_b = np.array([0, 1, 0]), np.array([1, 2, 2])
    difference, count = sibling_evidence(text_a, text_b, 3, np.array([-1.0, -1.0, 1.0]))
    assert difference[2] == pytest.approx(-2.0)  # 0 beat 1, 1 beat 2: A (text 0) is better
    assert count[2] == 2


def test_cli_router_apply_and_simulate(db, db_path, synthetic):
    annotator, _ = add_annotator(db, "ann")
    _label(db, synthetic, annotator["id"], range(1, N_ITEMS + 1))
    db.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db_path), "router", "simulate", "-p", "synthetic", "-j", "j1",
                                 "--budgets", "0.2,0.4", "--seeds", "2", "--strategies", "random,learned", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n_items"] == N_ITEMS and {r["strategy"] for r in report["auc"]} == {"random", "learned"}
    for row in report["summary"]:  # routing apart from relabeling, for every strategy
        assert {"routing_only_mean", "label_model_mean", "shared_evidence_mean"} <= set(row)
    assert "judge's combined verdict" in report["measures"]["routing_only"]
    result = runner.invoke(cli, ["--db", str(db_path), "router", "apply", "-p", "synthetic", "-j", "nobody",
                                 "-b", "10"])
    assert result.exit_code != 0 and "No judge 'nobody'" in result.output


def test_decisions_frame_is_stored_with_pending_first(db, synthetic):
    plan = apply_routing(db, "synthetic", "j2", "uncertainty", Budget(labels=10))
    stored = store.current_routes(storage.cursor(db), synthetic.id)
    merged = stored.merge(plan.decisions[["item_id", "route", "priority"]], on="item_id", suffixes=("", "_plan"))
    assert (merged["route"] == merged["route_plan"]).all()
    assert np.allclose(merged["priority"], merged["priority_plan"])
    assert isinstance(plan.decisions, pd.DataFrame)


def test_router_page_previews_and_applies(db, db_path, synthetic, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "res", "researcher")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["project"] = "synthetic"
    at.query_params["token"] = token
    at.run()
    at.switch_page("pages/router.py").run()
    assert not at.exception
    assert any("items go to humans" in m.value and "newly sent" in m.value for m in at.markdown)
    assert not at.json  # no raw JSON on the page
    assert any("No estimated accuracy curve" in i.value for i in at.info)  # no human labels to estimate from
    next(b for b in at.button if b.label == "Apply routing").click()
    at.run()
    assert not at.exception
    assert len(store.current_routes(storage.cursor(db), synthetic.id)) == N_ITEMS
    assert {m.label for m in at.metric} >= {"Sent to humans", "Labelled by humans", "Waiting for a human"}


def test_router_page_shows_the_dataset_ids_reasons_in_words_and_a_curve_once_humans_labelled(
        db, db_path, synthetic, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    annotator, _ = add_annotator(db, "ann")
    _label(db, synthetic, annotator["id"], range(1, 13))
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "res", "researcher")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["project"] = "synthetic"
    at.query_params["token"] = token
    at.run()
    at.switch_page("pages/router.py").run()
    assert not at.exception
    summary = next(m.value for m in at.markdown if "items go to humans" in m.value)
    assert "**12** already labelled by humans" in summary
    preview = at.dataframe[0].value
    assert set(preview["Item"]) <= {f"i{i}" for i in range(N_ITEMS)}  # the dataset's own ids
    assert preview["Why"].str.contains("two judges disagree").any()
    assert not any("No estimated accuracy curve" in i.value for i in at.info)
    assert any("Estimated from 12 human-labelled items" in c.value for c in at.caption)


def test_embedding_cosine_is_cached_by_text(db):
    from annotate.router.embeddings import embed_texts, response_cosine
    cosine = response_cosine(db, ["The cat sat on the mat.", "Paris is in France."],
                             ["The cat sat on the mat.", "def f(): return 1"])
    assert cosine[0] == pytest.approx(1.0, abs=1e-5) and cosine[1] < 0.5
    _, encoded = embed_texts(db, ["Paris is in France.", "The cat sat on the mat."])
    assert encoded == 0


def test_labels_submitted_on_the_annotator_screen_trigger_online_reranking(db, synthetic):
    from annotate.labeling.assignment import next_item, submit_label
    apply_routing(db, "synthetic", "j1", "learned", Budget(fraction=0.5), every_n=3)
    annotator, _ = add_annotator(db, "screen")
    for _ in range(3):
        item = next_item(db, synthetic, annotator["id"])
        submit_label(db, synthetic, annotator["id"], item.item_id, {"overall": -1})
    cur = storage.cursor(db)
    deadline = time.time() + 60
    while store.latest_routing_run(cur, synthetic.id)["kind"] != "rerank" and time.time() < deadline:
        time.sleep(0.2)
    assert store.latest_routing_run(cur, synthetic.id)["kind"] == "rerank"


def test_sibling_evidence_of_an_item_comparing_a_text_with_itself_is_empty():
    difference, count = sibling_evidence(np.array([0, 1]), np.array([0, 2]), 3, np.array([1.0, np.nan]))
    assert difference.tolist() == [0.0, 0.0] and count.tolist() == [0, 0]


def test_ai_items_keep_the_judges_verdict_unless_the_label_model_is_asked_for(db, synthetic):
    from annotate.router.label_model import LABEL_MODEL_SOURCE
    annotator, _ = add_annotator(db, "ann")
    for item_id in range(1, 31):  # humans agree with j2, never with j1's 'garbage': the label model can learn it
        record_label(db, synthetic, annotator["id"], item_id, {"overall": 1 if item_id % 3 != 1 else -1})
    budget = Budget(fraction=0.5, calibration_fraction=1.0)
    apply_routing(db, "synthetic", "j1", "random", budget)
    assert set(final_ai_labels(db, "synthetic")["source"]) <= {"j1", "j2"}
    plan = apply_routing(db, "synthetic", "j1", "random", budget, ai_label="model")
    sources = set(final_ai_labels(db, "synthetic")["source"])
    note = next(w for w in plan.warnings if w.startswith("AI labels:"))
    assert (sources == {LABEL_MODEL_SOURCE}) == ("label model: beats the judge" in note)
    assert LABEL_MODEL_SOURCE in sources, note
    runs = json.loads(store.latest_routing_run(storage.cursor(db), synthetic.id)["settings"])
    assert runs["ai_label"] == "model"  # re-ranks keep it
