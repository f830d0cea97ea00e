"""The result of a routing simulation and how it reads: three measures per strategy and budget,
the area under each budget curve, and the text the CLI prints (shared by pairwise and rubric)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MEASURES = {
    "routing_only": "routing only: human label where bought, the judge's combined verdict elsewhere; "
                    "no human label of another item is used",
    "label_model": "same routing, then the router's label model (judges + features, fitted on the bought "
                   "labels) relabels the items not sent to humans when the calibration slice shows it beats "
                   "the judge there",
    "shared_evidence": "routing (learned, hyper) and label model also use bought human labels of other items "
                       "that share a response",
}
SPLIT_TEXT = {"all": "all items", "dev": "dev split (prompt-disjoint, used for tuning)",
              "test": "test split (prompt-disjoint, never used for tuning)"}


@dataclass
class SimulationResult:
    """runs: one row per strategy, budget and seed with the three MEASURES and the learned
    strategy's final choice; summary: mean and std of each measure per strategy and budget; auc:
    area under the budget curve per strategy and measure (mean, std over seeds)."""
    runs: pd.DataFrame
    summary: pd.DataFrame
    auc: pd.DataFrame
    n_items: int
    split: str = "all"
    budgets: list[float] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    measures: dict[str, str] = field(default_factory=lambda: dict(MEASURES))
    unit: str = "accuracy of the final labels against the human reference"

    def as_dict(self) -> dict:
        choices = self.runs[self.runs["strategy"] == "learned"].groupby("budget")["choice"].value_counts()
        return {"n_items": self.n_items, "split": self.split, "split_description": SPLIT_TEXT[self.split],
                "unit": self.unit, "measures": self.measures, "budgets": self.budgets,
                "auc_range": {"from": min(self.budgets, default=0.0), "to": max(self.budgets, default=0.0),
                              "description": "area under accuracy vs budget, divided by the budget range: in [0, 1]"},
                "summary": self.summary.to_dict("records"), "auc": self.auc.to_dict("records"),
                "learned_choices": [{"budget": b, "choice": c, "runs": int(n)} for (b, c), n in choices.items()],
                "skipped": self.skipped, "warnings": self.warnings}


def describe(result: SimulationResult) -> str:
    """The simulation as text: per measure, how it was obtained, then mean ± std per strategy and
    budget and the area under the budget curve; skipped baselines, warnings, the learned choices."""
    lines = [f"{result.n_items} items, {SPLIT_TEXT[result.split]}; {result.unit}, mean ± std over seeds."]
    for measure, how in result.measures.items():
        cell = (result.summary[f"{measure}_mean"].map("{:.3f}".format) + " ± "
                + result.summary[f"{measure}_std"].map("{:.3f}".format))
        table = result.summary.assign(cell=cell).pivot(index="strategy", columns="budget", values="cell")
        auc = result.auc[result.auc["measure"] == measure].set_index("strategy")["mean"]
        table["area"] = auc.reindex(table.index).map("{:.4f}".format)
        lines += ["", f"{measure}: {how}", table.fillna("").to_string()]
    lines.append(f"\narea: under accuracy vs budget from {min(result.budgets):g} to {max(result.budgets):g}, "
                 f"divided by that range (in [0, 1]); all-ai and all-human are single points.")
    lines += [f"skipped {name}: {reason}" for name, reason in result.skipped.items()]
    lines += [f"warning: {text}" for text in result.warnings]
    if "choice" in result.runs and (result.runs["strategy"] == "learned").any():
        learned = result.runs[result.runs["strategy"] == "learned"]
        for budget, group in learned.groupby("budget"):
            counts = ", ".join(f"{c} x{n}" for c, n in group["choice"].value_counts().items())
            lines.append(f"learned at {budget:g}: ranking in use at the end: {counts}")
    return "\n".join(lines)


def _summary(runs: pd.DataFrame, measures: dict[str, str] = MEASURES) -> pd.DataFrame:
    grouped = runs.groupby(["strategy", "budget"], sort=False)
    out = grouped.size().rename("seeds").reset_index()
    for measure in measures:
        stats = grouped[measure].agg(["mean", "std"]).fillna(0.0).reset_index(drop=True)
        out[f"{measure}_mean"], out[f"{measure}_std"] = stats["mean"].to_numpy(), stats["std"].to_numpy()
    return out


def _auc(runs: pd.DataFrame, measures: dict[str, str] = MEASURES) -> pd.DataFrame:
    """Normalised trapezoid area of accuracy over budget, per strategy, measure and seed; then
    mean and std over seeds."""
    def area(group: pd.DataFrame, measure: str) -> float:
        group = group.sort_values("budget")
        x, y = group["budget"].to_numpy(), group[measure].to_numpy()
        return float(y[0]) if len(x) < 2 else float(np.trapezoid(y, x) / (x[-1] - x[0]))
    frames = []
    for measure in measures:
        per_seed = runs.groupby(["strategy", "seed"], sort=False)[["budget", measure]].apply(area, measure)
        stats = per_seed.rename("auc").reset_index().groupby("strategy", sort=False)["auc"]
        frames.append(stats.agg(mean="mean", std="std").reset_index().fillna({"std": 0.0}).assign(measure=measure))
    return pd.concat(frames, ignore_index=True)[["strategy", "measure", "mean", "std"]]
