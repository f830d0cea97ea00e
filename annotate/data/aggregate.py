"""Aggregate labels per item: one final label with its source, soft label and rater agreement.

Pairwise (per item and aspect), on the sign of each rater's value (canonical order: negative = A
better, 0 = tie, positive = B better):
- `majority`: the sign with the most votes wins. When two or more signs share the top count (one A
  vote and one B vote; A, tie and B once each) the project's split policy decides, through the one
  rule in annotate.analysis.reference: a tie (0, the default: no majority prefers either response),
  dropped, or the sign of the mean value. The strength is the mean of the signed values on the winning
  side (votes -2, -1, +1 give -1.5); a tie has value 0.
- `dawid-skene`: the label with the highest posterior under Dawid and Skene's (1979) annotator
  confusion model (crowd-kit's `DawidSkene`), which weights annotators by their estimated
  reliability; the strength is as above, or the weakest strength on the scale when nobody voted
  for the winning side. Dawid, A. P. & Skene, A. M., JRSS C 28(1), 1979, doi:10.2307/2346806.
Rubric (per item, response and criterion): `mean` (default), `median`, or `dawid-skene` with the
scores as categories.

Soft label: the share of the item's raters per sign (p_a, p_tie, p_b), or the Dawid-Skene posterior.
Agreement: the share of agreeing rater pairs, P_i = sum_k n_k (n_k - 1) / (n (n - 1)), where n_k
raters chose category k of n (Fleiss 1971, Psychological Bulletin 76(5), the per-subject term of
kappa); on the sign for pairwise, on the exact score for rubric. It is undefined (NaN) below two raters.

The final label of an item: the human aggregate where humans labeled it, else the verdict of the
judge the router sent it to (or the fallback judge the caller names). Its `source` is 'human',
'ai', or 'both' when humans labeled it and that judge gave a verdict too (the label is then the
humans'; the judge's verdict is kept beside it). A researcher's adjudication (a label event with
source 'adjudicated', from the review page) overrides all of these: the row's source is then
'adjudicated', its value the adjudicated one, and the humans' count and agreement stay beside it.
Gold labels (raters of kind 'gold', a benchmark's answer key) are never human votes: an item
without human votes or an adjudication takes its gold label (source 'gold') before any judge's.
"""
from __future__ import annotations

import warnings
from datetime import datetime

import numpy as np
import pandas as pd

import storage
from storage import export as export_store, judgments as judgment_store
from storage.db import Connection
from annotate.errors import AnnotateError, NotFoundError
from annotate.projects import Project
from annotate.analysis.reference import DEFAULT_SPLIT_POLICY, reference_from_counts
from annotate.analysis.verdicts import combined_verdicts
from annotate.signs import verdict_signs

PAIRWISE_METHODS = ("majority", "dawid-skene")
# crowd-kit's EM stops when the log-likelihood changes by less than DS_TOLERANCE; its convergence
# to the generating confusion matrices is tested in tests/test_aggregate.py.
DS_ITERATIONS, DS_TOLERANCE = 100, 1e-5
RUBRIC_METHODS = ("mean", "median", "dawid-skene")
SIGNS = (-1, 0, 1)
PAIRWISE_COLUMNS = ["item_id", "aspect", "value", "n_labels", "agreement", "p_a", "p_tie", "p_b", "both_bad"]
RUBRIC_COLUMNS = ["item_id", "response_idx", "aspect", "value", "mean", "median", "n_labels", "agreement"]
FINAL_EXTRA = ["source", "judge_id", "judge", "judge_value"]
ADJUDICATED = "adjudicated"  # label_events.source of a researcher's final label (annotate.labeling.review)
GOLD = "gold"  # annotators.kind of a reference rater (a benchmark's answer key)


def pair_agreement(counts: np.ndarray) -> np.ndarray:
    """Per row of category counts, the share of agreeing rater pairs (NaN below two raters)."""
    n = counts.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (counts * (counts - 1)).sum(axis=1) / (n * (n - 1))
    return np.where(n >= 2, share, np.nan)


def aggregate_pairwise(labels: pd.DataFrame, method: str = "majority", weakest: float = 1.0,
                       split_policy: str = DEFAULT_SPLIT_POLICY) -> pd.DataFrame:
    """Aggregate pairwise labels per (item, aspect).

    Args:
        labels: one row per rater and aspect: item_id, aspect, annotator_id, value, both_bad.
        method: 'majority' or 'dawid-skene' (see the module docstring).
        weakest: the smallest positive strength on the scale (Dawid-Skene fallback strength).
        split_policy: what an even split becomes under 'majority' (annotate.analysis.reference,
            the one rule; 'drop' leaves such items out).

    Returns:
        PAIRWISE_COLUMNS: value (signed, canonical), n_labels, agreement, p_a/p_tie/p_b (soft
        label), both_bad (more than half of the raters ticked 'both are bad').
    """
    if method not in PAIRWISE_METHODS:
        raise AnnotateError(f"Unknown pairwise aggregation '{method}' (use {', '.join(PAIRWISE_METHODS)})")
    if labels.empty:
        return pd.DataFrame(columns=PAIRWISE_COLUMNS)
    frame = labels[["item_id", "aspect", "annotator_id", "value", "both_bad"]].copy()
    frame["sign"] = np.sign(frame["value"].to_numpy(dtype=float)).astype(int)
    out, group = _groups(frame)
    cells = group * 3 + frame["sign"].to_numpy() + 1  # one cell per (group, sign)
    size = 3 * len(out)
    counts = np.bincount(cells, minlength=size).reshape(-1, 3)
    totals = np.bincount(cells, weights=frame["value"].to_numpy(dtype=float), minlength=size).reshape(-1, 3)
    n = counts.sum(axis=1)
    if method == "majority":
        winner, probs = reference_from_counts(counts, split_policy, totals.sum(axis=1)), counts / n[:, None]
    else:
        winner, probs = _dawid_skene(frame.rename(columns={"sign": "label"}), out, SIGNS)
    keep = ~np.isnan(winner.astype(float))
    winner = np.nan_to_num(winner.astype(float)).astype(int)
    rows = np.arange(len(out))
    side = winner + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = totals[rows, side] / counts[rows, side]
    out["value"] = np.where(winner == 0, 0.0, np.where(counts[rows, side] > 0, strength, winner * weakest))
    out["n_labels"] = n
    out["agreement"] = pair_agreement(counts)
    out[["p_a", "p_tie", "p_b"]] = probs
    flagged = np.bincount(group, weights=frame["both_bad"].to_numpy(dtype=float), minlength=len(out))
    out["both_bad"] = flagged / n > 0.5
    return out.loc[keep, PAIRWISE_COLUMNS].reset_index(drop=True)


def _groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct (item_id, aspect) pairs sorted, and each row's group number.

    Integer codes and np.unique instead of a pandas groupby on a text key: a million labels take
    a fraction of a second instead of seconds.
    """
    item_codes, items = pd.factorize(frame["item_id"], sort=True)
    aspect_codes, aspects = pd.factorize(frame["aspect"], sort=True)
    unique, group = np.unique(item_codes.astype(np.int64) * len(aspects) + aspect_codes, return_inverse=True)
    out = pd.DataFrame({"item_id": np.asarray(items)[unique // len(aspects)],
                        "aspect": np.asarray(aspects, dtype=object)[unique % len(aspects)]})
    return out, group


def fit_dawid_skene(data: pd.DataFrame):
    """crowd-kit's DawidSkene fitted with this project's iterations and tolerance (the one place
    that runs it: aggregation here, worker quality in annotate.study.quality).

    Args:
        data: task, worker, label (one row per worker's label of a task).

    Returns:
        The fitted crowdkit.aggregation.DawidSkene (labels_, probas_, priors_, errors_).
    """
    from crowdkit.aggregation import DawidSkene

    with warnings.catch_warnings():  # crowd-kit 1.4 uses pandas keywords that pandas 3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return DawidSkene(n_iter=DS_ITERATIONS, tol=DS_TOLERANCE).fit(data)


def _dawid_skene(frame: pd.DataFrame, keys: pd.DataFrame, categories) -> tuple[np.ndarray, np.ndarray]:
    """Dawid-Skene labels and posteriors per row of `keys` (item_id, aspect[, response_idx]).

    crowd-kit needs one task id per row: the position of the row's keys in `keys`.
    """
    key_columns = list(keys.columns)
    task = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(frame[key_columns]))
    data = pd.DataFrame({"task": task, "worker": frame["annotator_id"].to_numpy(), "label": frame["label"].to_numpy()})
    model = fit_dawid_skene(data)
    probs = model.probas_.reindex(index=range(len(keys)), columns=list(categories), fill_value=0.0)
    return model.labels_.reindex(range(len(keys))).to_numpy(), probs.to_numpy(dtype=float)


def aggregate_rubric(labels: pd.DataFrame, method: str = "mean") -> pd.DataFrame:
    """Aggregate rubric scores per (item, response, criterion).

    Args:
        labels: one row per rater, response and criterion: item_id, response_idx, aspect,
            annotator_id, value.
        method: 'mean', 'median' or 'dawid-skene' (scores as categories); `value` is that statistic
            and `mean` and `median` are always reported.

    Returns:
        RUBRIC_COLUMNS; agreement is the share of rater pairs giving the exact same score.
    """
    if method not in RUBRIC_METHODS:
        raise AnnotateError(f"Unknown rubric aggregation '{method}' (use {', '.join(RUBRIC_METHODS)})")
    if labels.empty:
        return pd.DataFrame(columns=RUBRIC_COLUMNS)
    keys = ["item_id", "response_idx", "aspect"]
    frame = labels[keys + ["annotator_id", "value"]].copy()
    stats = frame.groupby(keys, sort=True)["value"].agg(["mean", "median", "size"])
    counts = frame.groupby(keys + ["value"], sort=True).size().unstack("value", fill_value=0)
    out = stats.index.to_frame(index=False)
    out["mean"], out["median"], out["n_labels"] = (stats["mean"].to_numpy(), stats["median"].to_numpy(),
                                                   stats["size"].to_numpy())
    out["agreement"] = pair_agreement(counts.to_numpy())
    if method == "dawid-skene":
        scores = sorted(frame["value"].unique())
        winner, _ = _dawid_skene(frame.rename(columns={"value": "label"}), out[keys], scores)
        out["value"] = winner.astype(float)
    else:
        out["value"] = out[method]
    return out[RUBRIC_COLUMNS]


def human_labels(conn: Connection, project: Project, *, since: datetime | None = None,
                 until: datetime | None = None, annotators: tuple[str, ...] = ()) -> pd.DataFrame:
    """Current human labels of a project (storage.export.current_labels: item_id, annotator_id,
    annotator, both_bad, created_at, aspect, response_idx, value), restricted to events created
    in [since, until) and to the named annotators when given."""
    frame = export_store.current_labels(storage.cursor(conn), project.id)
    if annotators:
        unknown = sorted(set(annotators) - set(frame["annotator"]))
        if unknown:
            raise NotFoundError(f"No labels by annotator(s) {unknown} in project '{project.name}'")
        frame = frame[frame["annotator"].isin(annotators) | (frame["source"] == ADJUDICATED)]
    return frame[_in_range(frame["created_at"], since, until)]


def _in_range(times: pd.Series, since: datetime | None, until: datetime | None) -> pd.Series:
    keep = pd.Series(True, index=times.index)
    if since is not None:
        keep &= times >= pd.Timestamp(since)
    if until is not None:
        keep &= times < pd.Timestamp(until)
    return keep


def final_labels(conn: Connection, project: Project, *, method: str | None = None,
                 judge: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 annotators: tuple[str, ...] = (), labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """The final label of every labeled item (see the module docstring for the rules).

    Args:
        method: aggregation of human labels (default 'majority' for pairwise, 'mean' for rubric).
        judge: a fallback judge (name or id) for items that have no routed judge: with it, items
            without human labels get that judge's verdict.
        since, until, annotators: which human labels and judgments count.
        labels: human_labels(...) when the caller already read them (with the same filters).

    Returns:
        Pairwise: PAIRWISE_COLUMNS + FINAL_EXTRA; rubric: RUBRIC_COLUMNS + FINAL_EXTRA.
        judge_value is the judge's signed verdict (pairwise) or mean score (rubric), NaN when none.

    Raises:
        NotFoundError: the fallback judge or an annotator has no labels in the project.
    """
    is_pairwise = project.task_type == "pairwise"
    method = method or ("majority" if is_pairwise else "mean")
    if labels is None:
        labels = human_labels(conn, project, since=since, until=until, annotators=annotators)
    is_adjudicated = (labels["source"] == ADJUDICATED).to_numpy() if "source" in labels else np.zeros(len(labels), bool)
    adjudicated, labels = labels[is_adjudicated], labels[~is_adjudicated]
    is_gold = (labels["rater_kind"] == GOLD).to_numpy() if "rater_kind" in labels else np.zeros(len(labels), bool)
    gold, labels = labels[is_gold], labels[~is_gold]
    if is_pairwise:
        weakest = float(min(p.value for p in project.config.scale if p.value > 0))
        keys = ["item_id", "aspect"]
        human = _pairwise_with_settled_splits(labels[labels["response_idx"].isna()], adjudicated, keys,
                                              method, weakest, project.config.split_policy)
    else:
        human = aggregate_rubric(labels[labels["response_idx"].notna()], method)
        keys = ["item_id", "response_idx", "aspect"]
    ai = judge_labels(conn, project, judge=judge, since=since, until=until)
    final = _combine(human, ai, keys, PAIRWISE_COLUMNS if is_pairwise else RUBRIC_COLUMNS)
    return apply_adjudications(apply_gold(final, gold, keys), adjudicated, keys)


def apply_gold(final: pd.DataFrame, gold: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Give keys without human votes their gold label (source 'gold'): a benchmark's answer key
    beats a judge's verdict, and never outvotes or joins the humans."""
    if gold.empty:
        return final
    newest = gold.sort_values("event_id").groupby(keys, as_index=False).last()
    merged = final.merge(newest[[*keys, "value", "both_bad"]].rename(columns={"value": "gold_value",
                                                                              "both_bad": "gold_both_bad"}),
                         on=keys, how="outer", indicator=True)
    is_gold = merged["gold_value"].notna().to_numpy() & ~merged["source"].isin(["human", "both"]).to_numpy()
    merged.loc[is_gold, "value"] = merged.loc[is_gold, "gold_value"]
    merged.loc[is_gold, "source"] = GOLD
    merged.loc[(merged["_merge"] == "right_only").to_numpy(), "n_labels"] = 0
    merged["n_labels"] = merged["n_labels"].astype(int)
    if "p_a" in merged:
        sign = np.sign(merged.loc[is_gold, "gold_value"].to_numpy(dtype=float)).astype(int)
        merged.loc[is_gold, ["p_a", "p_tie", "p_b"]] = np.eye(3)[sign + 1]
        merged.loc[is_gold, "both_bad"] = merged.loc[is_gold, "gold_both_bad"].astype(bool)
        merged["both_bad"] = merged["both_bad"].astype(bool)
    return merged.sort_values(keys, kind="stable").reset_index(drop=True)[list(final.columns)]


def _pairwise_with_settled_splits(labels: pd.DataFrame, adjudicated: pd.DataFrame, keys: list[str],
                                  method: str, weakest: float, split_policy: str) -> pd.DataFrame:
    """aggregate_pairwise, keeping the human count and agreement of splits a researcher settled.

    Under split policy 'drop' an even split has no aggregate row, so its adjudicated label would
    be exported with n_labels 0 and no agreement, as if no human had labeled it. Such keys are
    aggregated again under 'tie' (the value is replaced by the adjudication anyway).
    """
    human = aggregate_pairwise(labels, method, weakest, split_policy)
    if split_policy != "drop" or method != "majority" or adjudicated.empty:
        return human
    settled = pd.MultiIndex.from_frame(adjudicated[keys]).difference(pd.MultiIndex.from_frame(human[keys]))
    dropped = labels[pd.MultiIndex.from_frame(labels[keys]).isin(settled)]
    if dropped.empty:
        return human
    return pd.concat([human, aggregate_pairwise(dropped, method, weakest, "tie")], ignore_index=True)


def apply_adjudications(final: pd.DataFrame, adjudicated: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Replace final labels by the researchers' adjudicated ones (source 'adjudicated').

    The newest adjudication of each key wins. The row keeps the humans' n_labels and agreement
    (what the adjudication settled) and the judge's verdict beside it; pairwise soft labels become
    one-hot on the adjudicated sign. Keys that only an adjudication labels are added.

    Args:
        final: final_labels rows; adjudicated: human_labels rows whose source is 'adjudicated'.
    """
    if adjudicated.empty:
        return final
    newest = adjudicated.sort_values("event_id").groupby(keys, as_index=False).last()
    merged = final.merge(newest[[*keys, "value", "both_bad"]].rename(columns={"value": "adj_value",
                                                                              "both_bad": "adj_both_bad"}),
                         on=keys, how="outer", indicator=True)
    is_adj = merged["adj_value"].notna().to_numpy()
    merged.loc[is_adj, "value"] = merged.loc[is_adj, "adj_value"]
    merged.loc[is_adj, "source"] = ADJUDICATED
    only_adj = (merged["_merge"] == "right_only").to_numpy()
    merged.loc[only_adj, "n_labels"] = 0
    merged["n_labels"] = merged["n_labels"].astype(int)
    if "p_a" in merged:
        sign = np.sign(merged.loc[is_adj, "adj_value"].to_numpy(dtype=float)).astype(int)
        merged.loc[is_adj, ["p_a", "p_tie", "p_b"]] = np.eye(3)[sign + 1]
        merged.loc[is_adj, "both_bad"] = merged.loc[is_adj, "adj_both_bad"].astype(bool)
        merged["both_bad"] = merged["both_bad"].astype(bool)
    return merged.sort_values(keys, kind="stable").reset_index(drop=True)[list(final.columns)]


def _combine(human: pd.DataFrame, ai: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Human aggregate where present, else the judge's; record source, judge and judge_value."""
    human = human.assign(has_human=True)
    if ai.empty:  # skip the outer merge, which costs seconds on a million labels
        merged = human.assign(**{c if c not in human else f"{c}_ai": np.nan for c in ai.columns if c not in keys})
    else:
        merged = human.merge(ai, on=keys, how="outer", suffixes=("", "_ai"))
    has_human = merged["has_human"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    has_ai = merged["judge_value"].notna().to_numpy()
    merged["source"] = np.select([has_human & has_ai, has_human], ["both", "human"], "ai")
    fill = {"value": merged["judge_value"], "n_labels": 0}
    if "p_a" in merged:
        fill |= {"both_bad": False, "p_a": merged["p_a_ai"], "p_tie": merged["p_tie_ai"], "p_b": merged["p_b_ai"]}
    for column, default in fill.items():
        merged[column] = merged[column].where(has_human, default)
    merged["n_labels"] = merged["n_labels"].astype(int)
    if "both_bad" in merged:
        merged["both_bad"] = merged["both_bad"].astype(bool)
    merged = merged[has_human | has_ai].sort_values(keys, kind="stable").reset_index(drop=True)
    return merged[columns + FINAL_EXTRA]


def judge_labels(conn: Connection, project: Project, *, judge: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """The AI verdict that counts for each item: for items whose current route is 'ai', the
    router's label (annotate.router.final_ai_labels for 'overall': the routed judge's combined
    verdict, or the router model's own; the routed judge's combined verdicts for other aspects);
    for the other items the fallback `judge`'s verdict, when one is named.

    Returns:
        item_id, aspect (and response_idx for rubric), judge_id, judge (the verdict's source),
        judge_value, and for pairwise p_a, p_tie, p_b (the verdict's probabilities).
    """
    cur = storage.cursor(conn)
    all_routes = export_store.ai_routes(cur, project.id)
    routes = all_routes.dropna(subset=["judge_id"])
    fallback = _resolve_judge(conn, project, judge) if judge else None
    judge_ids = sorted({*routes["judge_id"].astype(int), *([fallback] if fallback else [])})
    is_pairwise = project.task_type == "pairwise"
    columns = ["item_id", "aspect", *([] if is_pairwise else ["response_idx"]), "judge_id", "judge", "judge_value",
               *(["p_a", "p_tie", "p_b"] if is_pairwise else [])]
    out = pd.DataFrame(columns=columns)
    if judge_ids:
        judgments = export_store.judge_judgments(cur, project.id, judge_ids)
        judgments = judgments[_in_range(judgments["created_at"], since, until)]
        verdicts = _pairwise_verdicts(project, judgments) if is_pairwise else _rubric_scores(judgments)
        wanted = pd.DataFrame({"item_id": routes["item_id"].astype(int), "judge_id": routes["judge_id"].astype(int)})
        if fallback:
            others = verdicts.loc[~verdicts["item_id"].isin(all_routes["item_id"]), ["item_id"]].drop_duplicates()
            wanted = pd.concat([wanted, others.assign(judge_id=fallback)], ignore_index=True)
        out = verdicts.merge(wanted, on=["item_id", "judge_id"])[columns]
    if is_pairwise and not all_routes.empty:
        router = _router_verdicts(conn, project)
        is_replaced = (out["aspect"] == "overall") & out["item_id"].isin(all_routes["item_id"])
        out = pd.concat([out[~is_replaced], router[columns]], ignore_index=True) if len(out) else router[columns]
    return out


def _router_verdicts(conn: Connection, project: Project) -> pd.DataFrame:
    """The router's AI labels for 'overall' as signed values at the scale's weakest strength; the
    probabilities are the judge's when the verdict is the judge's, else one-hot on the verdict."""
    from annotate.router.routing import final_ai_labels  # loads scikit-learn: only for routed projects

    weakest = float(min(p.value for p in project.config.scale if p.value > 0))
    ai = final_ai_labels(conn, project.name)
    ai = ai[ai["verdict"].notna()].reset_index(drop=True)
    sign = verdict_signs(ai["verdict"]).astype(int)
    is_judges = (ai["source"] == ai["judge"]).to_numpy()
    probs = np.array([p if own and p is not None else np.eye(3)[s + 1]
                      for p, own, s in zip(ai["probs"], is_judges, sign)], dtype=float).reshape(-1, 3)
    return pd.DataFrame({"item_id": ai["item_id"], "aspect": "overall", "judge_id": ai["judge_id"],
                         "judge": ai["source"], "judge_value": sign * weakest,
                         "p_a": probs[:, 0], "p_tie": probs[:, 1], "p_b": probs[:, 2]})


def _pairwise_verdicts(project: Project, judgments: pd.DataFrame) -> pd.DataFrame:
    """Combined verdicts (annotate.analysis.verdicts) per item, judge and aspect as signed values at the
    scale's weakest strength (a judge says which is better, not by how much)."""
    weakest = float(min(p.value for p in project.config.scale if p.value > 0))
    frames = []
    for aspect in project.config.aspect_names:
        verdicts = combined_verdicts(judgments, aspect)
        verdicts = verdicts[verdicts["verdict"].notna()].assign(aspect=aspect)
        verdicts["judge_value"] = verdict_signs(verdicts["verdict"]) * weakest
        frames.append(verdicts)
    return pd.concat(frames, ignore_index=True)


def _rubric_scores(judgments: pd.DataFrame) -> pd.DataFrame:
    """The mean parsed score per item, response, criterion and judge."""
    parsed = judgments[judgments["is_parsed"] & judgments["response_idx"].notna() & judgments["score"].notna()]
    out = parsed.groupby(["item_id", "response_idx", "aspect", "judge_id", "judge"], as_index=False)["score"].mean()
    return out.rename(columns={"score": "judge_value"})


def _resolve_judge(conn: Connection, project: Project, judge: str) -> int:
    found = export_store.judges_named(storage.cursor(conn), project.id, str(judge))
    if found.empty:
        raise NotFoundError(f"No judge '{judge}' with judgments in project '{project.name}'")
    if len(found) > 1:
        ids = ", ".join(f"{r.id} ({r.judgments} judgments)" for r in found.itertuples())
        raise AnnotateError(f"Several judges are called '{judge}' in project '{project.name}': ids {ids}; "
                            f"name one by its id")
    return int(found["id"].iloc[0])


def project_judges(conn: Connection, project: Project) -> list[str]:
    """Names of the judges with judgments in the project (the choices for a fallback judge)."""
    judges = judgment_store.list_judges(storage.cursor(conn), project.id)
    return sorted(judges["name"].unique().tolist())
