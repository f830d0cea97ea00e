"""The per-participant quality table of a crowd study: who can be trusted, and on what evidence.

One row per person who labeled the project (participants who came through a study link, and the
project's own annotators), with:

- Attention checks passed and failed (items with a known answer, never shown as checks), training
  items passed, and whether the person is excluded from reports and exports (annotate.study: the
  flag is set when more than the project's allowed number of checks fail, or by a researcher).
- Agreement with the others: each person's label against the leave-one-out reference of the
  *other* raters of the same item (the strict majority of their signs; an even split follows the
  project's split policy), under the report's tie policy. It is the comparison of the human ceiling
  and of the Annotators table (annotate.analysis.quality.loo_agreement, the one implementation);
  items no one else labeled do not count (loo_n is how many did).
- Time: the median of the seconds recorded with each label, and how many labels took less than
  the project's minimum (`min_seconds`): such labels are counted here and marked on the review
  page, never hidden from reports.
- Position bias: the share of non-tie labels that chose the response shown first (on screen "A",
  left), with a two-sided exact binomial test against 0.5 (scipy.stats.binomtest; the rule of
  annotate.analysis.bias.side_bias). A crowd worker who clicks the first response regardless of
  content shows a share near 1 and a small p-value (cf. position bias in LLM judges, Zheng et al.
  2023, arXiv 2306.05685, section 3.3; in crowd workers, Hube, Fetahu & Gadiraju 2019, CHI,
  doi:10.1145/3290605.3300637, on biased judgments of crowd workers).
- Dawid-Skene worker quality: Dawid & Skene (1979), "Maximum likelihood estimation of observer
  error-rates using the EM algorithm", JRSS C 28(1), doi:10.2307/2346806, fitted by crowd-kit
  (Ustalov et al. 2021, arXiv 2109.08584) as in annotate.data.aggregate. For worker w with
  estimated confusion matrix pi_w[c, l] = P(w says l | true class c) and class priors p_c, the
  quality is the expected accuracy sum_c p_c pi_w[c, c]. It is fitted only on items labeled by two
  or more people (without overlap the model cannot tell a worker's errors from the truth), over
  the signs A / tie / B; a person with no such item has no value (ds_items 0).

All functions here take and return plain DataFrames; `participant_quality_table` reads them from
the store for one project.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import storage
from storage import analysis as analysis_store
from storage.db import Connection
from annotate.analysis.agreement import check_tie_policy
from annotate.analysis.bias import side_bias
from annotate.analysis.quality import loo_agreement
from annotate.analysis.reference import DEFAULT_SPLIT_POLICY, label_roles
from annotate.analysis.report_types import wide_codes
from annotate.projects import Project, get_project
from annotate.study import reports
from annotate.study.timing import is_fast

COLUMNS = ["annotator", "participant_id", "is_excluded", "exclusion_reason", "labels",
           "attention_checks", "attention_passed", "attention_failed", "training_items", "training_passed",
           "loo_n", "loo_agreement", "loo_kappa", "median_seconds", "fast_labels", "min_seconds",
           "chose_first", "chose_second", "share_first", "position_p_value", "ds_items", "ds_quality",
           "tie_policy"]
ALL_ANNOTATORS = "(all annotators)"  # the pooled row of annotate.analysis.bias.side_bias
# What the researcher pages say above the table.
PAGE_NOTE = ("One row per person who labeled (excluded participants too). Agreement: each label against the "
             "reference of the other raters of the same item (leave-one-out). Fast labels are under the project's "
             "minimum time: counted here, still in every report. Position bias: share of labels choosing the "
             "response shown first, binomial test against 0.5. Dawid-Skene quality needs items shared with others.")
# The table's columns in words for the researcher pages: (title, one-line help).
QUALITY_WORDS = {
    "participant_id": ("Platform id", "The participant's id on Prolific or MTurk (researchers only); empty for the "
                                      "project's own annotators."),
    "is_excluded": ("Excluded", "Left out of reports and exports by default (failed attention checks or a "
                                "researcher's decision; reversible on the Review page)."),
    "exclusion_reason": ("Why excluded", ""),
    "attention_checks": ("Attention checks", "Items with a known answer, mixed into the queue."),
    "attention_passed": ("Checks passed", ""),
    "attention_failed": ("Checks failed", ""),
    "training_items": ("Training items", "Practice items answered, with feedback."),
    "training_passed": ("Training passed", ""),
    "fast_labels": ("Fast labels", "Labels faster than the project's minimum time (marked, still counted)."),
    "min_seconds": ("Minimum seconds", "The project's minimum time per label."),
    "chose_first": ("Chose the first response", "Non-tie labels choosing the response shown first (on the left)."),
    "chose_second": ("Chose the second response", ""),
    "share_first": ("Share choosing the first", "Expected 0.5 without a position bias."),
    "position_p_value": ("Position bias p-value", "Two-sided exact binomial test of the share against 0.5."),
    "ds_items": ("Items shared with others", "Items the person labeled that someone else labeled too "
                                             "(what Dawid-Skene can learn from)."),
    "ds_quality": ("Dawid-Skene quality", "Expected accuracy under the Dawid-Skene model (Dawid & Skene 1979): "
                                          "sum over classes of prior x P(right | class)."),
}


def check_counts(checks: pd.DataFrame) -> pd.DataFrame:
    """Attention checks and training items per person.

    Args:
        checks: one row per check answer: annotator, kind ('attention' | 'training'), passed (bool).

    Returns:
        annotator, attention_checks, attention_passed, attention_failed, training_items, training_passed.
    """
    columns = ["annotator", "attention_checks", "attention_passed", "attention_failed", "training_items",
               "training_passed"]
    if checks.empty:
        return pd.DataFrame(columns=columns)
    frame = checks.assign(passed=checks["passed"].astype(bool),
                          is_attention=checks["kind"] == "attention", is_training=checks["kind"] == "training")
    frame["attention_ok"] = frame["is_attention"] & frame["passed"]
    frame["training_ok"] = frame["is_training"] & frame["passed"]
    out = frame.groupby("annotator", as_index=False).agg(
        attention_checks=("is_attention", "sum"), attention_passed=("attention_ok", "sum"),
        training_items=("is_training", "sum"), training_passed=("training_ok", "sum"))
    out["attention_failed"] = out["attention_checks"] - out["attention_passed"]
    return out[columns]


def time_counts(labels: pd.DataFrame, min_seconds: float | None) -> pd.DataFrame:
    """Median seconds per label and the labels faster than `min_seconds`, per person.

    Args:
        labels: annotator, seconds (NaN where no time was recorded: imports; such labels are
            neither fast nor counted in the median).
        min_seconds: the project's minimum time per label; None: no minimum (fast_labels is NaN).

    Returns:
        annotator, median_seconds, fast_labels, min_seconds.
    """
    seconds = labels["seconds"].astype(float)
    fast = is_fast(seconds, min_seconds) if min_seconds else pd.Series(np.nan, index=labels.index)
    out = pd.DataFrame({"annotator": labels["annotator"].astype(object), "seconds": seconds, "fast": fast})
    out = out.groupby("annotator", as_index=False).agg(median_seconds=("seconds", "median"),
                                                        fast_labels=("fast", "sum"))
    if min_seconds is None:
        out["fast_labels"] = np.nan
    out["min_seconds"] = np.nan if min_seconds is None else float(min_seconds)
    return out


def position_counts(labels: pd.DataFrame) -> pd.DataFrame:
    """Choices of the response shown first vs second per person (annotate.analysis.bias.side_bias).

    Args:
        labels: annotator, value (signed, canonical), presented_order ('AB' | 'BA' | None).

    Returns:
        annotator, chose_first, chose_second, share_first (chose_first / non-tie labels with a
        stored order; expected 0.5 without a position bias), position_p_value (two-sided exact
        binomial test of share_first = 0.5).
    """
    side = side_bias(labels)
    side = side[side["annotator"] != ALL_ANNOTATORS]
    return pd.DataFrame({"annotator": side["annotator"].astype(object), "chose_first": side["left"],
                         "chose_second": side["right"], "share_first": side["p_left"],
                         "position_p_value": side["p_value"]})


def dawid_skene_quality(labels: pd.DataFrame) -> pd.DataFrame:
    """Dawid-Skene worker quality on the items two or more people labeled (module docstring).

    Args:
        labels: item_id, annotator, code (the category a person gave: the sign for pairwise
            labels; one row per person and task), and optionally task (what one category is about:
            a rubric item's response; the item itself when absent).

    Returns:
        annotator, ds_items (items with overlap the person labeled), ds_quality (sum_c p_c
        pi[c, c], in [0, 1]; NaN without overlap or when fewer than two people share an item).
    """
    from annotate.data.aggregate import fit_dawid_skene  # crowd-kit: loaded only when needed

    frame = labels.assign(task=labels["task"] if "task" in labels else labels["item_id"])
    frame = frame[["task", "item_id", "annotator", "code"]].dropna()
    raters = frame.groupby("task")["annotator"].transform("nunique")
    shared = frame[raters >= 2]
    everyone = pd.DataFrame({"annotator": pd.Series(sorted(frame["annotator"].unique()), dtype=object)})
    if shared.empty:
        return everyone.assign(ds_items=0, ds_quality=np.nan)
    model = fit_dawid_skene(pd.DataFrame({"task": shared["task"].to_numpy(),
                                          "worker": shared["annotator"].to_numpy(dtype=object),
                                          "label": shared["code"].to_numpy()}))
    classes = list(model.priors_.index)
    errors = model.errors_.reindex(columns=classes, fill_value=0.0)
    quality = {}
    for worker in shared["annotator"].unique():
        own = errors.xs(worker, level=0).reindex(index=classes, fill_value=0.0)
        quality[worker] = float(sum(model.priors_[c] * own.loc[c, c] for c in classes))
    items = shared.groupby("annotator")["item_id"].nunique()
    return everyone.assign(ds_items=everyone["annotator"].map(items).fillna(0).astype(int),
                           ds_quality=everyone["annotator"].map(quality).astype(float))


def participant_quality(labels: pd.DataFrame, checks: pd.DataFrame, people: pd.DataFrame, *,
                        tie_policy: str = "with_ties", split_policy: str = DEFAULT_SPLIT_POLICY,
                        min_seconds: float | None = None, is_pairwise: bool = True) -> pd.DataFrame:
    """The quality table: one row per person with labels or check answers.

    Args:
        labels: the real human labels of one aspect or criterion (no check answers, no
            adjudications, no gold): item_id, annotator, value (pairwise: signed, canonical; rubric:
            the score), presented_order, seconds; rubric rows also response_idx (one per response);
            event_id when present counts a label once in the time columns.
        checks: check answers (check_counts).
        people: annotator, participant_id (the platform's id; None for the project's own
            annotators), is_excluded, exclusion_reason.
        tie_policy, split_policy: how agreement with the others is counted (module docstring).
        min_seconds: the project's minimum time per label (None: none set).
        is_pairwise: False for rubric scores: agreement with the others and position bias are
            pairwise measures (NaN), Dawid-Skene takes each response's score as the category.

    Returns:
        COLUMNS, sorted by annotator. Counts are 0 where a person has nothing to count; rates and
        statistics are NaN where undefined (no comparison, no time, no overlap).
    """
    labels = labels.assign(annotator=labels["annotator"].astype(object))
    names = sorted(set(labels["annotator"]) | set(checks["annotator"].astype(object)))
    frame = pd.DataFrame({"annotator": pd.Series(names, dtype=object)})
    events = labels.drop_duplicates("event_id") if "event_id" in labels else labels
    frame["labels"] = frame["annotator"].map(events.groupby("annotator").size()).fillna(0).astype(int)
    if is_pairwise:
        signs = np.sign(labels["value"].to_numpy(dtype=float))
        items = np.unique(labels["item_id"].to_numpy())
        codes = wide_codes(items, labels["item_id"], labels["annotator"], signs)
        values = wide_codes(items, labels["item_id"], labels["annotator"], labels["value"].to_numpy(dtype=float))
        pairwise = [loo_agreement(codes, tie_policy, split_policy, values), position_counts(labels)]
        units = labels.assign(code=signs)
    else:
        pairwise = []
        units = labels.assign(task=labels["item_id"] * 1000 + labels["response_idx"], code=labels["value"])
    parts = [check_counts(checks), *pairwise, time_counts(events, min_seconds), dawid_skene_quality(units)]
    for part in parts:
        frame = frame.merge(part.astype({"annotator": object}), on="annotator", how="left")
    frame = frame.merge(people[["annotator", "participant_id", "is_excluded", "exclusion_reason"]].astype(
        {"annotator": object}), on="annotator", how="left")
    frame = frame.reindex(columns=list(dict.fromkeys([*frame.columns, *COLUMNS])))
    counts = ["attention_checks", "attention_passed", "attention_failed", "training_items", "training_passed",
              "ds_items"] + (["loo_n", "chose_first", "chose_second"] if is_pairwise else [])
    frame[counts] = frame[counts].fillna(0).astype(int)
    if min_seconds is not None:
        frame["fast_labels"] = frame["fast_labels"].fillna(0).astype(int)
    frame["min_seconds"] = np.nan if min_seconds is None else float(min_seconds)
    frame["is_excluded"] = frame["is_excluded"].astype("boolean").fillna(False).astype(bool)
    frame["tie_policy"] = tie_policy if is_pairwise else None
    return frame[COLUMNS].sort_values("annotator").reset_index(drop=True)


def quality_from_labels(conn: Connection, project: Project, labels: pd.DataFrame,
                        tie_policy: str = "with_ties") -> pd.DataFrame:
    """The quality table of a project from label rows the caller read (a report's slice).

    Args:
        labels: storage.analysis.slice_labels rows of one aspect or criterion (every rater kind and
            source: adjudications and gold are set aside here; check answers are never label rows).
            Excluded participants' labels are kept: the table shows everyone, so that it does not
            change with the exclusion it informs.
    """
    is_pairwise = project.task_type == "pairwise"
    votes, _, _ = label_roles(labels[labels["response_idx"].isna()] if is_pairwise
                              else labels[labels["response_idx"].notna()])
    checks = reports.check_answers(conn, project)[["annotator", "kind", "passed"]]
    excluded = reports.excluded_participants(conn, project)
    people = reports.participant_ids(conn, project)[["annotator", "participant_id"]].merge(
        excluded[["annotator", "exclusion_reason"]], on="annotator", how="left")
    people["is_excluded"] = people["annotator"].isin(excluded["annotator"])
    minimum = project.config.study.min_seconds or None
    return participant_quality(votes, checks, people, tie_policy=tie_policy, split_policy=project.config.split_policy,
                               min_seconds=minimum, is_pairwise=is_pairwise)


def participant_quality_table(conn: Connection, project_name: str, *, aspect: str | None = None,
                              tie_policy: str = "with_ties") -> pd.DataFrame:
    """The quality table of a whole project for one aspect or criterion (default: the first), for
    the Study page. The same table is `participant_quality` in `agreement --json`.

    Raises:
        NotFoundError: no such project.
    """
    project = get_project(conn, project_name)
    aspect = aspect or project.config.aspect_names[0]
    labels = analysis_store.slice_labels(storage.cursor(conn), project.id, aspect)
    return quality_from_labels(conn, project, labels, check_tie_policy(tie_policy))
