"""Choose a ranking on the calibration slice: held-out estimates with an interval (issue 16).

The question: which ranking of the items, bought from the top until the budget is spent, catches
the most errors of the judge? With the judge's labels kept, final accuracy = judge accuracy +
(judge errors among the bought items) / n, so a ranking is worth the errors it catches.

The calibration slice is a uniform random sample of the items, labelled first, so it estimates
this without the selection bias of the other bought items. For a ranking r and a calibration
item i, p_r(i) is the probability that i would be bought: its rank among the non-calibration
items with k = n_human - n_calibration slots, ties broken at random,
    p_r(i) = clip((k - #{pool scores > s_i}) / (#{pool scores = s_i} + 1), 0, 1).
The estimate of errors caught (as a share of the items) is mean_i err_i p_r(i). Two rankings are
compared on the same calibration items (paired): d_i = err_i (p_r(i) - p_q(i)); the candidate
replaces the current choice only when mean(d) - Z se(d) > 0, se = sd(d) / sqrt(m). A model's
scores on calibration items are out-of-fold (its fit never saw that item's label), so the
estimate is held out. Starting from the prior choice and requiring evidence to move makes the
learned strategy fall back to the simple baseline when the slice cannot tell them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Candidate:
    """A ranking: scores per item, and the held-out scores used for calibration items.

    After choose_ranking: estimate (share of items whose judge error it catches), advantage_low /
    advantage_high (interval of the paired advantage over the first candidate), is_chosen.
    """
    name: str
    scores: np.ndarray
    held_out: np.ndarray
    estimate: float = math.nan
    advantage_low: float = math.nan
    advantage_high: float = math.nan
    is_chosen: bool = False


def inclusion_probability(pool: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Probability that an item with each score would be in the top `k` of `pool` (ties at random)."""
    ordered = np.sort(pool)
    above = len(ordered) - np.searchsorted(ordered, scores, side="right")
    tied = np.searchsorted(ordered, scores, side="right") - np.searchsorted(ordered, scores, side="left")
    return np.clip((k - above) / (tied + 1), 0.0, 1.0)


def _paired(caught: np.ndarray, other: np.ndarray, z: float) -> tuple[float, float, float]:
    d = caught - other
    if len(d) < 2:
        return float(d.mean()) if len(d) else 0.0, -math.inf, math.inf
    se = float(d.std(ddof=1) / math.sqrt(len(d)))
    return float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se)


def choose_ranking(candidates: list[Candidate], errors: np.ndarray, calibration: np.ndarray, n_human: int,
                   z: float = 1.0) -> list[Candidate]:
    """Mark the chosen candidate: the first one, replaced in turn by each later candidate whose
    paired advantage over the current choice has a lower bound above zero.

    Args:
        candidates: in order of preference (the first is the prior choice).
        errors: 1 judge wrong / 0 right on bought items, NaN elsewhere.
        calibration: boolean mask of the calibration slice.
        n_human: items humans label in all.
        z: width of the interval in standard errors (1.0: about 84% one-sided).
    """
    cal = calibration & ~np.isnan(errors)
    k = n_human - int(calibration.sum())
    chosen = candidates[0]
    if cal.sum() == 0 or k <= 0:
        chosen.is_chosen = True
        return candidates
    pool = ~calibration
    caught = {}
    for candidate in candidates:
        p = inclusion_probability(candidate.scores[pool], candidate.held_out[cal], k)
        caught[candidate.name] = errors[cal] * p
        candidate.estimate = float(caught[candidate.name].mean())
        _, candidate.advantage_low, candidate.advantage_high = _paired(caught[candidate.name],
                                                                       caught[chosen.name], z)
    for candidate in candidates[1:]:
        _, low, _ = _paired(caught[candidate.name], caught[chosen.name], z)
        if low > 0:
            chosen = candidate
    chosen.is_chosen = True
    return candidates
