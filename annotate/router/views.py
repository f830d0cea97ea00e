"""What the Router page shows, as display-ready frames and sentences (the page holds no logic).

Words, not field names: strategies and measures by their names in words, the dataset's own item
ids, reasons as sentences, rounded numbers.
"""
from __future__ import annotations

import pandas as pd

from annotate.router.results import SimulationResult
from annotate.router.routing import RoutingPlan

STRATEGY_NAMES = {
    "all-ai": "All AI (no human labels)", "all-human": "All human", "random": "Random",
    "uncertainty": "Uncertainty (judge unsure first)",
    "inconsistency": "Inconsistency-first (verdict flips when A/B are swapped)",
    "disagreement": "Disagreement-first (judges disagree)", "hyper": "HyPER-style gain",
    "learned": "Learned (best baseline first)", "oracle": "Oracle (reads the human reference; upper bound)",
    "spread": "Judges' scores spread", "calibration": "Judge misses on the calibration slice",
}
MEASURE_NAMES = {"routing_only": "Routing only (judge's labels kept)",
                 "label_model": "With the router's label model",
                 "shared_evidence": "With label model and shared-response evidence"}
RANKING_NAMES = {"error model": "the error model (the calibration slice showed it catches more judge errors)",
                 "disagreement": "disagreement-first", "inconsistency": "inconsistency-first",
                 "uncertainty": "uncertainty", "random": "random order", "spread": "judges' score spread",
                 "calibration": "judge misses on the calibration slice"}


def plan_summary(plan: RoutingPlan) -> str:
    """The plan in one paragraph: who goes to humans (already labelled vs newly sent), who stays AI."""
    n_ai = int((plan.decisions["route"] == "ai").sum())
    label = ("the router's label model (it beat the judge on the calibration slice)" if plan.ai_label == "model"
             else "the judge's combined verdict")
    text = (f"**{plan.n_already_labelled + plan.n_newly_sent}** items go to humans: **{plan.n_already_labelled}** "
            f"already labelled by humans and **{plan.n_newly_sent}** newly sent to them (each for {plan.budget.overlap} "
            f"label(s); {plan.n_calibration} of the human items form the random calibration slice). "
            f"**{n_ai}** items keep an AI label: {label}.")
    if plan.strategy == "learned":
        text += f" The learned strategy ranks items by {RANKING_NAMES.get(plan.choice, plan.choice)}."
    return text


def preview_table(plan: RoutingPlan, limit: int = 50) -> pd.DataFrame:
    """The items not yet labelled in queue order (highest priority first), with the dataset's ids
    and reasons in words."""
    frame = plan.decisions[~plan.decisions["is_labelled"]].sort_values("priority", ascending=False).head(limit)
    return pd.DataFrame({"Order": range(1, len(frame) + 1), "Item": frame["external_id"].to_numpy(),
                         "Goes to": frame["route"].map({"human": "humans", "ai": "AI"}).to_numpy(),
                         "Why": frame["reasons"].replace("", "-").to_numpy(),
                         "AI label": frame["ai_verdict"].fillna("none").to_numpy(),
                         "AI label from": frame["ai_source"].fillna("-").to_numpy()})


def status_counts(status: dict) -> list[tuple[str, int]]:
    """The applied routing's counts with their names in words."""
    return [("Routed items", status["items_routed"]), ("Sent to humans", status["human"]),
            ("Labelled by humans", status["human_labelled"]), ("Waiting for a human", status["human_pending"]),
            ("Left to the AI", status["ai"])]


def simulation_lines(result: SimulationResult, measure: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per strategy and budget: Strategy, Budget, Accuracy, Low, High (± one std);
    the single-point references all-AI and all-human as horizontal rules: Strategy, Accuracy)."""
    summary = result.summary.assign(Strategy=result.summary["strategy"].map(lambda s: STRATEGY_NAMES.get(s, s)))
    mean, std = summary[f"{measure}_mean"], summary[f"{measure}_std"]
    summary = summary.assign(Budget=summary["budget"], Accuracy=mean.round(4), Low=(mean - std).round(4),
                             High=(mean + std).round(4))
    is_rule = summary["strategy"].isin(["all-ai", "all-human"])
    columns = ["Strategy", "Budget", "Accuracy", "Low", "High"]
    return summary.loc[~is_rule, columns].reset_index(drop=True), summary.loc[is_rule, ["Strategy", "Accuracy"]]


def area_table(result: SimulationResult, measure: str) -> pd.DataFrame:
    """Area under each strategy's budget curve for `measure`, best first, in words."""
    auc = result.auc[(result.auc["measure"] == measure) & ~result.auc["strategy"].isin(["all-ai", "all-human"])]
    auc = auc.sort_values("mean", ascending=False)
    return pd.DataFrame({"Strategy": auc["strategy"].map(lambda s: STRATEGY_NAMES.get(s, s)).to_numpy(),
                         "Area under the curve": auc["mean"].round(3).to_numpy(),
                         "Spread over seeds (std)": auc["std"].round(3).to_numpy()})


def area_caption(result: SimulationResult) -> str:
    """What the area means and its range."""
    low, high = min(result.budgets), max(result.budgets)
    return (f"Area under accuracy vs budget between {low:.0%} and {high:.0%} of the items sent to humans, divided "
            f"by that range (trapezoids between the simulated budgets): it ranges from 0 to 1 and is the "
            f"accuracy averaged over that range of budgets.")


def curve_rules(curve: pd.DataFrame) -> pd.DataFrame:
    """The estimated curve's reference rules: all items to the AI, all items to humans."""
    return pd.DataFrame({"Reference": ["All AI (estimated)", "All human"],
                         "Accuracy": [round(curve.attrs["all_ai"], 4), 1.0]})
