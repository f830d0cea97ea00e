"""Routing for rubric projects: send an item's responses to humans when the judges' scores spread
or when the judge missed the humans on the calibration slice at such scores (issue 16).

Unit: one (item, response, criterion). The AI score of a unit is the primary judge's mean parsed
score, rounded to the scale (the other judges' mean when it has none). The human reference of a
unit is annotate.analysis.reference.rubric_reference of its human scores (the project's
`rubric_reference`, mean or median). A unit is right when its final score is within half a point
of the reference (it rounds to it). Items are routed whole (all their responses), so an item's
gain is the largest gain of its units and its error is the share of its units the AI gets wrong.

Strategies: random; spread (the standard deviation of all judges' parsed scores on the unit,
needs two judges or repeated judgments); calibration (the judge's miss rate on the labelled
calibration units with the same criterion and AI score, smoothed towards the overall miss rate
with 2 pseudo-units); learned (spread or calibration, whichever the calibration slice favours,
unless a logistic error model on score, spread, criterion and response length is shown better:
the same rule as for pairwise projects, annotate/router/selection.py). The simulation follows
annotate/router/simulate.py: a random calibration slice first, learned refits after each batch,
the first annotator's scores on bought items, accuracy over units. There is no label model for
rubric scores, so routing only is reported.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

import storage
from storage.db import Connection
from annotate.analysis.reference import rubric_reference
from annotate.errors import AnnotateError
from annotate.projects import get_project
from annotate.router.budget import Budget
from annotate.router.results import SimulationResult, _auc, _summary
from annotate.router.selection import Candidate, choose_ranking
from annotate.router.strategies import fit_logistic, top_k
from storage import items as items_store
from storage import judgments as judgments_store
from storage import labels as labels_store

RUBRIC_STRATEGIES = ("random", "spread", "calibration", "learned")
SPREAD_UNAVAILABLE = "needs two judges or repeated judgments of a unit"  # why 'spread' cannot run
RUBRIC_MEASURES = {"routing_only": "routing only: the first annotator's scores where bought, the judge's mean "
                                   "score (rounded) elsewhere; right when within half a point of the human reference"}


@dataclass
class RubricUnits:
    """Units in a fixed order: item index, criterion, AI score, judges' spread, features."""
    item_ids: np.ndarray
    external_ids: np.ndarray
    unit_item: np.ndarray
    keys: pd.DataFrame  # item_id, response_idx, aspect per unit
    ai_score: np.ndarray
    spread: np.ndarray
    x: np.ndarray

    @property
    def has_spread(self) -> bool:
        return bool(np.nanmax(self.spread, initial=0) > 0)


def load_units(conn: Connection, project: str, judge: str) -> RubricUnits:
    """The units of a rubric project with `judge` as the primary judge.

    Raises:
        AnnotateError: not a rubric project, or no parsed scores from `judge`.
    """
    found = get_project(conn, project)
    if found.task_type != "rubric":
        raise AnnotateError(f"Project '{project}' is not a rubric project")
    cur = storage.cursor(conn)
    scores = judgments_store.judgments_frame(cur, found.id)
    scores = scores[scores["is_parsed"] & scores["response_idx"].notna() & scores["score"].notna()]
    if not (scores["judge"] == judge).any():
        raise AnnotateError(f"No parsed rubric scores from judge '{judge}' in project '{project}'")
    keys = ["item_id", "response_idx", "aspect"]
    own = scores[scores["judge"] == judge].groupby(keys)["score"].mean().rename("own")
    spread = scores.groupby(keys)["score"].agg(["std", "mean"]).rename(columns={"std": "spread"})
    units = spread.join(own, how="left").reset_index()
    units["ai"] = np.round(units["own"].fillna(units["mean"]))
    items = items_store.items_frame(cur, found.id).set_index("item_id")
    responses = items_store.responses_frame(cur, found.id).set_index(["item_id", "idx"])["text"]
    length = np.log1p([len(str(responses.get((i, int(r)), ""))) for i, r in zip(units["item_id"], units["response_idx"])])
    criteria = pd.get_dummies(units["aspect"]).to_numpy(dtype=float)
    item_ids = np.sort(units["item_id"].unique())
    x = np.c_[units["ai"].to_numpy(), units["spread"].fillna(0).to_numpy(), length, criteria]
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
    return RubricUnits(item_ids, items.loc[item_ids, "external_id"].astype(str).to_numpy(),
                       np.searchsorted(item_ids, units["item_id"].to_numpy()), units[keys],
                       units["ai"].to_numpy(dtype=float), units["spread"].fillna(0).to_numpy(dtype=float), x)


def human_units(conn: Connection, project: str, units: RubricUnits) -> tuple[np.ndarray, np.ndarray]:
    """(reference score per unit, the first annotator's score per unit), NaN where unscored; a gold
    rater's scores (a benchmark's answer key, never bought from a human) are left out."""
    found = get_project(conn, project)
    labels = labels_store.current_label_values(storage.cursor(conn), found.id)
    labels = labels[labels["response_idx"].notna() & (labels["source"] != "adjudicated") & (labels["kind"] != "gold")]
    keys = ["item_id", "response_idx", "aspect"]
    table = labels.pivot_table(index=keys, columns="annotator_id", values="value", aggfunc="last")
    table = table.reindex(pd.MultiIndex.from_frame(units.keys))
    reference = rubric_reference(table.to_numpy(dtype=float), found.config.rubric_reference)
    first_annotator = labels.sort_values("annotator_id").groupby("item_id")["annotator_id"].first()
    first = np.array([table.iat[u, table.columns.get_loc(first_annotator[i])] if i in first_annotator.index else np.nan
                      for u, i in enumerate(units.keys["item_id"])], dtype=float)
    return reference, first


def _item_max(units: RubricUnits, values: np.ndarray) -> np.ndarray:
    out = np.full(len(units.item_ids), -np.inf)
    np.maximum.at(out, units.unit_item, values)
    return out


def _item_mean(units: RubricUnits, values: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values)
    total = np.bincount(units.unit_item[known], values[known], len(units.item_ids))
    count = np.bincount(units.unit_item[known], minlength=len(units.item_ids))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def unit_gains(units: RubricUnits, strategy: str, known_units: np.ndarray, calibration: np.ndarray,
               n_human: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Item gains of a strategy from the bought unit scores `known_units`; returns (gain, ranking used)."""
    errors = np.where(np.isnan(known_units), np.nan, (np.abs(units.ai_score - known_units) > 0.5).astype(float))
    if strategy == "random":
        return rng.random(len(units.item_ids)), strategy
    if strategy == "spread":
        return _item_max(units, units.spread), strategy
    cal_units = calibration[units.unit_item] & ~np.isnan(errors)
    base = float(np.nanmean(errors[cal_units])) if cal_units.any() else 0.5
    level = pd.Series(list(zip(units.keys["aspect"], units.ai_score)))
    misses = pd.Series(errors).where(cal_units).groupby(level).agg(["sum", "count"])
    rate = ((misses["sum"] + 2 * base) / (misses["count"] + 2)).reindex(level).to_numpy()
    calibration_gain = _item_max(units, rate)
    if strategy == "calibration":
        return calibration_gain, strategy
    bought_units = ~np.isnan(errors)
    model = fit_logistic(units.x[bought_units], errors[bought_units], rng) if bought_units.any() else None
    error_probs = np.full(len(errors), base) if model is None else model.predict_proba(units.x)[:, -1]
    candidates = ([Candidate("spread", _item_max(units, units.spread), _item_max(units, units.spread))]
                  if units.has_spread else [])
    candidates += [Candidate("calibration", calibration_gain, calibration_gain),
                   Candidate("error model", _item_max(units, error_probs), _item_max(units, error_probs))]
    chosen = choose_ranking(candidates, _item_mean(units, errors), calibration, n_human)
    best = next(c for c in chosen if c.is_chosen)
    return best.scores, best.name


def simulate_rubric(conn: Connection, project: str, judge: str, budgets: list[float], seeds: int = 5,
                    strategies: tuple[str, ...] = RUBRIC_STRATEGIES, batch_fraction: float = 0.05,
                    split: str = "all"):
    """Simulate routing on a rubric project (module docstring); a SimulationResult like pairwise."""
    if split != "all":
        raise AnnotateError("Rubric simulations run on all items (no prompt-disjoint split)")
    units = load_units(conn, project, judge)
    reference, first = human_units(conn, project, units)
    keep = ~np.isnan(reference) & ~np.isnan(first)
    if not keep.any():
        raise AnnotateError(f"Project '{project}' has no human scores to simulate routing against")
    skipped = {} if units.has_spread else {"spread": SPREAD_UNAVAILABLE}
    rows = []
    for strategy in [s for s in strategies if s not in skipped]:
        for fraction in budgets:
            for seed in range(seeds):
                final, choice = _route_rubric(units, first, strategy, fraction, seed, batch_fraction)
                right = np.abs(final - reference) <= 0.5
                rows.append({"strategy": strategy, "budget": fraction, "seed": seed, "choice": choice,
                             "human_items": int(round(fraction * len(units.item_ids))),
                             "routing_only": float(right[keep].mean())})
    runs = pd.DataFrame(rows)
    summary = _summary(runs, RUBRIC_MEASURES)
    return SimulationResult(runs, summary, _auc(runs, RUBRIC_MEASURES), int(keep.sum()), "all", sorted(budgets),
                            skipped, [], dict(RUBRIC_MEASURES),
                            "share of (response, criterion) scores within half a point of the human reference")


def _route_rubric(units: RubricUnits, first: np.ndarray, strategy: str, fraction: float, seed: int,
                  batch_fraction: float) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    n = len(units.item_ids)
    budget = Budget(fraction=fraction)
    n_human = budget.human_items(n)
    bought = np.zeros(n, dtype=bool)
    bought[rng.choice(n, budget.calibration_items(n_human), replace=False)] = True
    calibration = bought.copy()
    step = max(1, round(batch_fraction * n)) if strategy == "learned" else n
    choice = strategy
    while bought.sum() < n_human:
        known = np.where(bought[units.unit_item], first, np.nan)
        gain, choice = unit_gains(units, strategy, known, calibration, n_human, rng)
        bought[top_k(gain, ~bought, min(step, n_human - bought.sum()), rng)] = True
    return np.where(bought[units.unit_item], first, units.ai_score), choice


def plan_rubric_decisions(conn: Connection, project: str, judge: str, strategy: str, n_human: int,
                          is_calibration: np.ndarray, rng: np.random.Generator,
                          units: RubricUnits) -> tuple[pd.DataFrame, str]:
    """Routing decisions for a rubric project's items (routing.plan_routing's frame, AI label None:
    the export takes the routed judge's scores)."""
    if strategy not in RUBRIC_STRATEGIES + ("all-ai", "all-human"):
        raise AnnotateError(f"Rubric projects are routed with {', '.join(RUBRIC_STRATEGIES)}, all-ai or "
                            f"all-human, not '{strategy}'")
    reference, _ = human_units(conn, project, units)
    is_labelled = ~np.isnan(_item_mean(units, reference))
    known = np.where(is_labelled[units.unit_item], reference, np.nan)
    name = strategy if strategy in RUBRIC_STRATEGIES else "random"
    gain, choice = unit_gains(units, name, known, is_calibration, n_human, rng)
    gain = np.clip(gain, 0, None)
    human = is_labelled | is_calibration
    human[top_k(gain, ~human, max(0, n_human - human.sum()), rng)] = True
    spread = _item_max(units, units.spread)
    reasons = [("already labelled by humans; " if lab else "") + ("random calibration slice; " if cal else "")
               + (f"judges' scores spread by {s:.1f} points" if s > 0 else "") for lab, cal, s in
               zip(is_labelled, is_calibration, spread)]
    frame = pd.DataFrame({"item_id": units.item_ids, "external_id": units.external_ids,
                          "route": np.where(human, "human", "ai"), "priority": np.where(is_calibration, 2 + gain, gain),
                          "is_calibration": is_calibration, "is_labelled": is_labelled, "gain": gain,
                          "ai_verdict": None, "ai_source": np.where(human, None, judge),
                          "reasons": [r.rstrip("; ") for r in reasons]})
    frame["features"] = [json.dumps({"gain": round(float(g), 4), "judge_spread": round(float(s), 4)})
                         for g, s in zip(gain, spread)]
    return frame, choice
