"""What the Analysis page draws for rubric projects beyond the report of one criterion: the score
distributions of the humans and of each judge, and each judge's agreement with the humans per
criterion (so a rubric project never shows empty pairwise sections)."""
from __future__ import annotations

import pandas as pd

import storage
from storage import analysis as store
from storage.db import Connection
from annotate.analysis.report import build_report
from annotate.analysis.report_types import HUMANS, ReportFilters
from annotate.projects import get_project
from annotate.study.exclusion import read_exclusion

DISTRIBUTION_COLUMNS = ["criterion", "rater", "score", "count", "share"]


def score_distributions(conn: Connection, project_name: str,
                        filters: ReportFilters = ReportFilters()) -> pd.DataFrame:
    """Per criterion, how often each score was given by the humans (pooled; adjudications left
    out) and by each judge (its mean parsed score per response, rounded).

    Returns:
        DISTRIBUTION_COLUMNS; share = count / all scores of that rater on that criterion.
    """
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    frames = []
    for criterion in project.config.criteria:
        labels, _ = read_exclusion(conn, project, filters.include_excluded).apply(
            store.slice_labels(cur, project.id, criterion.name, **filters.slice_args()))
        labels = labels[labels["response_idx"].notna() & (labels["source"] != "adjudicated")]
        judged = store.slice_judgments(cur, project.id, criterion.name, **filters.slice_args())
        judged = judged[judged["is_parsed"].astype(bool) & judged["score"].notna()]
        judged = judged.groupby(["item_id", "response_idx", "judge"], as_index=False)["score"].mean()
        scores = pd.concat([pd.DataFrame({"rater": HUMANS, "score": labels["value"].to_numpy()}),
                            pd.DataFrame({"rater": judged["judge"].to_numpy(), "score": judged["score"].round()})])
        counts = scores.groupby(["rater", "score"]).size().rename("count").reset_index()
        counts["share"] = counts["count"] / counts.groupby("rater")["count"].transform("sum")
        frames.append(counts.assign(criterion=criterion.name))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DISTRIBUTION_COLUMNS)
    out["score"] = out["score"].astype(int)
    return out[DISTRIBUTION_COLUMNS]


def criterion_agreement(conn: Connection, project_name: str,
                        filters: ReportFilters = ReportFilters()) -> pd.DataFrame:
    """Per criterion, each judge's (and the human ceiling's) item-level Spearman correlation with
    the mean human score, from the report of that criterion (annotate.analysis.report_rubric).

    Returns:
        criterion, rater, kind, r, n, reason.
    """
    project = get_project(conn, project_name)
    frames = []
    for criterion in project.config.criteria:
        report = build_report(conn, project_name, ReportFilters(criterion.name, filters.tie_policy,
                                                                filters.metadata, filters.calibration_only, 0, 0,
                                                                filters.include_excluded))
        rows = report.judges
        rows = rows[(rows["level"] == "item") & (rows["method"] == "spearman")]
        frames.append(rows[["rater", "kind", "r", "n", "reason"]].assign(criterion=criterion.name))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["rater"])
    return out[["criterion", "rater", "kind", "r", "n", "reason"]]
