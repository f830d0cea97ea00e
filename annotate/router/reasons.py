"""Why an item goes to humans, in words a researcher reads on the Router page.

Each reason is a fact about the item's own judgments, not a model coefficient: the judge flips
its verdict when A and B are swapped, the judges disagree, the judge is unsure or unparsed, its
verdict contradicts its verdicts on items that share a response, it prefers the longer response,
or the item is in the random calibration slice. The learned strategy adds the error model's
estimate when that model is the ranking in use.
"""
from __future__ import annotations

import numpy as np

from annotate.router.features import ItemFeatures

UNSURE_MARGIN = 0.2  # the judge's top two probabilities within this of each other


def explain(features: ItemFeatures, router, human: np.ndarray, is_calibration: np.ndarray,
            is_labelled: np.ndarray) -> list[str]:
    """One sentence per item: '; '-joined reasons (empty for AI items with nothing to flag)."""
    frame, judge = features.frame, features.primary
    flips = frame[f"{judge}:is_inconsistent"].to_numpy() > 0
    unparsed = frame[f"{judge}:is_unparsed"].to_numpy() > 0
    unsure = (frame[f"{judge}:margin"].to_numpy() < UNSURE_MARGIN) & ~unparsed
    disagree = frame["judges_disagree"].to_numpy()
    contradicts = frame[f"{judge}:sibling_consistency"].to_numpy() < 0
    longer = frame["ai_prefers_longer"].to_numpy() > 0
    uses_model = getattr(router, "choice_", "") == "error model"
    wrong = getattr(router, "error_probs_", None)
    others = max(features.n_judges - 1, 1)
    out = []
    for i in range(len(features)):
        reasons = []
        if is_labelled[i]:
            reasons.append("already labelled by humans")
        if is_calibration[i]:
            reasons.append("random calibration slice (measures the judge without selection bias)")
        if unparsed[i]:
            reasons.append("the judge's reply could not be parsed")
        if flips[i]:
            reasons.append("judge changes its verdict when A/B are swapped")
        if disagree[i] > 0:
            reasons.append("two judges disagree" if others == 1 else
                           f"{round(disagree[i] * others)} of {others} other judges disagree with '{judge}'")
        if unsure[i]:
            reasons.append("the judge is unsure (its top two probabilities are close)")
        if contradicts[i]:
            reasons.append("the verdict contradicts the judge's verdicts on items that share a response")
        if uses_model and wrong is not None and human[i]:
            reasons.append(f"error model: P(judge wrong) = {wrong[i]:.2f}")
            if longer[i]:
                reasons.append("the judge prefers the longer response")
        out.append("; ".join(reasons))
    return out
