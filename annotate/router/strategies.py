"""Routing strategies: a gain per item (higher = a human label is worth more there) and the AI labels.

- all-ai / all-human: route nothing / everything to humans (the two ends of the budget curve);
- random: uniform gain;
- uncertainty: the primary judge's doubt, (1 - margin + normalised entropy) / 2, unparsed = 1;
- disagreement: share of other judges that disagree with the primary, then swap inconsistency,
  then uncertainty (weights 1, 1/2, 1/4, scaled to [0, 1]);
- learned: a multinomial logistic regression of the human class (A / tie / B) on the features
  and on human evidence from bought sibling labels, fitted only on bought labels plus a prior of
  pseudo-labels equal to the AI labels of unbought items worth `prior_weight` labels in all (a
  Dirichlet-style pseudo-count that keeps the judge's verdict while few labels exist). The AI
  label becomes the model's most probable class, and gain = P(that label is wrong) = 1 - max_c P(c);
- hyper: HyPER's per-instance gain form (Miranda et al. 2024, "Hybrid Preferences: Learning to
  Route Instances for Human vs. AI Feedback", arXiv 2410.19133, section 3): a linear performance
  prediction model perf(S) = b0 + sum_i in S  w . x_i over the human-routed set S is additive, so
  the gain of routing instance i to a human is w . x_i. Here performance is final-label accuracy;
  on a bought item, routing it to a human gained 1[AI label != human label], so w is a ridge
  regression of that per-instance gain on the features (equal in expectation to fitting perf(S)
  on random subsets S of the bought items). The AI label stays the judge's.
Ties in gain are broken at random by the caller's generator.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from annotate.errors import AnnotateError
from annotate.router.features import ItemFeatures, human_evidence
from annotate.signs import SIGN
from annotate.router.names import STRATEGIES

CLASSES = np.array(sorted(SIGN.values()), dtype=float)  # -1 A, 0 tie, +1 B
MODEL_VERSION = {"learned": "learned-logreg-v1", "hyper": "hyper-ridge-v1"}


class Router(Protocol):
    """A fitted strategy: gain_ and labels_ (AI labels as signed classes) per item."""
    gain_: np.ndarray
    labels_: np.ndarray

    def fit(self, features: ItemFeatures, known: np.ndarray) -> "Router": ...


def check_strategy(name: str) -> str:
    """Return `name` if it is a strategy, else raise AnnotateError listing them."""
    if name not in STRATEGIES:
        raise AnnotateError(f"Unknown routing strategy '{name}' (strategies: {', '.join(STRATEGIES)})")
    return name


def uncertainty_gain(features: ItemFeatures) -> np.ndarray:
    """(1 - margin + entropy) / 2 of the primary judge; 1 where it did not parse."""
    frame, name = features.frame, features.primary
    gain = (1 - frame[f"{name}:margin"].to_numpy() + frame[f"{name}:entropy"].to_numpy()) / 2
    return np.where(frame[f"{name}:is_unparsed"].to_numpy() > 0, 1.0, gain)


def disagreement_gain(features: ItemFeatures) -> np.ndarray:
    """(disagree + inconsistent / 2 + uncertainty / 4) / 1.75, in [0, 1]."""
    frame = features.frame
    inconsistent = frame[f"{features.primary}:is_inconsistent"].to_numpy()
    return (frame["judges_disagree"].to_numpy() + inconsistent / 2 + uncertainty_gain(features) / 4) / 1.75


class StaticRouter:
    """all-ai, all-human, random, uncertainty, disagreement: gains that need no human label."""

    def __init__(self, strategy: str, rng: np.random.Generator):
        self.strategy, self.rng = strategy, rng
        self.model_version = f"{strategy}-v1"

    def fit(self, features: ItemFeatures, known: np.ndarray) -> "StaticRouter":
        if self.strategy == "uncertainty":
            self.gain_ = uncertainty_gain(features)
        elif self.strategy == "disagreement":
            self.gain_ = disagreement_gain(features)
        else:
            self.gain_ = self.rng.random(len(features))
        self.labels_ = features.ai_label
        return self


class LearnedRouter:
    """P(human class | features, bought sibling labels), refitted as labels arrive.

    Args:
        prior_weight: total weight of the pseudo-labels (the AI labels of unbought items); with
            no human labels the model reproduces the judge, with many the labels dominate.
        C: inverse L2 strength of the logistic regression (features are z-scored).
        max_prior_rows: pseudo-labels drawn (at random) from the pool, to bound the fit's cost.
    """
    model_version = MODEL_VERSION["learned"]

    def __init__(self, rng: np.random.Generator, prior_weight: float = 20.0, C: float = 0.3,
                 max_prior_rows: int = 2000):
        self.rng, self.prior_weight, self.C, self.max_prior_rows = rng, prior_weight, C, max_prior_rows

    def fit(self, features: ItemFeatures, known: np.ndarray) -> "LearnedRouter":
        """Fit on the bought labels in `known` (NaN = not bought) and predict every item."""
        x = np.c_[features.matrix_, human_evidence(features, known)]
        bought = np.flatnonzero(~np.isnan(known))
        pool = np.flatnonzero(np.isnan(known) & ~np.isnan(features.ai_label))
        if len(pool) > self.max_prior_rows:
            pool = self.rng.choice(pool, self.max_prior_rows, replace=False)
        rows = np.r_[bought, pool]
        y = np.r_[known[bought], features.ai_label[pool]]
        weight = np.r_[np.ones(len(bought)), np.full(len(pool), self.prior_weight / max(len(pool), 1))]
        self.probs_ = self._predict(x, rows, y, weight, features.ai_label)
        self.labels_ = CLASSES[np.argmax(self.probs_, axis=1)]
        self.gain_ = 1 - self.probs_.max(axis=1)
        self.x_ = x
        return self

    def _predict(self, x, rows, y, weight, ai_label) -> np.ndarray:
        if len(np.unique(y)) < 2:
            fallback = np.where(np.isnan(ai_label), y[0] if len(y) else 0.0, ai_label)
            return (fallback[:, None] == CLASSES[None, :]).astype(float)
        model = LogisticRegression(C=self.C, max_iter=1000).fit(x[rows], y, sample_weight=weight)
        probs = np.zeros((len(x), 3))
        probs[:, np.searchsorted(CLASSES, model.classes_)] = model.predict_proba(x)
        return probs


class HyperRouter:
    """HyPER per-instance gain: ridge regression of 1[AI label != human label] on the features.

    With no bought labels the gain falls back to judge disagreement.
    """
    model_version = MODEL_VERSION["hyper"]

    def __init__(self, rng: np.random.Generator, alpha: float = 10.0):
        self.rng, self.alpha = rng, alpha

    def fit(self, features: ItemFeatures, known: np.ndarray) -> "HyperRouter":
        x = np.c_[features.matrix_, human_evidence(features, known)]
        bought = np.flatnonzero(~np.isnan(known))
        self.labels_ = features.ai_label
        if len(bought) == 0:
            self.gain_ = disagreement_gain(features)
        else:
            gained = (features.ai_label[bought] != known[bought]).astype(float)
            model = Ridge(alpha=self.alpha).fit(x[bought], gained)
            self.gain_ = np.clip(model.predict(x), 0, 1)
        self.x_ = x
        return self


def make_router(strategy: str, rng: np.random.Generator) -> Router:
    """A fresh router for a strategy name (see STRATEGIES)."""
    check_strategy(strategy)
    if strategy == "learned":
        return LearnedRouter(rng)
    if strategy == "hyper":
        return HyperRouter(rng)
    return StaticRouter(strategy, rng)


def top_k(gain: np.ndarray, eligible: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the k eligible items with the highest gain, ties broken at random."""
    order = np.lexsort((rng.random(len(gain)), -gain))
    return order[eligible[order]][:k]
