"""Routing strategies: a gain per item (higher = a human label is worth more there).

Routing decides which items humans label; it does not change the AI label of the others, which
stays the primary judge's combined verdict (`features.ai_label`). Relabeling is the separate label
model in `annotate/router/label_model.py` (`--ai-label model`).

Simple baselines (no human label needed):
- all-ai / all-human: route nothing / everything to humans (the two ends of the budget curve);
- random: uniform gain;
- uncertainty: the primary judge's doubt, (1 - margin + normalised entropy) / 2, unparsed = 1;
- inconsistency-first (needs both A/B orders): items whose verdict flips when the order is
  swapped first, the rest in random order;
- disagreement-first (needs two judges): items where other judges disagree with the primary first
  (by the share that disagree), the rest in random order.
Each baseline looks at one signal only, as a researcher who picks one heuristic would.

learned: built not to fall below the best simple baseline (issue 16; measured in
bench/bench_router.py). It starts from the first available baseline in PRIOR_ORDER (random is
never a candidate: it cannot beat an informative signal) and moves to another ranking only when
the calibration slice (the random part of the bought labels) shows it catches more of the judge's
errors at this budget, with a paired, held-out estimate whose lower bound (mean - Z x standard error) is above
zero (`annotate/router/selection.py`). The candidates are the other baselines and an error model:
a logistic regression of 1[judge's verdict != human] on every feature (judge probabilities,
two-order inconsistency, judge disagreement, lengths, sibling consistency, opted-in metadata),
whose regularisation is chosen by cross-validation inside the bought labels; its calibration-item
scores are out-of-fold. While a baseline is in use, the error model only breaks its ties, once
MIN_MODEL_LABELS labels are bought (before that the baseline's own order is kept as it is).

hyper: HyPER's per-instance gain form (Miranda et al. 2024, "Hybrid Preferences: Learning to Route
Instances for Human vs. AI Feedback", arXiv 2410.19133, section 3): a linear performance prediction
perf(S) = b0 + sum_i in S  w . x_i over the human-routed set S is additive, so the gain of routing
instance i to a human is w . x_i; w is a ridge regression of 1[AI label != human label] on the
bought items' features.

Every router reads only the labels it bought (`Context.known`); with `shared_evidence` its
features also include the bought human labels of other items that share a response.
Ties in gain are broken at random by the caller's generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from annotate.errors import AnnotateError
from annotate.router.features import ItemFeatures, human_evidence
from annotate.router.leakage import check_leaks
from annotate.router.names import PRIOR_ORDER, STRATEGIES
from annotate.router.selection import Candidate, choose_ranking
from annotate.signs import SIGN

CLASSES = np.array(sorted(SIGN.values()), dtype=float)  # -1 A, 0 tie, +1 B
MODEL_VERSION = {"learned": "learned-v2", "hyper": "hyper-ridge-v2"}
C_GRID = (0.03, 0.3, 3.0)
TIE_BREAK = 1e-3
MIN_MODEL_LABELS = 30  # bought labels before the error model may break a baseline's ties


@dataclass
class Context:
    """What a router may read.

    Attributes:
        known: bought human classes per item (NaN = not bought); nothing else about humans.
        calibration: boolean mask of the random calibration slice.
        n_human: items humans will label in all (the budget), calibration included.
        shared_evidence: whether to use bought labels of items that share a response as features.
    """
    known: np.ndarray
    calibration: np.ndarray
    n_human: int
    shared_evidence: bool = False
    warnings: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


class Router(Protocol):
    """A fitted strategy: gain_ per item and model_version."""
    gain_: np.ndarray
    model_version: str

    def fit(self, features: ItemFeatures, context: Context) -> "Router": ...


def check_strategy(name: str) -> str:
    """Return `name` if it is a strategy, else raise AnnotateError listing them."""
    if name not in STRATEGIES:
        raise AnnotateError(f"Unknown routing strategy '{name}' (strategies: {', '.join(STRATEGIES)})")
    return name


def unavailable(strategy: str, features: ItemFeatures) -> str | None:
    """Why a baseline cannot run on these judgments (None when it can)."""
    if strategy == "inconsistency" and not features.has_both_orders:
        return f"needs the judge's verdicts in both A/B orders; '{features.primary}' has one order"
    if strategy == "disagreement" and features.n_judges < 2:
        return "needs a second judge"
    return None


def uncertainty_gain(features: ItemFeatures) -> np.ndarray:
    """(1 - margin + entropy) / 2 of the primary judge; 1 where it did not parse."""
    frame, name = features.frame, features.primary
    gain = (1 - frame[f"{name}:margin"].to_numpy() + frame[f"{name}:entropy"].to_numpy()) / 2
    return np.where(frame[f"{name}:is_unparsed"].to_numpy() > 0, 1.0, gain)


def inconsistency_gain(features: ItemFeatures) -> np.ndarray:
    """1 where the primary judge's verdict flips when A/B are swapped, else 0."""
    return features.frame[f"{features.primary}:is_inconsistent"].to_numpy(dtype=float)


def disagreement_gain(features: ItemFeatures) -> np.ndarray:
    """Share of the other judges whose verdict differs from the primary's (unparsed differs)."""
    return features.frame["judges_disagree"].to_numpy(dtype=float)


def heuristic_gain(name: str, features: ItemFeatures, rng: np.random.Generator) -> np.ndarray:
    """The gain of a simple baseline."""
    if name == "uncertainty":
        return uncertainty_gain(features)
    if name == "inconsistency":
        return inconsistency_gain(features)
    if name == "disagreement":
        return disagreement_gain(features)
    return rng.random(len(features))


def apply_leak_guard(features: ItemFeatures, context: Context) -> None:
    """Exclude opted-in metadata columns that alone predict the calibration labels (leakage.py);
    the context records them and a warning per column."""
    leaks = check_leaks(features, context.known, context.calibration)
    context.excluded[:] = leaks.excluded
    context.warnings[:] = list(dict.fromkeys([*context.warnings, *leaks.warnings]))


def design_matrix(features: ItemFeatures, context: Context) -> np.ndarray:
    """Features for the models: the static matrix without excluded metadata, plus human sibling
    evidence when `shared_evidence`."""
    x = features.matrix(context.excluded)
    return np.c_[x, human_evidence(features, context.known)] if context.shared_evidence else x


def judge_errors(features: ItemFeatures, known: np.ndarray) -> np.ndarray:
    """1 where the bought human class differs from the judge's verdict (or the judge has none),
    0 where they agree, NaN where nothing was bought."""
    wrong = (known != features.ai_label).astype(float)
    return np.where(np.isnan(known), np.nan, wrong)


def fit_logistic(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, weight: np.ndarray | None = None,
                 cv_rows: np.ndarray | None = None, folds: int = 3, c: float | None = None) -> LogisticRegression | None:
    """A logistic regression with C chosen from C_GRID by `folds`-fold cross-validated log-loss
    (or the given `c`, to reuse an earlier choice).

    Only the rows in `cv_rows` (default: all) are held out in turn; the other rows (pseudo-labels)
    are always in training. Returns None when `y` has a single class.
    """
    classes = np.unique(y)
    if len(classes) < 2:
        return None
    weight = np.ones(len(y)) if weight is None else weight
    cv_rows = np.arange(len(y)) if cv_rows is None else cv_rows
    best_c = 0.3 if c is None else c
    if c is None and len(cv_rows) >= 5 * folds:
        fold = rng.permutation(len(cv_rows)) % folds
        losses = [_cv_loss(x, y, weight, cv_rows, fold, c, classes) for c in C_GRID]
        best_c = C_GRID[int(np.argmin(losses))]
    return LogisticRegression(C=best_c, max_iter=500).fit(x, y, sample_weight=weight)


def _cv_loss(x, y, weight, cv_rows, fold, c, classes) -> float:
    loss = 0.0
    for k in np.unique(fold):
        held = cv_rows[fold == k]
        train = np.setdiff1d(np.arange(len(y)), held)
        if len(np.unique(y[train])) < 2:
            return np.inf
        model = LogisticRegression(C=c, max_iter=500).fit(x[train], y[train], sample_weight=weight[train])
        probs = np.full((len(held), len(classes)), 1e-6)
        probs[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(x[held])
        loss -= np.log(np.clip(probs[np.arange(len(held)), np.searchsorted(classes, y[held])], 1e-6, 1)).sum()
    return loss


class StaticRouter:
    """all-ai, all-human and the simple baselines: gains that need no human label."""

    def __init__(self, strategy: str, rng: np.random.Generator):
        self.strategy, self.rng = strategy, rng
        self.model_version = f"{strategy}-v1"

    def fit(self, features: ItemFeatures, context: Context) -> "StaticRouter":
        self.gain_ = heuristic_gain(self.strategy, features, self.rng)
        return self


class LearnedRouter:
    """The best simple baseline unless the calibration slice shows the error model is better.

    Attributes (after fit): gain_; choice_ (the ranking in use: a baseline name or 'error model');
    candidates_ (selection.Candidate per ranking, with its held-out estimate); error_probs_.
    """
    model_version = MODEL_VERSION["learned"]

    def __init__(self, rng: np.random.Generator, z: float = 1.0):
        self.rng, self.z = rng, z
        self.C_, self.cv_labels_ = None, 0  # the cross-validated C, and how many labels chose it

    def fit(self, features: ItemFeatures, context: Context) -> "LearnedRouter":
        apply_leak_guard(features, context)
        x = design_matrix(features, context)
        errors = judge_errors(features, context.known)
        heuristics = [h for h in PRIOR_ORDER if h != "random" and unavailable(h, features) is None] or ["random"]
        scores = {h: heuristic_gain(h, features, self.rng) for h in heuristics}
        error_probs, held_out = self._error_model(features, x, errors, context.calibration)
        candidates = [Candidate(h, scores[h], scores[h]) for h in heuristics]
        candidates.append(Candidate("error model", error_probs, held_out))
        self.candidates_ = choose_ranking(candidates, errors, context.calibration, context.n_human, self.z)
        self.choice_ = next(c.name for c in self.candidates_ if c.is_chosen)
        self.error_probs_ = error_probs
        self.x_ = x
        if self.choice_ == "error model":
            self.gain_ = error_probs
        elif (~np.isnan(errors)).sum() >= MIN_MODEL_LABELS:
            self.gain_ = scores[self.choice_] + TIE_BREAK * error_probs
        else:  # too few labels for the model to break ties better than chance: the baseline as it is
            self.gain_ = scores[self.choice_]
        return self

    def _error_model(self, features: ItemFeatures, x: np.ndarray, errors: np.ndarray,
                     calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(judge wrong) per item from all bought labels, and out-of-fold values on the calibration
        slice (each fold's model never saw that fold's labels)."""
        bought = np.flatnonzero(~np.isnan(errors))
        no_label = np.isnan(features.ai_label)
        base = float(np.mean(errors[bought])) if len(bought) else 0.5
        if len(bought) >= 1.5 * self.cv_labels_:  # choose C again once the labels grew by half
            self.C_, self.cv_labels_ = None, len(bought)
        model = fit_logistic(x[bought], errors[bought], self.rng, c=self.C_) if len(bought) else None
        self.C_ = model.C if model is not None and len(bought) >= 15 else None
        probs = np.full(len(x), base) if model is None else model.predict_proba(x)[:, -1]
        held_out = probs.copy()
        cal = np.flatnonzero(calibration & ~np.isnan(errors))
        if model is not None and len(cal):
            fold = self.rng.permutation(len(cal)) % min(5, len(cal))
            for k in np.unique(fold):
                train = np.setdiff1d(bought, cal[fold == k])
                if len(np.unique(errors[train])) < 2:
                    held_out[cal[fold == k]] = float(np.mean(errors[train])) if len(train) else base
                    continue
                part = LogisticRegression(C=model.C, max_iter=500).fit(x[train], errors[train])
                held_out[cal[fold == k]] = part.predict_proba(x[cal[fold == k]])[:, -1]
        return np.where(no_label, 1.0, probs), np.where(no_label, 1.0, held_out)


class HyperRouter:
    """HyPER per-instance gain: ridge regression of 1[AI label != human label] on the features.

    With no bought labels the gain falls back to judge disagreement.
    """
    model_version = MODEL_VERSION["hyper"]

    def __init__(self, rng: np.random.Generator, alpha: float = 10.0):
        self.rng, self.alpha = rng, alpha

    def fit(self, features: ItemFeatures, context: Context) -> "HyperRouter":
        apply_leak_guard(features, context)
        x = design_matrix(features, context)
        errors = judge_errors(features, context.known)
        bought = np.flatnonzero(~np.isnan(errors))
        if len(bought) == 0:
            self.gain_ = disagreement_gain(features)
        else:
            model = Ridge(alpha=self.alpha).fit(x[bought], errors[bought])
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


def top_k(gain: np.ndarray, eligible: np.ndarray, k: int, rng: np.random.Generator,
          tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k eligible items with the highest gain, ties broken at random (by
    `tiebreak`, one random number per item, when given: the same draw for every strategy of a
    seed, so that two strategies with the same gains buy the same items)."""
    order = np.lexsort((rng.random(len(gain)) if tiebreak is None else tiebreak, -gain))
    return order[eligible[order]][:k]

