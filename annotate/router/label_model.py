"""The router's label model: an AI label for the items not sent to humans, other than the judge's.

This is relabeling, not routing, and it is opt-in (`--ai-label model`); by default an item left
to the AI keeps the primary judge's combined verdict. The model stacks the judges and the item
features (a multinomial logistic regression of the human class A / tie / B on every judge's
probabilities, margins, inconsistency, disagreement, lengths and, with shared evidence, the bought
human labels of items that share a response), in the spirit of Snorkel's label model and of
Dawid-Skene, which weight noisy sources by their estimated accuracy. It is fitted on the bought
labels plus a prior: pseudo-labels equal to the judge's verdicts on unbought items, worth
`prior_weight` labels in all (a Dirichlet-style pseudo-count that keeps the judge's verdict while
few labels exist). Its regularisation is chosen by cross-validation inside the bought labels.

Relabeling from selection-biased labels can make things worse (the bought items are where the
judge errs, so a model fitted on them learns to contradict it), so `choose_labels` replaces the
judge's verdicts only when the calibration slice shows the model is better on the items that stay
with the AI: out-of-fold predictions on the labelled calibration items, each weighted by the
probability that it would not have been bought (1 - inclusion probability under the router's
gain, selection.py), compared with the judge's verdicts pairwise; the model is used when the
mean advantage minus Z = 1.645 standard errors (95% one-sided) is above zero: a wrong relabeling
costs more than a missed one, so the bar is higher than for routing. Items it relabels carry the provenance
LABEL_MODEL_SOURCE instead of the judge's name.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.linear_model import LogisticRegression

from annotate.router.features import ItemFeatures
from annotate.router.selection import inclusion_probability
from annotate.router.strategies import (
    CLASSES,
    Context,
    apply_leak_guard,
    design_matrix,
    fit_logistic,
)

LABEL_MODEL_VERSION = "label-model-v1"
LABEL_MODEL_SOURCE = f"router {LABEL_MODEL_VERSION}"
MIN_CALIBRATION = 10  # labelled calibration items before the label model may replace the judge


class LabelModel:
    """P(human class | features), fitted on bought labels plus the judge's pseudo-labels.

    Attributes (after fit): probs_ (items x [A, tie, B]), labels_ (signed classes; the judge's
    verdict where the model has too little to go on).
    """
    version = LABEL_MODEL_VERSION

    def __init__(self, rng: np.random.Generator, prior_weight: float = 20.0, max_prior_rows: int = 300):
        self.rng, self.prior_weight, self.max_prior_rows = rng, prior_weight, max_prior_rows

    def fit(self, features: ItemFeatures, context: Context) -> "LabelModel":
        """Fit on the labels in `context.known` and predict every item."""
        known = context.known
        apply_leak_guard(features, context)
        x = design_matrix(features, context)
        bought = np.flatnonzero(~np.isnan(known))
        pool = np.flatnonzero(np.isnan(known) & ~np.isnan(features.ai_label))
        if len(pool) > self.max_prior_rows:
            pool = self.rng.choice(pool, self.max_prior_rows, replace=False)
        rows = np.r_[bought, pool]
        y = np.r_[known[bought], features.ai_label[pool]]
        weight = np.r_[np.ones(len(bought)), np.full(len(pool), self.prior_weight / max(len(pool), 1))]
        model = fit_logistic(x[rows], y, self.rng, weight, cv_rows=np.arange(len(bought))) if len(rows) else None
        self.C_ = model.C if model is not None else None
        self.x_, self.rows_, self.y_, self.weight_ = x, rows, y, weight
        if model is None:
            fallback = np.where(np.isnan(features.ai_label), y[0] if len(y) else 0.0, features.ai_label)
            self.probs_ = (fallback[:, None] == CLASSES[None, :]).astype(float)
        else:
            self.probs_ = np.zeros((len(x), 3))
            self.probs_[:, np.searchsorted(CLASSES, model.classes_)] = model.predict_proba(x)
        self.labels_ = CLASSES[np.argmax(self.probs_, axis=1)]
        return self


def held_out_labels(model: LabelModel, held: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold class predictions for the item indices `held` (each fold's fit leaves its
    items' labels out), with the regularisation the full fit chose."""
    out = np.full(len(held), np.nan)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(held)) % min(folds, len(held))
    for k in range(fold.max() + 1):
        left_out = held[fold == k]
        keep = ~np.isin(model.rows_, left_out)
        y = model.y_[keep]
        if len(np.unique(y)) < 2 or model.C_ is None:
            continue
        part = LogisticRegression(C=model.C_, max_iter=500).fit(model.x_[model.rows_[keep]], y,
                                                                sample_weight=model.weight_[keep])
        out[fold == k] = part.predict(model.x_[left_out])
    return out


def choose_labels(features: ItemFeatures, context: Context, gain: np.ndarray, seed: int = 0,
                  z: float = 1.645) -> tuple[np.ndarray, bool, str]:
    """AI labels for every item: the label model's when the calibration slice shows it beats the
    judge on the items left to the AI (module docstring), else the judge's verdicts.

    Returns:
        (labels per item, whether the model's labels are used, a sentence saying why).
    """
    bought = ~np.isnan(context.known)
    cal = np.flatnonzero(context.calibration & bought)
    if len(cal) < MIN_CALIBRATION:
        return features.ai_label, False, (f"judge's verdicts: {len(cal)} labelled calibration items are too few "
                                          f"to test the label model (at least {MIN_CALIBRATION})")
    model = LabelModel(np.random.default_rng(seed)).fit(features, context)
    predicted = held_out_labels(model, cal, seed=seed)
    pool = ~context.calibration
    stays = 1 - inclusion_probability(gain[pool], gain[cal], int((bought & pool).sum()))
    truth = context.known[cal]
    d = stays * ((predicted == truth).astype(float) - (features.ai_label[cal] == truth).astype(float))
    low = d.mean() - z * d.std(ddof=1) / math.sqrt(len(d))
    if low > 0:
        return model.labels_, True, (f"label model: beats the judge on the calibration slice by {d.mean():.1%} "
                                     f"(lower bound {low:.1%})")
    return features.ai_label, False, (f"judge's verdicts: the label model does not beat them on the calibration "
                                      f"slice ({d.mean():+.1%})")
