"""The agreement report of a rubric project, one criterion at a time.

A unit is one (item, response) scored on the criterion. The human reference of a unit is the mean
or median of its human scores (the project's `rubric_reference`; an adjudicated score replaces it;
a gold rater is a reference of its own, never a human rater). Humans are compared with each other
by exact agreement, quadratic-weighted kappa and Krippendorff's alpha (`pairs`, `alpha`).

Each judge is compared with the human reference (and with each gold reference) under every
common statistic in `definitions` (annotate.analysis.rubric_agreement: exact agreement, three
Cohen's kappas, ordinal and interval alpha, Pearson / Spearman / Kendall at item and system level,
with item-bootstrap intervals); `judges` keeps the item- and system-level correlations with the
human ceiling (each human against the reference of the other humans, leave-one-out; as in
Prometheus, Kim et al. 2023, arXiv 2310.08491). Models are ranked by mean score per source
(`ratings`, with intervals) and the judges' rankings compared with the humans' (`ranking_tau`).
Judge scores off the criterion's scale are counted in `coverage` and overview, never used as scores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

import storage
from storage import analysis as store
from storage.db import Connection
from annotate.analysis import agreement as ag, quality, rankings
from annotate.analysis.reference import label_roles, rubric_reference
from annotate.analysis.rubric_agreement import rubric_definitions, rubric_rankings
from annotate.analysis.verdicts import coverage_table
from annotate.projects import Project
from annotate.analysis.report_types import CEILING, AgreementReport, ReportFilters, wide_codes
from annotate.study import quality as study_quality
from annotate.study.exclusion import read_exclusion

JUDGE_COLUMNS = ["rater", "kind", "level", "method", "r", "p_value", "n", "reason"]


def build_rubric_report(conn: Connection, project: Project, filters: ReportFilters) -> AgreementReport:
    """The report for one criterion (filters.aspect) of a rubric project; see the module docstring."""
    cur = storage.cursor(conn)
    args = filters.slice_args()
    method = project.config.rubric_reference
    domain = list(project.config.criterion(filters.aspect).scores)
    all_labels = store.slice_labels(cur, project.id, filters.aspect, **args).dropna(subset=["response_idx"])
    participants = study_quality.quality_from_labels(conn, project, all_labels, filters.tie_policy)
    exclusion = read_exclusion(conn, project, filters.include_excluded)
    all_labels, excluded = exclusion.apply(all_labels)
    labels, adjudicated, gold = label_roles(all_labels)
    all_judgments = store.slice_judgments(cur, project.id, filters.aspect, **args)
    all_judgments = all_judgments[all_judgments["response_idx"].notna()]
    valid = all_judgments["is_parsed"].astype(bool) & all_judgments["score"].isin(domain)
    judgments = all_judgments[valid]
    lengths = store.response_lengths(cur, project.id)
    units = lengths[lengths["item_id"].isin(store.slice_items(cur, project.id, **args)["item_id"])]
    unit_ids = (units["item_id"] * 1000 + units["idx"]).to_numpy()
    unit_models = units["model"].fillna("(unknown model)").to_numpy()

    def wide(frame: pd.DataFrame, rater: str, value: str) -> pd.DataFrame:
        return wide_codes(unit_ids, frame["item_id"] * 1000 + frame["response_idx"], frame[rater],
                          frame[value].to_numpy())

    humans = wide(labels, "annotator", "value")
    golds = wide(gold, "annotator", "value")
    scores = judgments.groupby(["item_id", "response_idx", "judge"], as_index=False)["score"].mean()
    judge_names = sorted(all_judgments["judge"].unique())
    judges = wide(scores, "judge", "score").reindex(columns=judge_names)
    reference = rubric_reference(humans.to_numpy(), method)
    if len(adjudicated):
        final = adjudicated.groupby(adjudicated["item_id"] * 1000 + adjudicated["response_idx"])["value"].last()
        position = pd.Index(unit_ids).get_indexer(final.index)
        reference[position[position >= 0]] = final.to_numpy()[position >= 0]
    references = ({"humans": reference} if not np.isnan(reference).all() else {}) | {
        f"gold: {g}": golds[g].to_numpy() for g in golds.columns}
    raters = {j: ("judge", judges[j].to_numpy()) for j in judges.columns} | {
        h: ("human", humans[h].to_numpy()) for h in humans.columns}
    unit_items = units["item_id"].to_numpy()
    definitions = rubric_definitions(references, raters, unit_items, unit_models, domain, filters.n_boot,
                                     filters.seed)
    ranked = {"humans": reference} | {j: judges[j].to_numpy() for j in judges.columns}
    ratings = rubric_rankings(ranked, unit_items, unit_models, filters.n_boot, filters.seed)
    counts = np.stack([(humans.to_numpy() == v).sum(axis=1) for v in domain], axis=1).astype(float)
    coverage = coverage_table(all_judgments, domain)
    n = counts.sum(axis=1)
    return AgreementReport(
        project=project.name, task_type=project.task_type, filters=filters,
        overview={"units": len(unit_ids), "human_labels": int(n.sum()), "annotators": humans.shape[1],
                  "units_with_2_labels": int((n >= 2).sum()), "units_with_reference": int((~np.isnan(reference)).sum()),
                  "rubric_reference": method, "judges": judges.shape[1], "gold_raters": golds.shape[1],
                  "judge_scores_out_of_range": int(coverage.loc[coverage["order"] == "all", "out_of_range"].sum())},
        judges=_judge_table(humans, judges, unit_models, method),
        pairs=_pair_table(pd.concat([humans, golds, judges], axis=1), set(judges.columns), domain, set(golds.columns)),
        alpha=ag.alpha_table(humans.to_numpy().T, domain), fleiss=ag.fleiss_kappa(counts),
        human_agreement=_exact_agreement(counts),
        annotators=quality.annotator_quality(pd.DataFrame(index=humans.index), labels,
                                             exclusion.keep_people(store.annotator_event_counts(cur, project.id,
                                                                                                **args)),
                                             filters.tie_policy).drop(columns=["loo_n", "loo_agreement",
                                                                               "loo_kappa", "tie_policy"]),
        definitions=definitions, coverage=coverage,
        gold=definitions[definitions["reference"].str.startswith("gold: ")].reset_index(drop=True),
        ratings=ratings, ranking_tau=rankings.ranking_agreement(ratings, "humans"),
        participant_quality=participants, exclusion=excluded,
        reference={"rubric_reference": method, "statement": f"the human reference of a unit is the {method} of its "
                   "human scores (an adjudicated score replaces it)", "split_policy": project.config.split_policy,
                   "units_with_reference": int((~np.isnan(reference)).sum()),
                   "units_adjudicated": int(len(adjudicated)), "gold_raters": list(golds.columns)})


def _judge_table(humans: pd.DataFrame, judges: pd.DataFrame, models: np.ndarray, method: str) -> pd.DataFrame:
    """Item- and system-level correlations of each judge with the human reference, and the ceiling
    (each human against the reference of the other humans, leave-one-out)."""
    human_ref = rubric_reference(humans.to_numpy(), method)
    frames = []
    for judge in judges.columns:
        score = judges[judge].to_numpy()
        frames.append(_levels(judge, "judge", score, human_ref, models))
    values = humans.to_numpy()
    mine, others, unit_models = [], [], []
    for r in range(values.shape[1]):
        mine.append(values[:, r])
        others.append(rubric_reference(np.delete(values, r, axis=1), method))
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


def _pair_table(scores: pd.DataFrame, judge_names: set, domain: list[int], gold_names: set = frozenset()) -> pd.DataFrame:
    """Per pair of raters: units both scored, exact agreement, quadratic-weighted kappa, Pearson r."""
    rows = []
    names = list(scores.columns)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = scores[[a, b]].dropna()
            kind = {**{name: "judge" for name in judge_names}, **{name: "gold" for name in gold_names}}
            row = {"rater_a": a, "rater_b": b, "kind_a": kind.get(a, "human"), "kind_b": kind.get(b, "human"),
                   "n": len(both),
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
