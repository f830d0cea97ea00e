"""Known biases of pairwise raters: position (judges and humans) and length (verbosity).

- Position consistency (MT-Bench, Zheng et al. 2023, arXiv 2306.05685, section 3.3 and table 2):
  a judge asked in both orders is *consistent* when its canonical verdict is the same; it is
  *biased to first* when it picks whichever response was shown first both times, *biased to
  second* likewise; any other disagreement (a tie in one order only) is *other*.
- Length: P(prefer the longer response | the two differ by more than 30 characters), over
  non-tie preferences (a tie prefers neither); 0.5 means no length preference (cf. the verbosity
  bias of MT-Bench section 3.3 and AlpacaEval's length control, Dubois et al. 2024, arXiv
  2404.04475).
- Human left/right bias from the stored presentation order: the share of non-tie labels that
  chose the response shown on the left, with a two-sided binomial test against 0.5.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from annotate.analysis.definitions import order_codes  # the one reading of a judge's two orders
from annotate.signs import SIGN

LENGTH_MARGIN = 30
POSITION_COLUMNS = ["judge", "n_items", "consistent", "biased_first", "biased_second", "other", "reason"]
LENGTH_COLUMNS = ["rater", "kind", "n_pairs_long_diff", "n_ties", "n_preferences", "p_prefer_longer", "reason"]
SIDE_COLUMNS = ["annotator", "n_labels", "n_ties", "left", "right", "p_left", "p_value", "reason"]


def position_consistency(judgments: pd.DataFrame, orders: dict[str, dict] | None = None) -> pd.DataFrame:
    """Per judge, the shares of items judged in both orders that are consistent, biased to the
    first or second position, or otherwise inconsistent.

    Args:
        judgments: pairwise judgments (judgment_id, item_id, judge, presented_order, verdict,
            is_parsed) in canonical terms. The latest parsed judgment per (item, judge, order)
            counts; items lacking a parsed judgment in either order are left out.

        orders: annotate.analysis.definitions.order_codes of these judgments, when the caller has them.

    Returns:
        POSITION_COLUMNS, shares in [0, 1]; a reason when a judge has no item in both orders.
    """
    if orders is None:
        orders = order_codes(judgments, np.unique(judgments["item_id"].to_numpy()), sorted(judgments["judge"].unique()))
    rows = []
    for judge, codes in sorted(orders.items()):
        both = ~np.isnan(codes["AB"]) & ~np.isnan(codes["BA"])
        ab, ba = codes["AB"][both], codes["BA"][both]
        if not both.any():
            rows.append({"judge": judge, "n_items": 0, "reason": "no item was judged in both orders"})
            continue
        first = (ab == SIGN["A"]) & (ba == SIGN["B"])    # shown first: A in order AB, B in order BA
        second = (ab == SIGN["B"]) & (ba == SIGN["A"])
        consistent = ab == ba
        rows.append({"judge": judge, "n_items": int(both.sum()), "consistent": consistent.mean(),
                     "biased_first": first.mean(), "biased_second": second.mean(),
                     "other": (~(consistent | first | second)).mean(), "reason": None})
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def length_preference(preferences: pd.DataFrame, lengths: pd.DataFrame,
                      margin: int = LENGTH_MARGIN) -> pd.DataFrame:
    """P(prefer the longer response | |len(A) - len(B)| > margin characters) per rater.

    Args:
        preferences: rater, kind ('human' | 'judge'), item_id, code (-1 A, 0 tie, 1 B).
        lengths: item_id, idx (0 = A, 1 = B), n_chars.

    Returns:
        LENGTH_COLUMNS: comparisons with a long enough difference, the ties among them, the
        non-tie preferences, and the share of those choosing the longer response.
    """
    wide = lengths.pivot_table(index="item_id", columns="idx", values="n_chars", aggfunc="first")
    if not {0, 1} <= set(wide.columns):
        diff = pd.Series(dtype=float, name="diff")
    else:
        diff = (wide[1] - wide[0]).rename("diff")   # > 0: B is longer
    data = preferences.merge(diff, left_on="item_id", right_index=True, how="inner")
    data = data[data["diff"].abs() > margin]
    rows = []
    for (rater, kind), group in preferences.groupby(["rater", "kind"], sort=True, observed=True):
        sub = data[(data["rater"] == rater) & (data["kind"] == kind)]
        decided = sub[sub["code"] != 0]
        longer = np.sign(decided["code"]) == np.sign(decided["diff"])
        reason = None if len(decided) else f"no non-tie preference on items differing by > {margin} characters"
        rows.append({"rater": rater, "kind": kind, "n_pairs_long_diff": len(sub),
                     "n_ties": int((sub["code"] == 0).sum()), "n_preferences": len(decided),
                     "p_prefer_longer": float(longer.mean()) if len(decided) else float("nan"),
                     "reason": reason})
    return pd.DataFrame(rows, columns=LENGTH_COLUMNS)


def side_bias(labels: pd.DataFrame) -> pd.DataFrame:
    """Human left/right bias from the stored presentation order, per annotator and for all.

    Args:
        labels: annotator, value (signed, canonical), presented_order ('AB' | 'BA' | None).
            The left response is canonical A under 'AB' and B under 'BA', so a label chose the
            left side when value < 0 under 'AB' or value > 0 under 'BA'. Labels without a stored
            order (imports) are left out.

    Returns:
        SIDE_COLUMNS with p_left = left / (left + right) and a two-sided binomial test p-value.
    """
    shown = labels[labels["presented_order"].isin(["AB", "BA"])]
    flip = np.where(shown["presented_order"] == "AB", 1, -1)
    side = pd.DataFrame({"annotator": shown["annotator"].to_numpy(),
                         "screen": np.sign(shown["value"].to_numpy()) * flip})  # < 0: left chosen
    groups = [(name, group) for name, group in side.groupby("annotator", sort=True)]
    groups.append(("(all annotators)", side))
    rows = []
    for name, group in groups:
        left, right = int((group["screen"] < 0).sum()), int((group["screen"] > 0).sum())
        row = {"annotator": name, "n_labels": len(group), "n_ties": int((group["screen"] == 0).sum()),
               "left": left, "right": right, "p_left": float("nan"), "p_value": float("nan"), "reason": None}
        if left + right == 0:
            row["reason"] = ("no label with a stored presentation order" if len(group) == 0
                             else "only ties")
        else:
            row["p_left"] = left / (left + right)
            row["p_value"] = float(stats.binomtest(left, left + right, 0.5).pvalue)
        rows.append(row)
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


def verdict_codes(verdicts: pd.Series) -> np.ndarray:
    """Judge verdicts 'A' | 'tie' | 'B' (None when unparsed) as codes -1 | 0 | 1 (NaN)."""
    position = pd.Index(list(SIGN)).get_indexer(verdicts.astype(object))
    codes = np.asarray(list(SIGN.values()), dtype=float)
    return np.where(position >= 0, codes[position], np.nan)
