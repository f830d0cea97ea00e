"""Agreement statistics: published numbers, MT-Bench semantics and defined edge cases."""
from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from annotate.analysis import agreement as ag
from annotate.analysis import reference as ref_lib
from annotate.analysis import rubric_agreement as rubric
from annotate.config import ProjectConfig
from annotate.data import aggregate
from annotate.errors import AnnotateError

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12
# units with missing values (also the example in the `krippendorff` package's tests).
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
])


@pytest.mark.parametrize("level, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                              ("ratio", 0.797)])
def test_krippendorff_alpha_reproduces_the_2011_worked_example(level, published):
    result = ag.krippendorff_alpha(KRIPPENDORFF_2011, level)
    assert result["reason"] is None
    assert result["alpha"] == pytest.approx(published, abs=5e-4)
    assert result["n_units"] == 11  # unit 12 has a single value and is not pairable


def test_fleiss_kappa_reproduces_the_worked_example():
    # Fleiss (1971) style worked example (10 subjects, 14 raters, 5 categories) from Wikipedia's
    # "Fleiss' kappa" article: kappa = 0.210.
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert ag.fleiss_kappa(counts)["kappa"] == pytest.approx(0.210, abs=5e-4)


@pytest.mark.parametrize("weights", ["unweighted", "linear", "quadratic"])
def test_kappa_from_blocks_equals_sklearn(weights):
    rng = np.random.default_rng(3)
    a, b = rng.integers(-1, 2, 400), rng.integers(-1, 2, 400)
    b[:250] = a[:250]
    conf = ag.versus_blocks(a, b).sum(axis=0)
    expected = cohen_kappa_score(a, b, weights=None if weights == "unweighted" else weights)
    assert float(ag.kappa_from_blocks(conf, "with_ties", weights)) == pytest.approx(expected, abs=1e-12)


def test_mtbench_with_ties_counts_a_tie_as_agreement_and_pairs_distinct_raters_only():
    # Item 1: A, A, tie -> 3 pairs, 1 agreeing. Item 2: tie, tie -> 1 pair, agreeing.
    # Item 3: one rater -> no pair (a rater is never compared with itself).
    codes = np.array([[-1, -1, 0], [0, 0, nan], [1, nan, nan]])
    result = ag.percent_agreement(codes, "with_ties")
    assert (result["n_pairs"], result["n_items"]) == (4, 2)
    assert result["agreement"] == pytest.approx(2 / 4)
    assert result["tie_policy"] == "with_ties"


def test_mtbench_without_ties_drops_every_pair_with_a_tie():
    codes = np.array([[-1, -1, 0], [0, 0, nan], [1, -1, 0]])
    result = ag.percent_agreement(codes, "without_ties")
    # Item 1 keeps (A, A); item 2 keeps nothing; item 3 keeps (B, A).
    assert (result["n_pairs"], result["n_items"], result["agreement"]) == (2, 2, 0.5)
    assert result["tie_policy"] == "without_ties"


def test_judge_against_every_human_follows_mtbench_pairs():
    judge = np.array([-1, 0])
    counts = ag.category_counts(np.array([[-1, 1, 0], [0, 0, -1]]))
    conf = ag.versus_raters_blocks(judge, counts).sum(axis=0)
    assert ag.percent_from_blocks(conf, "with_ties")[0] == pytest.approx(3 / 6)
    # Without ties only (A vs A) and (A vs B) on item 1 remain.
    assert ag.percent_from_blocks(conf, "without_ties")[0] == pytest.approx(1 / 2)


def test_strict_majority_leaves_out_items_where_all_raters_differ():
    counts = ag.category_counts(np.array([[-1, 0, 1], [1, 1, 0], [-1, 1, nan], [nan, nan, nan]]))
    assert np.array_equal(ag.strict_majority(counts), [nan, 1, nan, nan], equal_nan=True)


def test_leave_one_out_compares_each_rater_with_the_others_majority():
    blocks, per_rater = ag.leave_one_out_blocks(np.array([[-1, -1, 1]]))
    # Raters 1 and 2 see others {A, B}: no majority. Rater 3 (B) sees {A, A}: disagrees.
    assert blocks.sum() == 1 and blocks[0, 2, 0] == 1
    assert per_rater[2].sum() == 1 and per_rater[:2].sum() == 0


def test_kappa_is_undefined_with_a_reason_when_both_raters_use_one_category():
    table = ag.rater_pair_table(pd.DataFrame({"x": [1.0, 1.0], "y": [1.0, 1.0]}), "with_ties")
    assert np.isnan(table["kappa"].iloc[0]) and table["agreement"].iloc[0] == 1.0
    assert "one and the same category" in table["reason"].iloc[0]


def test_pairs_without_common_items_give_a_reason():
    table = ag.rater_pair_table(pd.DataFrame({"x": [1.0, nan], "y": [nan, 0.0]}), "without_ties")
    assert table["n"].iloc[0] == 0 and np.isnan(table["agreement"].iloc[0])
    assert table["reason"].iloc[0] == "no comparisons without a tie"


def test_alpha_and_fleiss_edge_cases_return_reasons():
    same = ag.krippendorff_alpha(np.array([[1.0, 1.0], [1.0, 1.0]]), "nominal")
    assert np.isnan(same["alpha"]) and "same" in same["reason"]
    lonely = ag.krippendorff_alpha(np.array([[1.0, nan], [nan, 2.0]]), "interval")
    assert lonely["n_units"] == 0 and "two or more" in lonely["reason"]
    signed = ag.krippendorff_alpha(np.array([[-1.0, 1.0], [-1.0, 1.0]]), "ratio")
    assert np.isnan(signed["alpha"]) and "ratio" in signed["reason"]
    assert ag.fleiss_kappa(np.array([[1, 0, 0]]))["reason"] == "no item has two or more raters"
    assert "one category" in ag.fleiss_kappa(np.array([[2, 0, 0], [3, 0, 0]]))["reason"]


def test_correlations_at_least_three_pairs_and_not_constant():
    table = ag.correlations([1, 2, 3, 4], [2, 4, 6, 9]).set_index("method")
    assert table.loc["pearson", "r"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [2, 4, 6, 9])[0, 1])
    assert table.loc["spearman", "r"] == pytest.approx(1.0) and table.loc["kendall", "r"] == pytest.approx(1.0)
    assert ag.correlations([1, 2], [1, 2])["reason"].iloc[0] == "2 pairs; at least 3 are needed"
    assert ag.correlations([1, 1, 1], [1, 2, 3])["reason"].iloc[0] == "one of the series is constant"


def test_bootstrap_is_reproducible_with_a_seed_and_resamples_whole_items():
    per_item = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    first = ag.bootstrap_sums(per_item, 20, seed=7)
    assert np.array_equal(first, ag.bootstrap_sums(per_item, 20, seed=7))
    assert not np.array_equal(first, ag.bootstrap_sums(per_item, 20, seed=8))
    # Each resample takes 3 whole items: column 2 is always column 1 plus 3 (one per item).
    assert np.allclose(first[:, 1] - first[:, 0], 3.0)


def test_bootstrap_of_few_item_patterns_draws_n_items_around_the_full_sum():
    # 1000 items with 2 distinct rows: the pooled (multinomial) path.
    per_item = np.repeat(np.array([[1.0, 1.0], [1.0, 0.0]]), [300, 700], axis=0)
    sums = ag.bootstrap_sums(per_item, 2000, seed=1)
    assert np.array_equal(sums, ag.bootstrap_sums(per_item, 2000, seed=1))
    assert np.all(sums[:, 0] == 1000)  # every resample has n items
    assert sums[:, 1].mean() == pytest.approx(300, abs=2)
    assert sums[:, 1].std() == pytest.approx(np.sqrt(1000 * 0.3 * 0.7), rel=0.1)  # binomial spread


def test_unknown_tie_policy_is_an_error():
    with pytest.raises(AnnotateError, match="Unknown tie policy 'sometimes'"):
        ag.percent_agreement(np.array([[1.0, 1.0]]), "sometimes")


# ------------------------------------------------------------------ the one reference rule (issue 14, section 3)

def long_labels(votes: dict[str, list[float]], source: dict[str, str] | None = None) -> pd.DataFrame:
    rows = [{"item_id": item, "annotator": f"a{k}", "value": float(v), "source": (source or {}).get(f"{item}:{k}", "app")}
            for item, values in votes.items() for k, v in enumerate(values)]
    return pd.DataFrame(rows)


# MultiPref has four annotators: 'split' is two (much) for A against two (slightly) for B.
MULTIPREF_VOTES = {"majority": [-1, -2, 1, -1], "split": [-2, -2, 1, 1], "three_way": [-1, 0, 1],
                   "a_or_tie": [-1, 0], "zero_mean": [-1, -1, 1, 1], "solo": [2]}


@pytest.mark.parametrize("policy, expected", [
    ("tie", {"majority": -1, "split": 0, "three_way": 0, "a_or_tie": 0, "zero_mean": 0, "solo": 1}),
    ("drop", {"majority": -1, "split": nan, "three_way": nan, "a_or_tie": nan, "zero_mean": nan, "solo": 1}),
    ("mean-sign", {"majority": -1, "split": -1, "three_way": 0, "a_or_tie": -1, "zero_mean": 0, "solo": 1}),
])
def test_split_policy_decides_two_against_two_and_nothing_else(policy, expected):
    result = ref_lib.reference_labels(long_labels(MULTIPREF_VOTES), policy)
    nulls = ref_lib.reference_labels(long_labels({"x": [nan, 1], "only_null": [nan]}), policy)
    assert nulls["x"] == 1 and np.isnan(nulls["only_null"])  # a null value is no vote
    assert result.to_dict().keys() == expected.keys()
    for item, value in expected.items():
        assert result[item] == value or (np.isnan(value) and np.isnan(result[item])), item


def test_an_adjudicated_label_is_the_reference_whatever_the_votes_and_is_not_a_vote():
    labels = long_labels({"x": [-1, -1, -1, 1], "y": [1, -1]}, source={"x:3": "adjudicated"})
    result = ref_lib.reference_labels(labels, "drop")
    # x: three A votes, but the researcher's final label says B. y: a split, dropped.
    assert result["x"] == 1 and np.isnan(result["y"])
    # Without the adjudication the votes would be A, A, A: the final label is not counted as a vote.
    votes, adjudicated, gold = ref_lib.label_roles(labels.assign(kind="account"))
    assert len(votes) == 5 and len(adjudicated) == 1 and gold.empty


def test_gold_raters_are_never_human_votes():
    labels = long_labels({"x": [1, -1, -1]}).assign(kind=["account", "imported", "gold"])
    votes, _, gold = ref_lib.label_roles(labels)
    assert votes["annotator"].tolist() == ["a0", "a1"] and gold["annotator"].tolist() == ["a2"]


def test_split_policies_are_the_project_config_choices_and_unknown_ones_are_errors():
    assert get_args(ProjectConfig.model_fields["split_policy"].annotation) == ref_lib.SPLIT_POLICIES
    assert ProjectConfig(task_type="pairwise").split_policy == ref_lib.DEFAULT_SPLIT_POLICY == "tie"
    assert get_args(ProjectConfig.model_fields["rubric_reference"].annotation) == ref_lib.RUBRIC_REFERENCES
    with pytest.raises(AnnotateError, match="Unknown split policy 'coin'"):
        ref_lib.reference_labels(long_labels({"x": [1]}), "coin")
    with pytest.raises(AnnotateError, match="lack column"):
        ref_lib.reference_labels(pd.DataFrame({"item_id": [1], "value": [1.0]}))
    assert "counts as a tie" in ref_lib.describe_policy("tie")


def test_leave_one_out_references_use_the_same_policy():
    # Four raters: A, A, B, B. Leaving out an A leaves A, B, B -> B; leaving out a B leaves A, A, B -> A.
    codes = np.array([[-1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, nan, nan]])
    loo = ag.leave_one_out_references(codes, "tie")
    assert loo[0].tolist() == [1, 1, -1, -1]
    # Item 2: each of the two raters is left with the other alone -> that rater's vote.
    assert loo[1, :2].tolist() == [1, -1] and np.isnan(loo[1, 2:]).all()
    three = np.array([[-1.0, 1.0, 0.0]])  # others always split 1:1
    assert ag.leave_one_out_references(three, "tie")[0].tolist() == [0, 0, 0]
    assert np.isnan(ag.leave_one_out_references(three, "drop")).all()
    values = np.array([[-2.0, 1.0, 0.0]])  # mean-sign: left with {1, 0} -> B; {-2, 0} -> A; {-2, 1} -> A
    assert ag.leave_one_out_references(three, "mean-sign", values)[0].tolist() == [1, -1, -1]


def test_export_majority_follows_the_project_split_policy():
    votes = pd.DataFrame([{"item_id": item, "aspect": "overall", "annotator_id": k, "value": float(v),
                           "both_bad": False} for item, values in MULTIPREF_VOTES.items() for k, v in enumerate(values)])
    by_item = {policy: aggregate.aggregate_pairwise(votes, "majority", 1.0, policy).set_index("item_id")["value"]
               for policy in ref_lib.SPLIT_POLICIES}
    assert by_item["tie"]["split"] == 0 and by_item["tie"]["majority"] == pytest.approx(-4 / 3)
    assert "split" not in by_item["drop"].index and len(by_item["drop"]) == 2  # majority and solo only
    assert by_item["mean-sign"]["split"] == -2  # A wins; its strength is the mean of the A votes


def test_rubric_reference_is_mean_or_median_and_one_rater_is_its_own_reference():
    scores = np.array([[1.0, 2.0, 2.0], [3.0, nan, nan], [nan, nan, nan], [0.0, 3.0, nan]])
    mean, median = ref_lib.rubric_reference(scores, "mean"), ref_lib.rubric_reference(scores, "median")
    assert mean[:2].tolist() == [pytest.approx(5 / 3), 3.0] and np.isnan(mean[2]) and mean[3] == 1.5
    assert median[:2].tolist() == [2.0, 3.0] and median[3] == 1.5
    with pytest.raises(AnnotateError, match="Unknown rubric reference"):
        ref_lib.rubric_reference(scores, "mode")


# ------------------------------------------------------------------ rubric statistics from joint tables (section 5)

def _joint(x, y):
    xs, ys = np.unique(x), np.unique(y)
    table = np.zeros((1, len(xs), len(ys)))
    np.add.at(table, (0, np.searchsorted(xs, x), np.searchsorted(ys, y)), 1)
    return table, xs.astype(float), ys.astype(float)


def test_rubric_statistics_of_the_joint_table_equal_the_reference_implementations():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 80).astype(float)
    y = np.clip(x + rng.integers(-1, 2, 80), 0, 3).astype(float)
    y[::7] = 1.5  # a mean of two human scores: not a scale point
    table, xs, ys = _joint(x, y)
    out = {k: float(v[0]) for k, v in rubric.joint_stats(table, xs, ys, [0, 1, 2, 3]).items()}
    assert out["pearson"] == pytest.approx(stats.pearsonr(x, y)[0])
    assert out["spearman"] == pytest.approx(stats.spearmanr(x, y)[0])
    assert out["kendall"] == pytest.approx(stats.kendalltau(x, y)[0])
    rounded = np.floor(y + 0.5)
    assert out["exact_agreement"] == pytest.approx((x == rounded).mean())
    for weights in ("linear", "quadratic"):
        assert out[f"kappa_{weights}"] == pytest.approx(cohen_kappa_score(x, rounded, weights=weights))
    assert out["kappa_unweighted"] == pytest.approx(cohen_kappa_score(x, rounded))
    assert out["alpha_interval"] == pytest.approx(
        ag.krippendorff_alpha(np.stack([x, y]), "interval")["alpha"])
    assert out["alpha_ordinal"] == pytest.approx(
        ag.krippendorff_alpha(np.stack([x, rounded]), "ordinal", [0, 1, 2, 3])["alpha"])


def test_rubric_statistics_are_undefined_with_a_constant_series():
    table, xs, ys = _joint(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    out = rubric.joint_stats(table, xs, ys, [1, 2, 3])
    assert np.isnan(out["pearson"][0]) and np.isnan(out["spearman"][0]) and np.isnan(out["kendall"][0])
    assert not np.isnan(out["alpha_interval"][0])  # the two coders differ: alpha is defined
    assert out["kappa_unweighted"][0] == 0.0  # one category for the judge: agreement is chance-level
