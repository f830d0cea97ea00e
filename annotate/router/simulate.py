"""Replay routing on a project that has both human labels and judgments, and score the final labels.

Protocol: gold = the reference label of each item from all its human labels
(annotate.analysis.reference, the project's split policy; items it drops are left out). An item
routed to humans receives one human label, the first annotator's (the lowest annotator id). Every
strategy except all-ai / all-human buys the same-sized random calibration slice first. Static
strategies pick the rest by gain at once; learned ones buy batches of `batch_fraction` x items,
refitting after each batch on the labels bought so far: they only ever read labels they bought.

Each run is scored three ways (MEASURES), so that routing is never confused with relabeling:
- routing_only: the bought human label where bought, the judge's combined verdict elsewhere; the
  router uses no human label of another item;
- label_model: the same bought items; the router's label model (label_model.py) relabels the rest;
- shared_evidence: routing (learned, hyper) and the label model also use the bought human labels
  of other items that share a response.
Per strategy and budget: mean and spread over seeds of each measure, and the area under the budget
curve (trapezoid over the budgets, divided by their range, so in [0, 1]). A baseline that cannot
run on these judgments (inconsistency with one order, disagreement with one judge) is skipped with
its reason. 'oracle' reads the human reference (it routes the items whose judge verdict is wrong
first): an upper bound only.

Splits: `dev` and `test` are prompt-disjoint (an item's split is a hash of its prompt and context,
DEV_SHARE of the prompts in dev), so that settings tuned on dev are reported on unseen prompts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import storage
from storage.db import Connection
from annotate.errors import AnnotateError
from annotate.hashing import stable_hash
from annotate.projects import get_project
from annotate.router.budget import Budget
from annotate.router.features import ItemFeatures
from annotate.router.label_model import choose_labels
from annotate.router.names import DEFAULT_STRATEGIES, HEURISTICS, LEARNED, SPLITS
from annotate.router.results import SimulationResult, _auc, _summary
from annotate.router.routing import load_features, project_labels, reference_classes
from annotate.router.strategies import (
    Context,
    check_strategy,
    make_router,
    top_k,
    unavailable,
)
from storage import items as items_store

DEV_SHARE = 0.3


def human_classes(labels: pd.DataFrame, policy: str = "tie") -> pd.DataFrame:
    """Per item: gold (the reference label under `policy`) and first (the sign of the first
    annotator's label); items the policy drops are left out.

    Args:
        labels: current 'overall' labels (routing.project_labels): item_id, annotator_id,
            annotator, source, value.
    """
    gold = reference_classes(labels, policy).dropna()
    votes = labels[labels["source"] != "adjudicated"] if "source" in labels else labels
    first = np.sign(votes.sort_values(["item_id", "annotator_id"]).groupby("item_id")["value"].first())
    frame = pd.DataFrame({"gold": gold, "first": first.reindex(gold.index)})
    return frame[frame["first"].notna()]


def split_mask(prompt_keys: np.ndarray, split: str) -> np.ndarray:
    """Items in `split` (all / dev / test) by a hash of each item's prompt key."""
    if split not in SPLITS:
        raise AnnotateError(f"Unknown split '{split}' (splits: {', '.join(SPLITS)})")
    if split == "all":
        return np.ones(len(prompt_keys), dtype=bool)
    is_dev = np.array([int(stable_hash("router-split\x00" + k), 16) / 16 ** 16 < DEV_SHARE for k in prompt_keys])
    return is_dev if split == "dev" else ~is_dev


def route_once(features: ItemFeatures, first: np.ndarray, strategy: str, n_human: int, n_calibration: int,
               seed: int, batch: int, gold: np.ndarray | None = None,
               shared_evidence: bool = False) -> tuple[np.ndarray, Context, str, np.ndarray]:
    """Route one budget; return (bought mask, the context with the bought labels, the learned
    strategy's final ranking or the strategy name, the final gain). Reads `first` only where bought."""
    rng = np.random.default_rng(seed)
    n = len(features)
    bought = np.zeros(n, dtype=bool)
    bought[rng.choice(n, n_calibration, replace=False)] = True
    tiebreak = rng.random(n)
    known = np.full(n, np.nan)
    known[bought] = first[bought]
    context = Context(known, bought.copy(), n_human, shared_evidence)
    if strategy == "oracle":
        gain = (features.ai_label != gold).astype(float)
        bought[top_k(gain, ~bought, n_human - n_calibration, rng, tiebreak)] = True
        known[bought] = first[bought]
        return bought, context, strategy, gain
    router = make_router(strategy, rng).fit(features, context)
    step = max(1, batch) if strategy in LEARNED else n
    while bought.sum() < n_human:
        chosen = top_k(router.gain_, ~bought, min(step, n_human - bought.sum()), rng, tiebreak)
        bought[chosen] = True
        known[chosen] = first[chosen]
        if strategy in LEARNED and bought.sum() < n_human:
            router.fit(features, context)
    return bought, context, getattr(router, "choice_", strategy), router.gain_


def relabel(features: ItemFeatures, bought: np.ndarray, context: Context, gain: np.ndarray, seed: int) -> np.ndarray:
    """Final labels with the label model on the items not bought, when the calibration slice
    shows it beats the judge (label_model.choose_labels); bought items keep the human label."""
    if bought.all() or not bought.any():
        return np.where(bought, context.known, features.ai_label)
    labels, _, _ = choose_labels(features, context, gain, seed)
    return np.where(bought, context.known, labels)


def _score(features, first, gold, strategy, fraction, seed, batch, calibration_fraction) -> tuple[dict, list[str]]:
    budget = Budget(fraction=fraction, calibration_fraction=calibration_fraction)
    n_human = budget.human_items(len(features))
    n_calibration = 0 if strategy in ("all-ai", "all-human") else budget.calibration_items(n_human)
    bought, context, choice, gain = route_once(features, first, strategy, n_human, n_calibration, seed, batch, gold)
    routing_only = np.where(bought, context.known, features.ai_label)
    with_model = relabel(features, bought, context, gain, seed)
    shared_context = Context(context.known.copy(), context.calibration, n_human, True)
    if strategy in LEARNED:
        bought, shared_context, _, gain = route_once(features, first, strategy, n_human, n_calibration, seed,
                                                     batch, gold, shared_evidence=True)
    with_shared = relabel(features, bought, shared_context, gain, seed)
    row = {"strategy": strategy, "budget": fraction, "seed": seed, "human_items": int(bought.sum()),
           "routing_only": float(np.mean(routing_only == gold)), "label_model": float(np.mean(with_model == gold)),
           "shared_evidence": float(np.mean(with_shared == gold)), "choice": choice}
    return row, context.warnings + shared_context.warnings


def simulate_features(features: ItemFeatures, gold: np.ndarray, first: np.ndarray, budgets: list[float],
                      seeds: int = 5, strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
                      batch_fraction: float = 0.05, calibration_fraction: float = 0.1,
                      split: str = "all") -> SimulationResult:
    """Run every strategy at every budget (a share of the items) for seeds 0..seeds-1.

    Raises:
        AnnotateError: fewer than one seed, or an unknown strategy.
    """
    if seeds < 1:
        raise AnnotateError(f"A simulation needs at least one seed, got {seeds}")
    for name in strategies:
        if name != "oracle":
            check_strategy(name)
    batch = round(batch_fraction * len(features))
    rows, skipped, warnings = [], {}, []
    with threadpool_limits(limits=1):  # many small fits: BLAS threads only fight each other
        _run_all(features, first, gold, budgets, seeds, strategies, batch, calibration_fraction, rows, skipped, warnings)
    runs = pd.DataFrame(rows)
    return SimulationResult(runs, _summary(runs), _auc(runs), len(features), split, sorted(budgets), skipped, warnings)


def _run_all(features, first, gold, budgets, seeds, strategies, batch, calibration_fraction, rows, skipped,
             warnings) -> None:
    for strategy in strategies:
        reason = unavailable(strategy, features) if strategy in HEURISTICS else None
        if reason:
            skipped[strategy] = reason
            continue
        for fraction in {"all-ai": [0.0], "all-human": [1.0]}.get(strategy, budgets):
            for seed in range(seeds):
                row, notes = _score(features, first, gold, strategy, fraction, seed, batch, calibration_fraction)
                rows.append(row)
                warnings.extend(n for n in notes if n not in warnings)


def simulate(conn: Connection, project: str, judge: str, budgets: list[float], seeds: int = 5,
             strategies: tuple[str, ...] = DEFAULT_STRATEGIES, batch_fraction: float = 0.05,
             embeddings: bool = False, split: str = "all") -> SimulationResult:
    """Simulate routing on `project` with `judge` as the primary judge (see the module docstring).

    Raises:
        AnnotateError: bad budgets or split, or no items with both human labels and judgments.
    """
    if not budgets or any(not 0 <= b <= 1 for b in budgets):
        raise AnnotateError(f"Simulation budgets must be shares of the items in [0, 1], got {budgets}")
    found = get_project(conn, project)
    labels = project_labels(conn, project)
    if labels.empty:
        raise AnnotateError(f"Project '{project}' has no human labels to simulate routing against")
    classes = human_classes(labels, found.config.split_policy)
    items = items_store.items_frame(storage.cursor(conn), found.id)
    items = items[items["item_id"].isin(classes.index)]
    keys = (items["prompt"].astype(str) + "\x00" + items["context"].fillna("").astype(str)).to_numpy()
    chosen = items.loc[split_mask(keys, split), "item_id"].to_numpy()
    if len(chosen) == 0:
        raise AnnotateError(f"Project '{project}' has no labelled items in the {split} split")
    features = load_features(conn, project, judge, item_ids=chosen, embeddings=embeddings)
    classes = classes.reindex(features.item_ids)
    return simulate_features(features, classes["gold"].to_numpy(), classes["first"].to_numpy(), sorted(budgets),
                             seeds, strategies, batch_fraction, split=split)
