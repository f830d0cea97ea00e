"""The agreement report of a rubric project, one criterion at a time.

A unit is one (item, response) scored on the criterion. Humans are compared with each other by
exact agreement, quadratic-weighted kappa (the usual choice for ordinal scores) and Krippendorff's
alpha; a judge is compared with the humans by Pearson, Spearman and Kendall correlations of its
score with the mean human score of the unit (item level) and of the mean scores per model
(system level, as in Prometheus, Kim et al. 2023, arXiv 2310.08491). The human ceiling is the
same correlation, leave-one-out: each human's score against the mean of the other humans'.
Intervals are not bootstrapped for rubric projects.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

import storage
from storage import analysis as store
from annotate.analysis import agreement as ag, quality
from annotate.projects import Project
from annotate.analysis.report_types import CEILING, AgreementReport, ReportFilters, wide_codes

JUDGE_COLUMNS = ["rater", "kind", "level", "method", "r", "p_value", "n", "reason"]


def build_rubric_report(conn: duckdb.DuckDBPyConnection, project: Project, filters: ReportFilters) -> AgreementReport:
    """The report for one criterion (filters.aspect) of a rubric project; see the module docstring."""
    cur = storage.cursor(conn)
    args = filters.slice_args()
    labels = store.slice_labels(cur, project.id, filters.aspect, **args).dropna(subset=["response_idx"])
    judgments = store.slice_judgments(cur, project.id, filters.aspect, **args)
    judgments = judgments[judgments["is_parsed"].astype(bool) & judgments["response_idx"].notna()]
    lengths = store.response_lengths(cur, project.id)
    units = lengths[lengths["item_id"].isin(store.slice_items(cur, project.id, **args)["item_id"])]
    unit_ids = (units["item_id"] * 1000 + units["idx"]).to_numpy()
    humans = wide_codes(unit_ids, labels["item_id"] * 1000 + labels["response_idx"], labels["annotator"],
                        labels["value"].to_numpy())
    scores = judgments.groupby(["item_id", "response_idx", "judge"], as_index=False)["score"].mean()
    judges = wide_codes(unit_ids, scores["item_id"] * 1000 + scores["response_idx"], scores["judge"],
                        scores["score"].to_numpy())
    domain = list(project.config.criterion(filters.aspect).scores)
    counts = np.stack([(humans.to_numpy() == v).sum(axis=1) for v in domain], axis=1).astype(float)
    n = counts.sum(axis=1)
    return AgreementReport(
        project=project.name, task_type=project.task_type, filters=filters,
        overview={"units": len(unit_ids), "human_labels": int(n.sum()), "annotators": humans.shape[1],
                  "units_with_2_labels": int((n >= 2).sum()), "judges": judges.shape[1]},
        judges=_judge_table(humans, judges, units["model"].to_numpy()),
        pairs=_pair_table(pd.concat([humans, judges], axis=1), set(judges.columns), domain),
        alpha=ag.alpha_table(humans.to_numpy().T, domain), fleiss=ag.fleiss_kappa(counts),
        human_agreement=_exact_agreement(counts),
        annotators=quality.annotator_quality(pd.DataFrame(index=humans.index), labels,
                                             store.annotator_event_counts(cur, project.id, **args),
                                             filters.tie_policy).drop(columns=["loo_n", "loo_agreement",
                                                                               "loo_kappa", "tie_policy"]))


def _judge_table(humans: pd.DataFrame, judges: pd.DataFrame, models: np.ndarray) -> pd.DataFrame:
    """Item- and system-level correlations of each judge with the human mean, and the ceiling."""
    human_mean = humans.mean(axis=1).to_numpy()
    frames = []
    for judge in judges.columns:
        score = judges[judge].to_numpy()
        frames.append(_levels(judge, "judge", score, human_mean, models))
    values = humans.to_numpy()
    mine, others, unit_models = [], [], []
    for r in range(values.shape[1]):
        rest = np.delete(values, r, axis=1)
        has_rest = (~np.isnan(rest)).any(axis=1)
        rest_mean = np.full(len(rest), np.nan)
        rest_mean[has_rest] = np.nanmean(rest[has_rest], axis=1)
        mine.append(values[:, r])
        others.append(rest_mean)
        unit_models.append(models)
    if mine:
        frames.append(_levels(CEILING, "human", np.concatenate(mine), np.concatenate(others),
                              np.concatenate(unit_models)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=JUDGE_COLUMNS)


def _levels(rater: str, kind: str, x: np.ndarray, y: np.ndarray, models: np.ndarray) -> pd.DataFrame:
    item = ag.correlations(x, y).assign(level="item")
    by_model = pd.DataFrame({"model": models, "x": x, "y": y}).dropna().groupby("model")[["x", "y"]].mean()
    system = ag.correlations(by_model["x"].to_numpy(), by_model["y"].to_numpy()).assign(level="system")
    return pd.concat([item, system], ignore_index=True).assign(rater=rater, kind=kind)[JUDGE_COLUMNS]


def _pair_table(scores: pd.DataFrame, judge_names: set, domain: list[int]) -> pd.DataFrame:
    """Per pair of raters: units both scored, exact agreement, quadratic-weighted kappa, Pearson r."""
    rows = []
    names = list(scores.columns)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = scores[[a, b]].dropna()
            row = {"rater_a": a, "rater_b": b, "kind_a": "judge" if a in judge_names else "human",
                   "kind_b": "judge" if b in judge_names else "human", "n": len(both),
                   "agreement": np.nan, "kappa_quadratic": np.nan, "pearson": np.nan, "reason": None}
            if len(both) == 0:
                row["reason"] = "no unit scored by both"
            else:
                x, y = both[a].round().astype(int), both[b].round().astype(int)
                row["agreement"] = float((x == y).mean())
                row["kappa_quadratic"] = _safe_kappa(x, y, domain)
                row["pearson"] = ag.correlations(both[a], both[b])["r"].iloc[0]
                row["reason"] = None if not np.isnan(row["kappa_quadratic"]) else "one score only (kappa undefined)"
            rows.append(row)
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "kind_a", "kind_b", "n", "agreement",
                                       "kappa_quadratic", "pearson", "reason"])


def _safe_kappa(x: pd.Series, y: pd.Series, domain: list[int]) -> float:
    if x.nunique() == 1 and y.nunique() == 1 and x.iloc[0] == y.iloc[0]:
        return float("nan")  # expected agreement is 1: kappa is 0/0
    return float(cohen_kappa_score(x, y, labels=domain, weights="quadratic"))


def _exact_agreement(counts: np.ndarray) -> dict:
    """Exact agreement over all unordered pairs of distinct humans on the same unit (MT-Bench)."""
    pairs = (counts.sum(axis=1) * (counts.sum(axis=1) - 1) / 2).sum()
    agree = (counts * (counts - 1) / 2).sum()
    return {"agreement": float(agree / pairs) if pairs else float("nan"), "n_pairs": int(pairs),
            "tie_policy": "not applicable (rubric scores)",
            "reason": None if pairs else "no unit has two human scores"}
