"""The agreement report of a project: how far each AI judge can be trusted, next to how far the
humans agree with each other, with item-bootstrap intervals, on a slice, under a named tie policy
and the project's split policy.

Every comparison with "the human label" uses the item's reference label from
annotate.analysis.reference (the strict majority of the human votes; an even split becomes a
tie, is dropped or goes to the sign of the mean, per the project's `split_policy`; an
adjudicated label is the reference; gold raters and adjudicators are never human raters).

Pairwise projects compare categories (A / tie / B: the sign of a label value, a judge's verdict
combined over both orders by annotate.analysis.verdicts.combined_verdicts):

- `judges`, the agreement table. For each judge: agreement (and Cohen's kappa) with the reference
  of the item, over all items with a reference (an unparsed or missing verdict counts as wrong;
  the default) and over parsed verdicts only, with the coverage; MT-Bench agreement with every
  individual human vote. The human ceiling row: each human against the leave-one-out reference of
  the *other* humans, and MT-Bench agreement over all pairs of distinct humans. Without human
  votes but with a gold rater, judges are compared with gold (column `reference`).
- `definitions`: every published definition of a judge's two orders side by side, each with its
  source, n, coverage and intervals, the like-for-like ceiling, and accuracy against gold
  (annotate.analysis.definitions); `coverage`: what each judge returned per order; `gold`.
- `pairs`: every pair of raters (humans, gold and judges), percent agreement and three kappas.
- `alpha` over humans on the full label scale (strength included), `fleiss`, bias, per-annotator
  quality and Bradley-Terry rankings (annotate.analysis.bias, annotate.analysis.quality, annotate.analysis.rankings).
Intervals: percentile bootstrap over items (clusters), seeded. Rubric projects are reported by
annotate.analysis.report_rubric. `build_report_by` slices by a metadata key.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

import storage
from storage import analysis as store
from storage.db import Connection
from annotate.analysis import agreement as ag, bias, definitions as defs, quality, rankings
from annotate.analysis.reference import (DEFAULT_SPLIT_POLICY, describe_policy, is_split, label_roles,
                                         reference_from_counts, reference_labels)
from annotate.errors import AnnotateError
from annotate.projects import Project, get_project
from annotate.analysis.report_rubric import build_rubric_report
from annotate.analysis.report_types import (CEILING, HUMANS, MAX_SLICES, OVERALL, AgreementReport, ReportFilters,
                                            SlicedReport, wide_codes)
from annotate.analysis.verdicts import combined_verdicts, coverage_table
from annotate.signs import VERDICTS
from annotate.study import quality as study_quality
from annotate.study.exclusion import read_exclusion

def build_report(conn: Connection, project_name: str,
                 filters: ReportFilters = ReportFilters()) -> AgreementReport:
    """Build the agreement report of a project from the store.

    Raises:
        NotFoundError: no such project. AnnotateError: unknown aspect, tie policy or n_boot < 0.
    """
    project = get_project(conn, project_name)
    ag.check_tie_policy(filters.tie_policy)
    if filters.aspect not in project.config.aspect_names:
        raise AnnotateError(f"Project '{project_name}' has no aspect or criterion '{filters.aspect}' "
                            f"(it has: {', '.join(project.config.aspect_names)})")
    if filters.n_boot < 0:
        raise AnnotateError(f"--bootstrap must be 0 or more, not {filters.n_boot}")
    if project.task_type == "rubric":
        return build_rubric_report(conn, project, filters)
    return _pairwise_report(conn, project, filters)


def build_report_by(conn: Connection, project_name: str, key: str,
                    filters: ReportFilters = ReportFilters()) -> SlicedReport:
    """The report overall and for every value of the metadata `key` (within `filters`' slice).

    Raises:
        AnnotateError: no item of the slice has the key, or it has more than MAX_SLICES values.
    """
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    in_slice = store.slice_items(cur, project.id, **filters.slice_args())["item_id"]
    values = store.item_metadata_values(cur, project.id, key)
    values = values[values["item_id"].isin(in_slice)]
    present = sorted(values["value"].dropna().unique().tolist())
    if not present:
        raise AnnotateError(f"--by {key}: no item of project '{project_name}' has metadata '{key}'"
                            + (" in this slice" if filters.metadata_pairs or filters.calibration_only else ""))
    if len(present) > MAX_SLICES:
        raise AnnotateError(f"--by {key}: {len(present)} distinct values (at most {MAX_SLICES}); "
                            f"filter with --metadata first")
    reports = {OVERALL: build_report(conn, project_name, filters)}
    for value in present:
        sliced = replace(filters, metadata=filters.metadata_pairs + ((key, value),))
        reports[f"{key}={value}"] = build_report(conn, project_name, sliced)
    return SlicedReport(by=key, reports=reports, items_without_key=int(values["value"].isna().sum()))


def _pairwise_report(conn: Connection, project: Project, filters: ReportFilters) -> AgreementReport:
    cur = storage.cursor(conn)
    args = filters.slice_args()
    split_policy = project.config.split_policy
    items = store.slice_items(cur, project.id, **args)["item_id"].to_numpy()
    all_labels = store.slice_labels(cur, project.id, filters.aspect, **args)
    participants = study_quality.quality_from_labels(conn, project, all_labels, filters.tie_policy)
    exclusion = read_exclusion(conn, project, filters.include_excluded)
    all_labels, excluded = exclusion.apply(all_labels)
    labels, adjudicated, gold = label_roles(all_labels[all_labels["response_idx"].isna()])
    judgments = store.slice_judgments(cur, project.id, filters.aspect, **args)
    verdicts = combined_verdicts(judgments, filters.aspect)
    humans = wide_codes(items, labels["item_id"], labels["annotator"], np.sign(labels["value"].to_numpy()))
    values = wide_codes(items, labels["item_id"], labels["annotator"], labels["value"].to_numpy())
    judges = wide_codes(items, verdicts["item_id"], verdicts["judge"], bias.verdict_codes(verdicts["verdict"]))
    golds = wide_codes(items, gold["item_id"], gold["annotator"], np.sign(gold["value"].to_numpy()))
    human_ref = reference_labels(pd.concat([labels, adjudicated]), split_policy).reindex(items).to_numpy()
    reference_name, table_ref = "humans", human_ref
    if np.isnan(human_ref).all() and golds.shape[1]:  # a benchmark with an answer key and no human votes
        reference_name, table_ref = f"gold: {golds.columns[0]}", golds.iloc[:, 0].to_numpy()
    policy = filters.tie_policy
    table, confusion = agreement_table(humans.to_numpy(), judges, policy, filters.n_boot, filters.seed,
                                       reference=table_ref, split_policy=split_policy, values=values.to_numpy())
    table.insert(2, "reference", np.where(table["rater"] == CEILING, "humans (leave-one-out)", reference_name))
    orders = defs.order_codes(judgments, items, list(judges.columns))
    definitions = defs.pairwise_definitions(humans, values, judges, golds, human_ref, orders, split_policy,
                                            policy, filters.n_boot, filters.seed)
    kinds = {**{h: "human" for h in humans.columns}, **{j: "judge" for j in judges.columns},
             **{g: "gold" for g in golds.columns}}
    counts = ag.category_counts(humans.to_numpy())
    domain = sorted(p.value for p in project.config.scale if policy == "with_ties" or p.value != 0)
    reliability = values.to_numpy().T if policy == "with_ties" else np.where(values.to_numpy().T == 0, np.nan,
                                                                             values.to_numpy().T)
    fleiss_counts = counts if policy == "with_ties" else counts[:, [0, 2]]
    lengths = store.response_lengths(cur, project.id)
    events = exclusion.keep_people(store.annotator_event_counts(cur, project.id, **args))
    prefs = _preferences(labels, verdicts)
    return AgreementReport(
        project=project.name, task_type=project.task_type, filters=filters,
        overview=_overview(items, humans, judges, counts, project, human_ref, adjudicated, golds),
        judges=table, confusion=confusion,
        pairs=ag.rater_pair_table(pd.concat([humans, golds, judges], axis=1), policy, kinds),
        alpha=ag.alpha_table(reliability, domain), fleiss=ag.fleiss_kappa(fleiss_counts) | {"tie_policy": policy},
        human_agreement=_human_agreement(humans, golds, policy),
        position=bias.position_consistency(judgments, orders),
        length=bias.length_preference(prefs, lengths),
        side=bias.side_bias(labels),
        annotators=quality.annotator_quality(humans, labels, events[~events["annotator"].isin(golds.columns)],
                                             policy, split_policy, values),
        definitions=definitions, coverage=coverage_table(judgments[judgments["response_idx"].isna()]),
        gold=definitions[definitions["reference"].str.startswith("gold: ") & (definitions["measure"] == "accuracy")
                         ].reset_index(drop=True),
        reference=_reference_summary(project, human_ref, humans, adjudicated, golds),
        participant_quality=participants, exclusion=excluded, **_rankings(prefs, lengths, filters))


def _human_agreement(humans: pd.DataFrame, golds: pd.DataFrame, tie_policy: str) -> dict:
    """MT-Bench agreement among humans; with only a gold answer key, says where to look instead."""
    out = ag.percent_agreement(humans.to_numpy(), tie_policy)
    if humans.shape[1] < 2 and golds.shape[1]:
        out["reason"] = ("fewer than two human raters; a gold reference is not a human rater: see each "
                         "rater's accuracy against gold (the `gold` table)")
    return out


def _reference_summary(project: Project, human_ref: np.ndarray, humans: pd.DataFrame, adjudicated: pd.DataFrame,
                       golds: pd.DataFrame) -> dict:
    """How the reference label was made (stated in every report)."""
    counts = ag.category_counts(humans.to_numpy())
    policy = project.config.split_policy
    return {"split_policy": policy, "statement": describe_policy(policy),
            "rubric_reference": project.config.rubric_reference,
            "items_with_reference": int((~np.isnan(human_ref)).sum()),
            "items_split": int(is_split(counts).sum()),
            "items_adjudicated": int(adjudicated["item_id"].nunique()), "adjudications": len(adjudicated),
            "adjudicators": sorted(adjudicated["annotator"].unique().tolist()),
            "gold_raters": list(golds.columns), "items_with_gold": int(golds.notna().any(axis=1).sum())}


def agreement_table(humans: np.ndarray, judges: pd.DataFrame, tie_policy: str, n_boot: int, seed: int, *,
                    reference: np.ndarray | None = None, split_policy: str = DEFAULT_SPLIT_POLICY,
                    values: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The judge-vs-human table with the human ceiling, and each judge's confusion with the reference.

    Args:
        humans: (n_items, n_humans) codes; judges: items x judges codes (same item order).
        reference: the reference code per item (annotate.analysis.reference); by default the
            humans' reference under `split_policy`. values: the humans' signed values (mean-sign).

    Returns:
        (table, confusion). table columns: rater, kind, majority_n, majority_agreement,
        majority_agreement_lo/_hi - over all items with a reference, an unparsed or missing verdict
        counting as wrong (the default, as in the papers) -; majority_n_parsed,
        majority_agreement_parsed, majority_agreement_parsed_lo/_hi - over items with a parsed
        verdict only -; coverage (= majority_n_parsed / majority_n); majority_kappa, _lo/_hi (parsed
        items); pairwise_n, pairwise_agreement, _lo/_hi (MT-Bench, every human vote, parsed
        verdicts); tie_policy, split_policy, n_boot, reason. The ceiling row compares each human
        with the leave-one-out reference of the others (same split policy). Under without_ties an
        item whose reference is a tie, and a verdict of tie, leave the comparison. confusion: judge,
        judge_verdict, human_majority (the reference), count.
    """
    counts = ag.category_counts(humans)
    if reference is None:
        sums = np.nansum(values, axis=1) if values is not None and values.size else None
        reference = reference_from_counts(counts, split_policy, sums)
    has_ref = ~np.isnan(reference) & ((reference != 0) | (tie_policy == "with_ties"))
    names, majority_blocks, pair_blocks, missing = [], [], [], []
    for judge in judges.columns:
        codes = judges[judge].to_numpy()
        names.append(judge)
        majority_blocks.append(ag.versus_blocks(codes, reference))
        pair_blocks.append(ag.versus_raters_blocks(codes, counts))
        missing.append((has_ref & np.isnan(codes)).astype(float))
    loo, _ = ag.leave_one_out_blocks(humans, split_policy, values)
    names.append(CEILING)
    majority_blocks.append(loo)
    pair_blocks.append(ag.within_raters_blocks(counts))
    missing.append(np.zeros(len(humans)))
    k = len(names)
    per_item = np.concatenate([np.stack(majority_blocks, 1).reshape(len(humans), k * 9),
                               np.stack(pair_blocks, 1).reshape(len(humans), k * 9), np.stack(missing, 1)], axis=1)
    table = _table_from_sums(per_item.sum(axis=0)[None], names, tie_policy)
    intervals = ("majority_agreement", "majority_agreement_parsed", "majority_kappa", "pairwise_agreement")
    if n_boot:
        samples = _table_from_sums(ag.bootstrap_sums(per_item, n_boot, seed), names, tie_policy, as_arrays=True)
        for column in intervals:
            lo, hi = ag.percentile_interval(samples[column])
            table[f"{column}_lo"], table[f"{column}_hi"] = lo, hi
    else:
        for column in intervals:
            table[f"{column}_lo"] = table[f"{column}_hi"] = np.nan
    table["kind"] = ["judge"] * (k - 1) + ["human"]
    table["tie_policy"], table["split_policy"], table["n_boot"] = tie_policy, split_policy, n_boot
    confusion = _confusion_frame(names[:-1], np.stack(majority_blocks[:-1], 1).sum(axis=0) if k > 1 else None)
    columns = ["rater", "kind", "majority_n", "majority_agreement", "majority_agreement_lo", "majority_agreement_hi",
               "majority_n_parsed", "majority_agreement_parsed", "majority_agreement_parsed_lo",
               "majority_agreement_parsed_hi", "coverage", "majority_kappa", "majority_kappa_lo", "majority_kappa_hi",
               "pairwise_n", "pairwise_agreement", "pairwise_agreement_lo", "pairwise_agreement_hi", "tie_policy",
               "split_policy", "n_boot", "reason"]
    return table[columns], confusion


def _table_from_sums(sums: np.ndarray, names: list[str], tie_policy: str, as_arrays: bool = False):
    """Agreement and kappa from summed blocks (rows: resamples; columns: 2 x k flattened blocks,
    then k counts of items with a reference but no verdict)."""
    k = len(names)
    blocks = sums[:, :18 * k].reshape(len(sums), 2, k, 3, 3)
    missing = sums[:, 18 * k:]
    parsed_agreement, parsed_n = ag.percent_from_blocks(blocks[:, 0], tie_policy)
    all_n = parsed_n + missing
    with np.errstate(invalid="ignore", divide="ignore"):
        all_agreement = np.where(all_n > 0, parsed_agreement * parsed_n / np.where(all_n > 0, all_n, 1), np.nan)
    all_agreement = np.where(parsed_n > 0, all_agreement, np.where(all_n > 0, 0.0, np.nan))
    pairwise_agreement, pairwise_n = ag.percent_from_blocks(blocks[:, 1], tie_policy)
    majority_kappa = ag.kappa_from_blocks(blocks[:, 0], tie_policy)
    if as_arrays:
        return {"majority_agreement": all_agreement, "majority_agreement_parsed": parsed_agreement,
                "majority_kappa": majority_kappa, "pairwise_agreement": pairwise_agreement}
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.where(all_n[0] > 0, parsed_n[0] / np.where(all_n[0] > 0, all_n[0], 1), np.nan)
    return pd.DataFrame({"rater": names, "majority_n": np.rint(all_n[0]).astype(int),
                         "majority_agreement": all_agreement[0], "majority_n_parsed": parsed_n[0].astype(int),
                         "majority_agreement_parsed": parsed_agreement[0], "coverage": coverage,
                         "majority_kappa": majority_kappa[0], "pairwise_n": np.rint(pairwise_n[0]).astype(int),
                         "pairwise_agreement": pairwise_agreement[0],
                         "reason": [ag.kappa_reason(block, tie_policy) for block in blocks[0, 0]]})


def _confusion_frame(judges: list[str], blocks: np.ndarray | None) -> pd.DataFrame:
    rows = [{"judge": judge, "judge_verdict": VERDICTS[a], "human_majority": VERDICTS[b], "count": int(blocks[j, a, b])}
            for j, judge in enumerate(judges) for a in range(3) for b in range(3)] if blocks is not None else []
    return pd.DataFrame(rows, columns=["judge", "judge_verdict", "human_majority", "count"])


def _overview(items: np.ndarray, humans: pd.DataFrame, judges: pd.DataFrame, counts: np.ndarray,
              project: Project, reference: np.ndarray, adjudicated: pd.DataFrame, golds: pd.DataFrame) -> dict:
    n_humans = counts.sum(axis=1)
    return {"items": len(items), "human_labels": int(n_humans.sum()), "annotators": humans.shape[1],
            "items_labeled": int((n_humans > 0).sum()), "items_with_2_labels": int((n_humans >= 2).sum()),
            "items_at_overlap": int((n_humans >= project.config.overlap).sum()), "overlap": project.config.overlap,
            "items_without_majority": int(is_split(counts).sum()),
            "split_policy": project.config.split_policy,
            "items_with_reference": int((~np.isnan(reference)).sum()),
            "items_adjudicated": int(adjudicated["item_id"].nunique()),
            "gold_raters": golds.shape[1], "items_with_gold": int(golds.notna().any(axis=1).sum()),
            "judges": judges.shape[1],
            "judge_verdicts": {j: int(judges[j].notna().sum()) for j in judges.columns}}


def _preferences(labels: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Long rows (rater, kind, item_id, code) for the length-bias table; humans pooled as one rater."""
    judged = verdicts[verdicts["verdict"].notna()]
    raters = np.concatenate([np.full(len(labels), HUMANS, dtype=object), judged["judge"].to_numpy(dtype=object)])
    return pd.DataFrame({"rater": pd.Categorical(raters),
                         "kind": pd.Categorical(np.repeat(["human", "judge"], [len(labels), len(judged)])),
                         "item_id": np.concatenate([labels["item_id"].to_numpy(), judged["item_id"].to_numpy()]),
                         "code": np.concatenate([np.sign(labels["value"].to_numpy(dtype=float)),
                                                 bias.verdict_codes(judged["verdict"])])})


def _rankings(prefs: pd.DataFrame, lengths: pd.DataFrame, filters: ReportFilters) -> dict[str, pd.DataFrame]:
    """Bradley-Terry ratings, Kendall tau against the humans and win rates for humans and judges."""
    models = lengths.pivot_table(index="item_id", columns="idx", values="model", aggfunc="first")
    if not {0, 1} <= set(models.columns):
        empty = pd.DataFrame(columns=rankings.RATING_COLUMNS)
        return {"ratings": empty, "ranking_tau": rankings.ranking_agreement(empty), "win_rates": pd.DataFrame()}
    names = pd.CategoricalDtype(sorted(set(models[0].dropna()) | set(models[1].dropna())))
    models = models[[0, 1]].astype(names).rename(columns={0: "model_a", 1: "model_b"})  # categories: fast lookups
    position = models.index.get_indexer(prefs["item_id"].to_numpy())
    keep = position >= 0
    prefs = prefs[keep].assign(model_a=models["model_a"].array.take(position[keep]),
                               model_b=models["model_b"].array.take(position[keep]))
    ratings, rates = [], []
    for source, games in prefs.groupby("rater", sort=False, observed=True):
        ratings.append(rankings.rate_models(games, source, filters.n_boot, filters.seed))
        rates.append(rankings.win_rates(games, source))
    ratings = pd.concat(ratings, ignore_index=True) if ratings else pd.DataFrame(columns=rankings.RATING_COLUMNS)
    return {"ratings": ratings, "ranking_tau": rankings.ranking_agreement(ratings, HUMANS),
            "win_rates": pd.concat(rates, ignore_index=True) if rates else pd.DataFrame()}


def format_report(report: AgreementReport) -> str:
    """A plain-text summary for the terminal: how the reference was made, overview, the agreement
    table, every definition, coverage, rater pairs, alpha."""
    pd_options = {"display.width": 250, "display.max_columns": 40, "display.max_rows": 500,
                  "display.float_format": "{:.3f}".format}
    definitions = report.definitions.drop(columns=["definition", "source"], errors="ignore")
    sources = report.definitions[["measure", "source"]].drop_duplicates() if len(report.definitions) else None
    with pd.option_context(*[x for kv in pd_options.items() for x in kv]):
        parts = [f"Project '{report.project}' ({report.task_type}), aspect '{report.filters.aspect}', "
                 f"tie policy {report.filters.tie_policy}; reference: {report.reference.get('statement', '')}"
                 + (f"\nParticipants: {report.exclusion['statement']}" if report.exclusion.get("statement") else ""),
                 ", ".join(f"{k}: {v}" for k, v in report.overview.items()),
                 "Judges vs humans (majority_*: over all items, unparsed = wrong; *_parsed: parsed items only):"
                 if report.task_type == "pairwise" else "Judges vs the human reference, with the human ceiling:",
                 report.judges.to_string(index=False),
                 "Every definition ('all items': unparsed counts as wrong; 'parsed items': parsed only):",
                 definitions.to_string(index=False) if len(definitions) else "(none)"]
        if sources is not None:
            parts += ["Sources:", sources.to_string(index=False)]
        parts += ["Coverage (what each judge returned):", report.coverage.to_string(index=False)
                  if len(report.coverage) else "(no judgments)",
                  "Rater pairs:", report.pairs.to_string(index=False),
                  "Krippendorff's alpha over humans:", report.alpha.to_string(index=False)]
        if len(report.participant_quality):
            parts += ["Per-participant quality (annotate/study/quality.py; excluded participants included):",
                      report.participant_quality.to_string(index=False)]
    return "\n\n".join(parts)


def format_sliced_report(sliced: SlicedReport) -> str:
    """`agreement --by KEY` for the terminal: one table, every number of every slice."""
    table = sliced.table().drop(columns=["definition", "source", "by"], errors="ignore")
    first = next(iter(sliced.reports.values()))
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 5000,
                           "display.float_format", "{:.3f}".format):
        return "\n\n".join([f"Project '{first.project}' by metadata '{sliced.by}' ({len(sliced.reports) - 1} "
                             f"values; {sliced.items_without_key} items lack the key); reference: "
                             f"{first.reference.get('statement', '')}", table.to_string(index=False)])


def slice_options(conn: Connection, project_name: str) -> dict:
    """What the report can be filtered on: {'aspects': [...], 'metadata': DataFrame(key, value,
    items), 'calibration_items': int} (for the analysis page's pickers)."""
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    return {"aspects": project.config.aspect_names, "metadata": store.metadata_values(cur, project.id),
            "calibration_items": store.calibration_item_count(cur, project.id)}
