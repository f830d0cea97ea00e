"""The one rule that turns human labels into a reference label per item.

Every consumer of "the human label of an item" calls this module: the agreement report, the
export (annotate.data.aggregate), the router's simulation and live router. Before it existed they
disagreed on even splits (report: item dropped; export: tie; router: sign of the mean).

Pairwise (codes -1 = A better, 0 = tie, +1 = B better, the sign of each label's value):

1. An item with a current label whose source is 'adjudicated' (a researcher's final label from
   the review page) takes that label as its reference, whatever the votes (the latest one when
   there are several). Adjudicated labels are never votes.
2. Otherwise the category with strictly more votes than every other wins (a plurality; with two
   or three raters this is the majority).
3. Otherwise the votes are split (A 2 : B 2 with MultiPref's four annotators; A, tie and B once
   each; one A against one tie) and the project's `split_policy` decides:
   - `tie` (the default): the reference is a tie. An even split means no majority prefers either
     response, so this is the reading closest to the data; it keeps every labeled item in every
     number (dropping splits measures judges on the easier items only), and it is what the export
     always did for its final labels.
   - `drop`: the item has no reference (NaN); every statistic leaves it out and the report counts it.
   - `mean-sign`: the sign of the mean signed value (strength included): A 2 (-2, -2) : B 2 (+1, +1)
     gives A. A mean of exactly 0 is a tie.

Rubric scores are not split votes: the reference of a unit (item, response, criterion) is the
mean or the median of its human scores, per the project's `rubric_reference` (see
`rubric_reference`); a single rater's score is its own reference.

Usage:
    from annotate.analysis.reference import reference_labels
    ref = reference_labels(labels[["item_id", "annotator", "value"]], project.config.split_policy)
    # ref: Series indexed by item_id, values -1.0 / 0.0 / 1.0, NaN where the policy drops the item
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from annotate.errors import AnnotateError

SPLIT_POLICIES = ("tie", "drop", "mean-sign")
RUBRIC_REFERENCES = ("mean", "median")
DEFAULT_SPLIT_POLICY = "tie"
ADJUDICATED = "adjudicated"
CATEGORIES = (-1, 0, 1)

POLICY_TEXT = {
    "tie": "an even split of human votes counts as a tie",
    "drop": "items whose human votes split evenly have no reference and are left out",
    "mean-sign": "an even split of human votes goes to the sign of the mean signed value",
}


def check_split_policy(policy: str) -> str:
    """Return `policy` if it is a known split policy, else raise AnnotateError naming the known ones."""
    if policy not in SPLIT_POLICIES:
        raise AnnotateError(f"Unknown split policy '{policy}' (known: {', '.join(SPLIT_POLICIES)})")
    return policy


def describe_policy(policy: str) -> str:
    """One sentence stating the policy, for reports and dataset cards."""
    return f"split policy '{check_split_policy(policy)}': {POLICY_TEXT[policy]}"


def reference_from_counts(counts: np.ndarray, policy: str, sums: np.ndarray | None = None) -> np.ndarray:
    """Reference codes from per-item vote counts: the core of `reference_labels`, vectorised so
    that leave-one-out references (each rater's votes taken away) use the very same rule.

    Args:
        counts: (..., 3) votes for A, tie, B per item (floats or ints; no votes means no reference).
        policy: tie | drop | mean-sign (module docstring).
        sums: (...) the sum of the signed values per item; needed for mean-sign only (the sign
            of the mean is the sign of the sum). Without it the sum of the codes is used.

    Returns:
        (...) codes -1.0 / 0.0 / 1.0; NaN for items without votes or dropped by the policy.
    """
    check_split_policy(policy)
    counts = np.asarray(counts, dtype=float)
    top = counts.max(axis=-1)
    is_unique = (counts == top[..., None]).sum(axis=-1) == 1
    winner = np.asarray(CATEGORIES, dtype=float)[counts.argmax(axis=-1)]
    if policy == "tie":
        split = np.zeros_like(top)
    elif policy == "drop":
        split = np.full_like(top, np.nan)
    else:
        total = (counts @ np.asarray(CATEGORIES, dtype=float)) if sums is None else np.asarray(sums, dtype=float)
        split = np.sign(total)
    return np.where(top > 0, np.where(is_unique, winner, split), np.nan)


def is_split(counts: np.ndarray) -> np.ndarray:
    """Per item, whether its votes split evenly (the top count is shared) - where the policy acts."""
    counts = np.asarray(counts, dtype=float)
    top = counts.max(axis=-1)
    return (top > 0) & ((counts == top[..., None]).sum(axis=-1) > 1)


def reference_labels(labels: pd.DataFrame, policy: str = DEFAULT_SPLIT_POLICY) -> pd.Series:
    """The reference label of each item from its current human labels (pairwise).

    Args:
        labels: one row per current label: item_id, annotator, value (signed: < 0 A better, 0
            tie, > 0 B better). Optional column `source`: rows with 'adjudicated' are the
            researcher's final label and replace the vote (the last such row per item wins, so
            pass them in event order).
        policy: tie | drop | mean-sign: what an even split becomes (module docstring).

    Returns:
        Series named 'reference' indexed by item_id (sorted), values -1.0 / 0.0 / 1.0, NaN where
        the policy drops the item. Items without any label are absent.

    Raises:
        AnnotateError: unknown policy, or a missing column.
    """
    check_split_policy(policy)
    missing = [c for c in ("item_id", "annotator", "value") if c not in labels]
    if missing:
        raise AnnotateError(f"reference_labels: labels lack column(s) {', '.join(missing)}")
    values = labels["value"].to_numpy(dtype=float)
    is_adjudicated = (labels["source"].to_numpy() == ADJUDICATED) if "source" in labels else np.zeros(len(labels), bool)
    items, row_item = np.unique(labels["item_id"].to_numpy(), return_inverse=True)
    votes = ~is_adjudicated & ~np.isnan(values)
    counts = np.zeros((len(items), 3))
    np.add.at(counts, (row_item[votes], np.sign(values[votes]).astype(int) + 1), 1.0)
    sums = np.bincount(row_item[votes], weights=values[votes], minlength=len(items))
    reference = reference_from_counts(counts, policy, sums)
    if is_adjudicated.any():
        final = pd.Series(np.sign(values[is_adjudicated]), index=row_item[is_adjudicated])
        final = final.groupby(level=0).last()
        reference[final.index.to_numpy()] = final.to_numpy()
    return pd.Series(reference, index=pd.Index(items, name="item_id"), name="reference")


def rubric_reference(scores: np.ndarray, method: str = "mean") -> np.ndarray:
    """The human reference score per unit: the mean or median of its human scores.

    Args:
        scores: (n_units, n_raters) scores, NaN where a rater did not score the unit.
        method: mean | median (the project's `rubric_reference`).

    Returns:
        (n_units,) reference scores, NaN for units nobody scored. A median of an even number of
        scores is the midpoint of the middle two (2 and 3 give 2.5).
    """
    if method not in RUBRIC_REFERENCES:
        raise AnnotateError(f"Unknown rubric reference '{method}' (known: {', '.join(RUBRIC_REFERENCES)})")
    scores = np.asarray(scores, dtype=float)
    out = np.full(len(scores), np.nan)
    has = (~np.isnan(scores)).any(axis=1) if scores.size else np.zeros(len(scores), bool)
    if has.any():
        out[has] = (np.nanmean if method == "mean" else np.nanmedian)(scores[has], axis=1)
    return out


def label_roles(labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split current labels by the role they play in agreement numbers.

    Args:
        labels: rows with `kind` (annotators.kind) and `source` (label_events.source).

    Returns:
        (votes, adjudicated, gold): human votes (kind 'account', 'imported' or 'participant', not adjudicated) -
        the only labels that count as human raters; adjudicated labels (a researcher's final label:
        the item's reference, counted apart, never a rater); gold labels (annotators.kind 'gold': a
        benchmark answer key, reported as a reference of its own, never a human rater).
    """
    is_gold = (labels["kind"] == "gold").to_numpy() if "kind" in labels else np.zeros(len(labels), bool)
    is_final = (labels["source"] == ADJUDICATED).to_numpy() if "source" in labels else np.zeros(len(labels), bool)
    return labels[~is_gold & ~is_final], labels[~is_gold & is_final], labels[is_gold]
