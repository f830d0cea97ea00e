"""The per-participant quality table of a crowd study (annotate.study.quality): every number on a
hand-made project where it can be computed by hand, Dawid-Skene worker quality on overlap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotate.study import quality

# Six items; a labels all, b items 1-5, c items 1-4. Values are canonical (negative: A better).
VALUES = {"a": [-1, 1, 1, -2, 1, -1], "b": [-1, 1, 1, -1, 1], "c": [-1, -1, 1, 1]}
ORDERS = {"a": ["AB"] * 6, "b": ["BA"] * 5, "c": ["AB", "AB", "BA", "BA"]}
SECONDS = {"a": [10, 2, 12, 14, 1, 20], "b": [1, 1, 30, 5, np.nan], "c": [8, 9, np.nan, 7]}


def hand_made_labels() -> pd.DataFrame:
    return pd.DataFrame([{"item_id": i + 1, "annotator": name, "value": value, "presented_order": ORDERS[name][i],
                          "seconds": SECONDS[name][i]}
                         for name, values in VALUES.items() for i, value in enumerate(values)])


def hand_made_checks() -> pd.DataFrame:
    return pd.DataFrame({"annotator": ["a", "a", "a", "c", "c"],
                         "kind": ["attention", "attention", "attention", "training", "training"],
                         "passed": [True, False, True, True, False]})


def people() -> pd.DataFrame:
    return pd.DataFrame({"annotator": ["a", "c", "d"], "participant_id": ["PROLIFIC-A", "PROLIFIC-C", "PROLIFIC-D"],
                         "is_excluded": [False, True, False],
                         "exclusion_reason": [None, "failed 2 attention checks", None]})


def test_quality_table_numbers_match_the_hand_computation():
    table = quality.participant_quality(hand_made_labels(), hand_made_checks(), people(), min_seconds=3).set_index(
        "annotator")
    assert list(table.index) == ["a", "b", "c"]
    assert table.loc["a", "participant_id"] == "PROLIFIC-A" and pd.isna(table.loc["b", "participant_id"])
    assert table["is_excluded"].tolist() == [False, False, True]
    assert table.loc["c", "exclusion_reason"] == "failed 2 attention checks"
    assert table["labels"].tolist() == [6, 5, 4]
    # Checks: a passed 2 of 3 attention checks; c passed 1 of 2 training items.
    assert table.loc["a", ["attention_checks", "attention_passed", "attention_failed"]].tolist() == [3, 2, 1]
    assert table.loc["c", ["training_items", "training_passed"]].tolist() == [2, 1]
    assert table.loc["b", ["attention_checks", "training_items"]].tolist() == [0, 0]
    # Leave-one-out (split policy 'tie'): item 1 all -1, everyone agrees; item 2 (1, 1, -1): a's and b's
    # others split -> tie, c's others say B: nobody agrees; item 3 all B: everyone agrees; item 4 (-2, -1, 1):
    # every rater's others split or disagree: nobody agrees; item 5 (a, b both B): both agree; item 6 a alone.
    assert table["loo_n"].tolist() == [5, 5, 4]
    assert table["loo_agreement"].tolist() == pytest.approx([3 / 5, 3 / 5, 2 / 4])
    # Time: a [1, 2, 10, 12, 14, 20] -> median 11, two under 3 s; b [1, 1, 5, 30] (one unrecorded) -> 3, two
    # fast; c [7, 8, 9] -> 8, none fast.
    assert table["median_seconds"].tolist() == pytest.approx([11.0, 3.0, 8.0])
    assert table["fast_labels"].tolist() == [2, 2, 0]
    assert (table["min_seconds"] == 3).all()
    # Position: a (all AB) chose the first-shown response on items 1, 4, 6 -> 3 of 6; b (all BA) chose B,
    # shown first, on items 2, 3, 5 -> 3 of 5; c chose the first-shown response every time -> 4 of 4.
    assert table[["chose_first", "chose_second"]].values.tolist() == [[3, 3], [3, 2], [4, 0]]
    assert table["share_first"].tolist() == pytest.approx([0.5, 0.6, 1.0])
    assert table.loc["c", "position_p_value"] == pytest.approx(2 * 0.5 ** 4)  # two-sided exact binomial
    assert table.loc["b", "position_p_value"] == pytest.approx(stats.binomtest(3, 5, 0.5).pvalue)
    # Dawid-Skene: every item but 6 has overlap.
    assert table["ds_items"].tolist() == [5, 5, 4]
    assert table["ds_quality"].between(0, 1).all()


def test_people_with_check_answers_only_are_listed_and_unset_minimum_counts_nothing():
    checks = pd.concat([hand_made_checks(), pd.DataFrame({"annotator": ["d"], "kind": ["attention"],
                                                          "passed": [False]})])
    table = quality.participant_quality(hand_made_labels(), checks, people()).set_index("annotator")
    assert table.loc["d", ["labels", "attention_checks", "attention_failed", "loo_n", "ds_items"]].tolist() == [
        0, 1, 1, 0, 0]
    assert np.isnan(table.loc["d", "loo_agreement"]) and np.isnan(table.loc["d", "ds_quality"])
    assert table["fast_labels"].isna().all() and table["min_seconds"].isna().all()


def test_without_ties_policy_drops_comparisons_with_a_tie():
    labels = pd.DataFrame({"item_id": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"], "value": [0, -1, 1, 1],
                           "presented_order": ["AB"] * 4, "seconds": [5.0] * 4})
    no_checks = pd.DataFrame(columns=["annotator", "kind", "passed"])
    nobody = pd.DataFrame(columns=["annotator", "participant_id", "is_excluded", "exclusion_reason"])
    with_ties = quality.participant_quality(labels, no_checks, nobody, tie_policy="with_ties").set_index("annotator")
    without = quality.participant_quality(labels, no_checks, nobody, tie_policy="without_ties").set_index("annotator")
    assert with_ties.loc["a", ["loo_n", "loo_agreement"]].tolist() == [2, 0.5]
    assert without.loc["a", ["loo_n", "loo_agreement"]].tolist() == [1, 1.0]
    assert without.loc["a", "chose_first"] == 0 and without.loc["a", "chose_second"] == 1  # the tie chose neither


def simulated_crowd(accuracies: dict[str, float], n_items: int = 400, seed: int = 0) -> pd.DataFrame:
    """Every worker labels every item: the true sign with probability `accuracy`, else one of the
    other two signs at random (a symmetric confusion; true classes A / tie / B in shares .45/.1/.45)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice([-1, 0, 1], size=n_items, p=[0.45, 0.1, 0.45])
    rows = []
    for worker, accuracy in accuracies.items():
        right = rng.random(n_items) < accuracy
        wrong = np.array([rng.choice([c for c in (-1, 0, 1) if c != t]) for t in truth])
        rows += [{"item_id": i, "annotator": worker, "code": int(c)}
                 for i, c in enumerate(np.where(right, truth, wrong))]
    return pd.DataFrame(rows)


def test_dawid_skene_quality_recovers_each_workers_accuracy_on_overlap():
    accuracies = {"careful": 0.95, "good": 0.85, "fair": 0.7, "random": 1 / 3}
    found = quality.dawid_skene_quality(simulated_crowd(accuracies)).set_index("annotator")["ds_quality"]
    for worker, accuracy in accuracies.items():
        assert found[worker] == pytest.approx(accuracy, abs=0.06), worker
    assert list(found.sort_values(ascending=False).index) == ["careful", "good", "fair", "random"]


def test_dawid_skene_quality_needs_overlap():
    crowd = simulated_crowd({"x": 0.9, "y": 0.9}, n_items=50)
    alone = pd.DataFrame({"item_id": [1000, 1001], "annotator": ["loner", "loner"], "code": [1, -1]})
    found = quality.dawid_skene_quality(pd.concat([crowd, alone])).set_index("annotator")
    assert found.loc["loner", "ds_items"] == 0 and np.isnan(found.loc["loner", "ds_quality"])
    assert found.loc["x", "ds_items"] == 50 and found.loc["x", "ds_quality"] > 0.8
    nobody_shares = quality.dawid_skene_quality(alone)
    assert nobody_shares["ds_items"].tolist() == [0] and nobody_shares["ds_quality"].isna().all()


def test_rubric_scores_count_items_and_events_not_responses():
    # Two raters score both responses of items 1 and 2 (one event per item); a third scores item 3 alone.
    rows = [(event, item, who, response, score, 12.0)
            for event, (item, who, scores) in enumerate([(1, "a", (4, 2)), (1, "b", (4, 3)), (2, "a", (5, 1)),
                                                         (2, "b", (5, 1)), (3, "c", (3, 3))])
            for response, score in enumerate(scores)]
    labels = pd.DataFrame(rows, columns=["event_id", "item_id", "annotator", "response_idx", "value", "seconds"])
    labels["presented_order"] = None
    nobody = pd.DataFrame(columns=["annotator", "participant_id", "is_excluded", "exclusion_reason"])
    table = quality.participant_quality(labels, pd.DataFrame(columns=["annotator", "kind", "passed"]), nobody,
                                        min_seconds=20, is_pairwise=False).set_index("annotator")
    assert table["labels"].tolist() == [2, 2, 1]  # label events, not response scores
    assert table["fast_labels"].tolist() == [2, 2, 1] and table["median_seconds"].tolist() == [12.0] * 3
    assert table["ds_items"].tolist() == [2, 2, 0]  # items shared with someone else, not responses
    assert table.loc[["a", "b"], "ds_quality"].notna().all() and np.isnan(table.loc["c", "ds_quality"])
    assert table[["loo_agreement", "share_first"]].isna().all().all()  # pairwise measures
