"""Replay routing on a project that has both human labels and judgments, and score the final labels.

Protocol (issue 6): gold = the plurality class of all the item's human labels (sign of the value:
A / tie / B; a tied plurality goes to the sign of the mean value). An item routed to humans receives
one human label, the first annotator's (the lowest annotator id among the item's labels). Static
strategies pick the calibration slice at random and the rest by gain. Learned strategies buy the
calibration slice first, then buy batches of `batch_fraction` x items, refitting after each batch
on the labels bought so far and picking the next batch by predicted gain: they only ever read the
labels they bought. Final labels: the bought human label on human-routed items, the strategy's AI
label elsewhere. Per strategy and budget: accuracy against gold, mean and spread over seeds, and the
area under the budget curve (trapezoid over the budgets, divided by their range).
'oracle' reads gold (it routes the items whose AI label is wrong first): an upper bound only.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from annotate.errors import AnnotateError
from annotate.router.budget import Budget
from annotate.router.features import ItemFeatures
from annotate.router.names import DEFAULT_STRATEGIES, LEARNED
from annotate.router.routing import load_features, project_labels
from annotate.router.strategies import check_strategy, make_router, top_k



@dataclass
class SimulationResult:
    """runs: strategy, budget, seed, human_items, accuracy; summary: mean and std per strategy and
    budget; auc: area under the budget curve per strategy (mean, std over seeds)."""
    runs: pd.DataFrame
    summary: pd.DataFrame
    auc: pd.DataFrame
    n_items: int

    def as_dict(self) -> dict:
        return {"n_items": self.n_items, "summary": self.summary.to_dict("records"),
                "auc": self.auc.to_dict("records")}


def human_classes(labels: pd.DataFrame) -> pd.DataFrame:
    """Per item: gold (plurality sign of all labels) and first (sign of the first annotator's label).

    Args:
        labels: current 'overall' labels, one row per (item, annotator): item_id, annotator_id, value.
    """
    frame = labels.assign(sign=np.sign(labels["value"].astype(float)))
    counts = frame.groupby(["item_id", "sign"]).size().unstack(fill_value=0)
    mean_sign = np.sign(frame.groupby("item_id")["value"].mean()).reindex(counts.index)
    top = counts.to_numpy() == counts.to_numpy().max(axis=1, keepdims=True)
    single = top.sum(axis=1) == 1
    gold = np.where(single, counts.columns.to_numpy()[top.argmax(axis=1)], mean_sign.to_numpy())
    first = frame.sort_values(["item_id", "annotator_id"]).groupby("item_id")["sign"].first()
    return pd.DataFrame({"gold": gold, "first": first.reindex(counts.index).to_numpy()}, index=counts.index)


def run_strategy(features: ItemFeatures, first: np.ndarray, strategy: str, n_human: int, n_calibration: int,
                 seed: int, batch: int, gold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Route one budget; return (bought mask, final labels). Reads `first` only where bought."""
    rng = np.random.default_rng(seed)
    n = len(features)
    bought = np.zeros(n, dtype=bool)
    bought[rng.choice(n, n_calibration, replace=False)] = True
    known = np.full(n, np.nan)
    known[bought] = first[bought]
    if strategy == "oracle":
        gain = (features.ai_label != gold).astype(float)
        bought[top_k(gain, ~bought, n_human - n_calibration, rng)] = True
        labels = features.ai_label
    else:
        router = make_router(strategy, rng).fit(features, known)
        step = max(1, batch) if strategy in LEARNED else n
        while bought.sum() < n_human:
            chosen = top_k(router.gain_, ~bought, min(step, n_human - bought.sum()), rng)
            bought[chosen] = True
            known[chosen] = first[chosen]
            if strategy in LEARNED:
                router.fit(features, known)
        labels = router.labels_
    known[bought] = first[bought]
    final = np.where(bought, known, labels)
    return bought, final


def simulate_features(features: ItemFeatures, gold: np.ndarray, first: np.ndarray, budgets: list[float],
                      seeds: int = 5, strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
                      batch_fraction: float = 0.05, calibration_fraction: float = 0.1) -> SimulationResult:
    """Run every strategy at every budget (a share of the items) for seeds 0..seeds-1."""
    for name in strategies:
        if name != "oracle":
            check_strategy(name)
    n = len(features)
    batch = round(batch_fraction * n)
    rows = []
    for strategy in strategies:
        points = {"all-ai": [0.0], "all-human": [1.0]}.get(strategy, budgets)
        for fraction in points:
            budget = Budget(fraction=fraction, calibration_fraction=calibration_fraction)
            n_human = budget.human_items(n)
            n_calibration = 0 if strategy in ("all-ai", "all-human") else budget.calibration_items(n_human)
            for seed in range(seeds):
                bought, final = run_strategy(features, first, strategy, n_human, n_calibration, seed, batch, gold)
                rows.append({"strategy": strategy, "budget": fraction, "seed": seed,
                             "human_items": int(bought.sum()), "accuracy": float(np.mean(final == gold))})
    runs = pd.DataFrame(rows)
    return SimulationResult(runs, _summary(runs), _auc(runs), n)


def _summary(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby(["strategy", "budget"], sort=False)["accuracy"]
    return grouped.agg(mean="mean", std="std", seeds="size").reset_index().fillna({"std": 0.0})


def _auc(runs: pd.DataFrame) -> pd.DataFrame:
    """Normalised trapezoid area of accuracy over budget, per strategy and seed, then mean and std."""
    def area(group: pd.DataFrame) -> float:
        group = group.sort_values("budget")
        x, y = group["budget"].to_numpy(), group["accuracy"].to_numpy()
        return float(y[0]) if len(x) < 2 else float(np.trapezoid(y, x) / (x[-1] - x[0]))
    per_seed = runs.groupby(["strategy", "seed"], sort=False)[["budget", "accuracy"]].apply(area)
    per_seed = per_seed.rename("auc").reset_index()
    grouped = per_seed.groupby("strategy", sort=False)["auc"]
    return grouped.agg(mean="mean", std="std").reset_index().fillna({"std": 0.0})


def simulate(conn: duckdb.DuckDBPyConnection, project: str, judge: str, budgets: list[float], seeds: int = 5,
             strategies: tuple[str, ...] = DEFAULT_STRATEGIES, batch_fraction: float = 0.05,
             embeddings: bool = False) -> SimulationResult:
    """Simulate routing on `project` with `judge` as the primary judge (see the module docstring).

    Raises:
        AnnotateError: the project has no items with both human labels and judgments.
    """
    if not budgets or any(not 0 <= b <= 1 for b in budgets):
        raise AnnotateError(f"Simulation budgets must be shares of the items in [0, 1], got {budgets}")
    labels = project_labels(conn, project)
    if labels.empty:
        raise AnnotateError(f"Project '{project}' has no human labels to simulate routing against")
    classes = human_classes(labels)
    features = load_features(conn, project, judge, item_ids=classes.index.to_numpy(), embeddings=embeddings)
    classes = classes.reindex(features.item_ids)
    return simulate_features(features, classes["gold"].to_numpy(), classes["first"].to_numpy(), sorted(budgets),
                             seeds, strategies, batch_fraction)
