"""Aggregation of labels per item: majority with its tie policy, Dawid-Skene, rubric statistics,
agreement, and the final label with its source (human / ai / both)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from annotate.data import aggregate
from annotate.labeling.annotators import add_annotator
from annotate.config import Criterion, ProjectConfig
from annotate.errors import AnnotateError, NotFoundError
from annotate.data.importers import ColumnMapping, import_file
from annotate.labeling.labels import record_label
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends


def pairwise_votes(votes: dict[str, list[float]], both_bad: dict[str, list[bool]] | None = None) -> pd.DataFrame:
    rows = []
    for item, values in votes.items():
        flags = (both_bad or {}).get(item, [False] * len(values))
        rows += [{"item_id": item, "aspect": "overall", "annotator_id": i, "value": v, "both_bad": b}
                 for i, (v, b) in enumerate(zip(values, flags))]
    return pd.DataFrame(rows)


def by_item(frame: pd.DataFrame) -> dict:
    return frame.set_index("item_id").to_dict("index")


def test_majority_strength_is_the_mean_of_the_winning_side():
    out = by_item(aggregate.aggregate_pairwise(pairwise_votes({"x": [-2, -1, 1]})))["x"]
    assert out["value"] == -1.5
    assert out["n_labels"] == 3
    assert (out["p_a"], out["p_tie"], out["p_b"]) == pytest.approx((2 / 3, 0, 1 / 3))
    assert out["agreement"] == pytest.approx(1 / 3)  # one agreeing pair of three


def test_shared_top_count_is_a_tie():
    out = by_item(aggregate.aggregate_pairwise(pairwise_votes({"split": [-1, 1], "three": [-2, 0, 2],
                                                               "clear": [2, 2, 0]})))
    assert out["split"]["value"] == 0 and out["split"]["agreement"] == 0
    assert out["three"]["value"] == 0
    assert out["clear"]["value"] == 2


def test_one_rater_has_no_agreement():
    out = by_item(aggregate.aggregate_pairwise(pairwise_votes({"solo": [1]})))["solo"]
    assert out["value"] == 1 and np.isnan(out["agreement"])


def test_both_bad_needs_more_than_half_of_the_raters():
    frame = pairwise_votes({"most": [0, 0, 0], "half": [0, 0]},
                           both_bad={"most": [True, True, False], "half": [True, False]})
    out = by_item(aggregate.aggregate_pairwise(frame))
    assert out["most"]["both_bad"] and not out["half"]["both_bad"]


def test_pair_agreement_follows_fleiss_per_subject_term():
    counts = np.array([[3, 0, 0], [2, 1, 0], [1, 1, 1], [1, 0, 0]])
    # P_i = sum n_k (n_k - 1) / (n (n - 1)), Fleiss 1971
    assert aggregate.pair_agreement(counts)[:3] == pytest.approx([1.0, 1 / 3, 0.0])
    assert np.isnan(aggregate.pair_agreement(counts)[3])


def test_dawid_skene_outvotes_a_majority_of_unreliable_raters():
    rng = np.random.default_rng(7)
    truth = np.where(np.arange(80) % 2 == 0, -1, 1)
    rows = []
    for item, true in enumerate(truth):
        rows += [{"item_id": item, "aspect": "overall", "annotator_id": a, "value": float(true), "both_bad": False}
                 for a in (0, 1)]
        rows += [{"item_id": item, "aspect": "overall", "annotator_id": a,
                  "value": float(rng.choice([-1, 1])), "both_bad": False} for a in (2, 3, 4)]
    frame = pd.DataFrame(rows)
    majority = aggregate.aggregate_pairwise(frame, "majority")
    skene = aggregate.aggregate_pairwise(frame, "dawid-skene")
    assert (np.sign(majority["value"]) == truth).mean() < 1  # 3 of 5 random votes can outvote
    assert (np.sign(skene["value"]) == truth).all()
    assert skene[["p_a", "p_tie", "p_b"]].sum(axis=1).to_numpy() == pytest.approx(np.ones(80))


def test_unknown_method_is_refused():
    with pytest.raises(AnnotateError, match="Unknown pairwise aggregation 'vote'"):
        aggregate.aggregate_pairwise(pairwise_votes({"x": [1]}), "vote")


def test_rubric_mean_median_and_exact_agreement():
    frame = pd.DataFrame({"item_id": 1, "response_idx": 0, "aspect": "accuracy", "annotator_id": [1, 2, 3],
                          "value": [1.0, 3.0, 3.0]})
    mean = aggregate.aggregate_rubric(frame, "mean").iloc[0]
    median = aggregate.aggregate_rubric(frame, "median").iloc[0]
    assert mean["value"] == pytest.approx(7 / 3) and median["value"] == 3.0
    assert mean["agreement"] == pytest.approx(1 / 3) and mean["n_labels"] == 3


# ---------------------------------------------------------------- final labels from the store


@pytest.fixture
def pairs(db, tmp_path):
    rows = [{"id": f"q{i}", "prompt": f"Prompt {i}", "response_a": f"A{i}", "response_b": f"B{i}",
             "gpt": ["A", "B", "tie", "B"][i]} for i in range(4)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise"))
    import_file(db, project, path, mapping=ColumnMapping(judge_labels={"gpt": "gpt"}))
    return project


def label(db, project, who: str, external_id: str, value: int) -> None:
    from storage import annotators as annotator_store, cursor, items as item_store
    found = annotator_store.get_annotator(cursor(db), name=who)
    annotator_id = found["id"] if found else add_annotator(db, who)[0]["id"]
    item_id = item_store.item_id_for(cursor(db), project.id, external_id)
    record_label(db, project, annotator_id, item_id, {"overall": value}, presented_order="AB")


def test_without_routing_unlabeled_items_get_no_final_label(db, pairs):
    label(db, pairs, "ann", "q0", 2)
    final = aggregate.final_labels(db, pairs)
    assert final["source"].tolist() == ["human"] and final["value"].tolist() == [2.0]


def test_fallback_judge_labels_the_unlabeled_items_and_joins_the_labeled(db, pairs):
    label(db, pairs, "ann", "q0", 2)
    final = aggregate.final_labels(db, pairs, judge="gpt").set_index("item_id")
    assert final["source"].tolist() == ["both", "ai", "ai", "ai"]
    first = final.iloc[0]
    assert first["value"] == 2.0 and first["judge_value"] == -1.0 and first["n_labels"] == 1
    assert final["value"].tolist()[1:] == [1.0, 0.0, 1.0]  # the judge's B, tie, B at the weakest strength
    assert set(final["judge"]) == {"gpt"} and (final["n_labels"].iloc[1:] == 0).all()


def test_unknown_fallback_judge_is_named(db, pairs):
    with pytest.raises(NotFoundError, match="No judge 'claude' with judgments in project 'pairs'"):
        aggregate.final_labels(db, pairs, judge="claude")


def test_annotator_filter_keeps_only_their_labels(db, pairs):
    label(db, pairs, "ann", "q0", 2)
    label(db, pairs, "bob", "q0", -1)
    label(db, pairs, "bob", "q1", -1)
    labels = aggregate.human_labels(db, pairs, annotators=("ann",))
    final = aggregate.final_labels(db, pairs, labels=labels)
    assert final["value"].tolist() == [2.0] and final["n_labels"].tolist() == [1]
    with pytest.raises(NotFoundError, match=r"annotator\(s\) \['zed'\]"):
        aggregate.human_labels(db, pairs, annotators=("zed",))


def test_rubric_final_labels_fall_back_to_the_judges_mean_score(db, tmp_path):
    rows = [{"id": "r0", "prompt": "P", "response": "R", "judge": {"accuracy": 2}}]
    path = tmp_path / "rubric.jsonl"
    path.write_text(json.dumps(rows[0]))
    criteria = [Criterion(name="accuracy", scores={1: "wrong", 2: "partly", 3: "right"})]
    project = create_project(db, "rubric", ProjectConfig(task_type="rubric", criteria=criteria))
    import_file(db, project, path, mapping=ColumnMapping(judge_labels={"judge": "judge"}))
    assert aggregate.final_labels(db, project).empty
    final = aggregate.final_labels(db, project, judge="judge").iloc[0]
    assert (final["source"], final["value"], final["response_idx"]) == ("ai", 2.0, 0)


def route(db, project, decisions: list[tuple[str, str, str | None, str | None]]) -> None:
    """Write routing decisions (external id, route, judge name, router verdict) in this order."""
    from storage import cursor, items as item_store, routing as routing_store, write
    judges = storage_judges(db)
    rows = [{"project_id": project.id, "item_id": item_store.item_id_for(cursor(db), project.id, ext),
             "route": route_to, "priority": 0.0, "strategy": "test", "model_version": None,
             "judge_id": judges.get(judge), "is_calibration": False, "features": None, "run_id": None,
             "ai_verdict": verdict, "ai_source": "router-v1" if verdict else None}
            for ext, route_to, judge, verdict in decisions]
    for row in rows:  # one insert each, so that a later row gets a higher id
        write(db, lambda c, r=row: routing_store.insert_routing_decisions(c, pd.DataFrame([r])))


def storage_judges(db) -> dict[str, int]:
    from storage import cursor, judgments
    frame = judgments.list_judges(cursor(db))
    return dict(zip(frame["name"], frame["id"]))


def test_routed_items_take_the_routers_label_and_the_latest_route_wins(db, pairs):
    label(db, pairs, "ann", "q0", -2)
    route(db, pairs, [("q0", "human", None, None), ("q1", "ai", "gpt", None), ("q2", "ai", None, "A"),
                      ("q3", "ai", "gpt", None), ("q3", "human", None, None)])
    final = aggregate.final_labels(db, pairs)
    by_id = dict(zip(final["item_id"], final.to_dict("records")))
    assert [r["source"] for r in by_id.values()] == ["human", "ai", "ai"]
    q1, q2 = list(by_id.values())[1:]
    assert (q1["value"], q1["judge"], q1["p_b"]) == (1.0, "gpt", 1.0)  # gpt said B for q1
    assert (q2["value"], q2["judge"], q2["p_a"]) == (-1.0, "router-v1", 1.0)


def test_dawid_skene_converges_to_the_confusion_matrices_that_generated_the_labels():
    """Dawid & Skene (1979) EM, as crowd-kit fits it with our settings, on labels drawn from a
    known model: 3 classes, 5 raters of accuracy 0.9 .. 0.55. The style guide warns that
    crowd-kit's BradleyTerry stops after two iterations; DawidSkene must really converge."""
    import warnings
    from crowdkit.aggregation import DawidSkene

    rng = np.random.default_rng(0)
    truth = rng.choice(3, size=2000, p=[0.3, 0.2, 0.5])
    accuracy = [0.9, 0.8, 0.7, 0.6, 0.55]
    rows = []
    for worker, acc in enumerate(accuracy):
        confusion = np.full((3, 3), (1 - acc) / 2)
        np.fill_diagonal(confusion, acc)
        labels = [rng.choice(3, p=confusion[t]) for t in truth]
        rows.append(pd.DataFrame({"task": np.arange(len(truth)), "worker": worker, "label": labels}))
    data = pd.concat(rows, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DawidSkene(n_iter=aggregate.DS_ITERATIONS, tol=aggregate.DS_TOLERANCE).fit(data)
        longer = DawidSkene(n_iter=10 * aggregate.DS_ITERATIONS, tol=aggregate.DS_TOLERANCE / 100).fit(data)
    history = model.loss_history_
    assert 2 < len(history) < aggregate.DS_ITERATIONS, "stopped by the tolerance, not after 2 steps or the cap"
    assert abs(history[-1] - history[-2]) < aggregate.DS_TOLERANCE
    assert model.priors_.reindex([0, 1, 2]).to_numpy() == pytest.approx([0.3, 0.2, 0.5], abs=0.03)
    for worker, acc in enumerate(accuracy):
        diagonal = [model.errors_.loc[(worker, k), k] for k in range(3)]
        assert diagonal == pytest.approx([acc] * 3, abs=0.06), f"rater {worker}"
    assert np.abs(longer.probas_.sort_index().to_numpy() - model.probas_.sort_index().to_numpy()).max() < 0.01
    assert (model.labels_.sort_index().to_numpy() == truth).mean() > 0.9
