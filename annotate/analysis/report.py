"""The agreement report of a project: how far each AI judge can be trusted, next to how far the
humans agree with each other, with item-bootstrap intervals, on a slice, under a named tie policy.

Pairwise projects compare categories (A / tie / B: the sign of a label value, a judge's verdict
combined over both orders by annotate.analysis.verdicts.combined_verdicts; unparsed verdicts are missing):

- `judges`, the agreement table. For each judge: agreement (and Cohen's kappa) with the human
  majority of the item (strict majority of the current labels; items without one are left out
  and counted in the overview), and MT-Bench agreement with every individual human vote. The
  human ceiling row is computed the same way, leave-one-out: each human against the strict
  majority of the *other* humans of the item, and MT-Bench agreement over all pairs of distinct
  humans. Intervals: percentile bootstrap over items (clusters), seeded.
- `pairs`: every pair of raters (humans and judges), percent agreement and three kappas.
- `alpha` over humans on the full label scale (strength included), `fleiss`, bias, per-annotator
  quality and Bradley-Terry rankings (annotate.analysis.bias, annotate.analysis.quality, annotate.analysis.rankings).
Rubric projects are reported by annotate.analysis.report_rubric.
"""
from __future__ import annotations


import duckdb
import numpy as np
import pandas as pd

import storage
from storage import analysis as store
from annotate.analysis import agreement as ag, bias, quality, rankings
from annotate.errors import AnnotateError
from annotate.projects import Project, get_project
from annotate.analysis.report_rubric import build_rubric_report
from annotate.analysis.report_types import CEILING, HUMANS, AgreementReport, ReportFilters, wide_codes
from annotate.analysis.verdicts import combined_verdicts
from annotate.signs import VERDICTS

def build_report(conn: duckdb.DuckDBPyConnection, project_name: str,
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


def _pairwise_report(conn: duckdb.DuckDBPyConnection, project: Project, filters: ReportFilters) -> AgreementReport:
    cur = storage.cursor(conn)
    args = filters.slice_args()
    items = store.slice_items(cur, project.id, **args)["item_id"].to_numpy()
    labels = store.slice_labels(cur, project.id, filters.aspect, **args)
    labels = labels[labels["response_idx"].isna()]
    judgments = store.slice_judgments(cur, project.id, filters.aspect, **args)
    verdicts = combined_verdicts(judgments, filters.aspect)
    humans = wide_codes(items, labels["item_id"], labels["annotator"], np.sign(labels["value"].to_numpy()))
    judges = wide_codes(items, verdicts["item_id"], verdicts["judge"], bias.verdict_codes(verdicts["verdict"]))
    policy = filters.tie_policy
    table, confusion = agreement_table(humans.to_numpy(), judges, policy, filters.n_boot, filters.seed)
    kinds = {**{h: "human" for h in humans.columns}, **{j: "judge" for j in judges.columns}}
    counts = ag.category_counts(humans.to_numpy())
    values = wide_codes(items, labels["item_id"], labels["annotator"], labels["value"].to_numpy())
    domain = sorted(p.value for p in project.config.scale if policy == "with_ties" or p.value != 0)
    reliability = values.to_numpy().T if policy == "with_ties" else np.where(values.to_numpy().T == 0, np.nan,
                                                                             values.to_numpy().T)
    fleiss_counts = counts if policy == "with_ties" else counts[:, [0, 2]]
    lengths = store.response_lengths(cur, project.id)
    return AgreementReport(
        project=project.name, task_type=project.task_type, filters=filters,
        overview=_overview(items, humans, judges, counts, project),
        judges=table, confusion=confusion,
        pairs=ag.rater_pair_table(pd.concat([humans, judges], axis=1), policy, kinds),
        alpha=ag.alpha_table(reliability, domain), fleiss=ag.fleiss_kappa(fleiss_counts) | {"tie_policy": policy},
        human_agreement=ag.percent_agreement(humans.to_numpy(), policy),
        position=bias.position_consistency(judgments),
        length=bias.length_preference(_preferences(labels, verdicts), lengths),
        side=bias.side_bias(labels),
        annotators=quality.annotator_quality(humans, labels, store.annotator_event_counts(cur, project.id, **args),
                                             policy),
        **_rankings(labels, verdicts, lengths, filters))


def agreement_table(humans: np.ndarray, judges: pd.DataFrame, tie_policy: str, n_boot: int,
                    seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The judge-vs-human table with the human ceiling, and each judge's confusion with the majority.

    Args:
        humans: (n_items, n_humans) codes; judges: items x judges codes (same item order).

    Returns:
        (table, confusion). table columns: rater, kind, majority_n, majority_agreement,
        majority_agreement_lo/_hi, majority_kappa, majority_kappa_lo/_hi, pairwise_n,
        pairwise_agreement, pairwise_agreement_lo/_hi, tie_policy, n_boot, reason (why the
        comparison with the majority is empty or its kappa undefined). confusion: judge,
        judge_verdict, human_majority, count (all three categories, whatever the tie policy).
    """
    counts = ag.category_counts(humans)
    majority = ag.strict_majority(counts)
    names, majority_blocks, pair_blocks = [], [], []
    for judge in judges.columns:
        codes = judges[judge].to_numpy()
        names.append(judge)
        majority_blocks.append(ag.versus_blocks(codes, majority))
        pair_blocks.append(ag.versus_raters_blocks(codes, counts))
    loo, _ = ag.leave_one_out_blocks(humans)
    names.append(CEILING)
    majority_blocks.append(loo)
    pair_blocks.append(ag.within_raters_blocks(counts))
    k = len(names)
    per_item = np.concatenate([np.stack(majority_blocks, 1), np.stack(pair_blocks, 1)], axis=1)
    per_item = per_item.reshape(len(humans), 2 * k * 9)
    table = _table_from_sums(per_item.sum(axis=0)[None], names, tie_policy)
    if n_boot:
        samples = _table_from_sums(ag.bootstrap_sums(per_item, n_boot, seed), names, tie_policy, as_arrays=True)
        for column, values in samples.items():
            lo, hi = ag.percentile_interval(values)
            table[f"{column}_lo"], table[f"{column}_hi"] = lo, hi
    else:
        for column in ("majority_agreement", "majority_kappa", "pairwise_agreement"):
            table[f"{column}_lo"] = table[f"{column}_hi"] = np.nan
    table["kind"] = ["judge"] * (k - 1) + ["human"]
    table["tie_policy"], table["n_boot"] = tie_policy, n_boot
    confusion = _confusion_frame(names[:-1], np.stack(majority_blocks[:-1], 1).sum(axis=0) if k > 1 else None)
    columns = ["rater", "kind", "majority_n", "majority_agreement", "majority_agreement_lo", "majority_agreement_hi",
               "majority_kappa", "majority_kappa_lo", "majority_kappa_hi", "pairwise_n", "pairwise_agreement",
               "pairwise_agreement_lo", "pairwise_agreement_hi", "tie_policy", "n_boot", "reason"]
    return table[columns], confusion


def _table_from_sums(sums: np.ndarray, names: list[str], tie_policy: str, as_arrays: bool = False):
    """Agreement and kappa from summed blocks (rows: resamples; columns: 2 x k flattened blocks)."""
    k = len(names)
    blocks = sums.reshape(len(sums), 2, k, 3, 3)
    majority_agreement, majority_n = ag.percent_from_blocks(blocks[:, 0], tie_policy)
    pairwise_agreement, pairwise_n = ag.percent_from_blocks(blocks[:, 1], tie_policy)
    majority_kappa = ag.kappa_from_blocks(blocks[:, 0], tie_policy)
    if as_arrays:
        return {"majority_agreement": majority_agreement, "majority_kappa": majority_kappa,
                "pairwise_agreement": pairwise_agreement}
    return pd.DataFrame({"rater": names, "majority_n": majority_n[0].astype(int),
                         "majority_agreement": majority_agreement[0], "majority_kappa": majority_kappa[0],
                         "pairwise_n": np.rint(pairwise_n[0]).astype(int),
                         "pairwise_agreement": pairwise_agreement[0],
                         "reason": [ag.kappa_reason(block, tie_policy) for block in blocks[0, 0]]})


def _confusion_frame(judges: list[str], blocks: np.ndarray | None) -> pd.DataFrame:
    rows = [{"judge": judge, "judge_verdict": VERDICTS[a], "human_majority": VERDICTS[b], "count": int(blocks[j, a, b])}
            for j, judge in enumerate(judges) for a in range(3) for b in range(3)] if blocks is not None else []
    return pd.DataFrame(rows, columns=["judge", "judge_verdict", "human_majority", "count"])


def _overview(items: np.ndarray, humans: pd.DataFrame, judges: pd.DataFrame, counts: np.ndarray,
              project: Project) -> dict:
    n_humans = counts.sum(axis=1)
    return {"items": len(items), "human_labels": int(n_humans.sum()), "annotators": humans.shape[1],
            "items_labeled": int((n_humans > 0).sum()), "items_with_2_labels": int((n_humans >= 2).sum()),
            "items_at_overlap": int((n_humans >= project.config.overlap).sum()), "overlap": project.config.overlap,
            "items_without_majority": int(((n_humans > 0) & np.isnan(ag.strict_majority(counts))).sum()),
            "judges": judges.shape[1],
            "judge_verdicts": {j: int(judges[j].notna().sum()) for j in judges.columns}}


def _preferences(labels: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Long rows (rater, kind, item_id, code) for the length-bias table; humans pooled as one rater."""
    human = pd.DataFrame({"rater": HUMANS, "kind": "human", "item_id": labels["item_id"].to_numpy(),
                          "code": np.sign(labels["value"].to_numpy())})
    judged = verdicts[verdicts["verdict"].notna()]
    judge = pd.DataFrame({"rater": judged["judge"].to_numpy(), "kind": "judge", "item_id": judged["item_id"].to_numpy(),
                          "code": bias.verdict_codes(judged["verdict"])})
    return pd.concat([human, judge], ignore_index=True)


def _rankings(labels: pd.DataFrame, verdicts: pd.DataFrame, lengths: pd.DataFrame,
              filters: ReportFilters) -> dict[str, pd.DataFrame]:
    """Bradley-Terry ratings, Kendall tau against the humans and win rates for humans and judges."""
    models = lengths.pivot_table(index="item_id", columns="idx", values="model", aggfunc="first")
    if not {0, 1} <= set(models.columns):
        empty = pd.DataFrame(columns=rankings.RATING_COLUMNS)
        return {"ratings": empty, "ranking_tau": rankings.ranking_agreement(empty), "win_rates": pd.DataFrame()}
    models = models[[0, 1]].rename(columns={0: "model_a", 1: "model_b"})
    prefs = _preferences(labels, verdicts).merge(models, left_on="item_id", right_index=True)
    ratings, rates = [], []
    for source, games in prefs.groupby("rater", sort=False):
        ratings.append(rankings.rate_models(games, source, filters.n_boot, filters.seed))
        rates.append(rankings.win_rates(games, source))
    ratings = pd.concat(ratings, ignore_index=True) if ratings else pd.DataFrame(columns=rankings.RATING_COLUMNS)
    return {"ratings": ratings, "ranking_tau": rankings.ranking_agreement(ratings, HUMANS),
            "win_rates": pd.concat(rates, ignore_index=True) if rates else pd.DataFrame()}


def format_report(report: AgreementReport) -> str:
    """A plain-text summary for the terminal: overview, the agreement table, rater pairs, alpha."""
    pd_options = {"display.width": 200, "display.max_columns": 30, "display.float_format": "{:.3f}".format}
    with pd.option_context(*[x for kv in pd_options.items() for x in kv]):
        parts = [f"Project '{report.project}' ({report.task_type}), aspect '{report.filters.aspect}', "
                 f"tie policy {report.filters.tie_policy}",
                 ", ".join(f"{k}: {v}" for k, v in report.overview.items()),
                 "Judges vs humans:", report.judges.to_string(index=False),
                 "Rater pairs:", report.pairs.to_string(index=False),
                 "Krippendorff's alpha over humans:", report.alpha.to_string(index=False)]
    return "\n\n".join(parts)


def slice_options(conn: duckdb.DuckDBPyConnection, project_name: str) -> dict:
    """What the report can be filtered on: {'aspects': [...], 'metadata': DataFrame(key, value,
    items), 'calibration_items': int} (for the analysis page's pickers)."""
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    return {"aspects": project.config.aspect_names, "metadata": store.metadata_values(cur, project.id),
            "calibration_items": store.calibration_item_count(cur, project.id)}
