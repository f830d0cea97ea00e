"""Rubric (graded) scores: each judge against the human reference, under every common statistic,
with item-bootstrap intervals, and model rankings by mean score.

A unit is one (item, response) scored on one criterion. The human reference of a unit is the mean
or median of its human scores (the project's `rubric_reference`, annotate.analysis.reference);
an adjudicated score replaces it; a single rater's score is its own reference (graded
single-rater references work). Judge scores off the criterion's scale are never scores: they are
counted in the report's `coverage` table and, over 'all items', count as wrong.

Every statistic is computed from the joint table N[x, y] of (judge score, reference score) counts
over units, which is additive over items, so one multinomial/cluster bootstrap of items
(annotate.analysis.agreement.bootstrap_sums) gives every interval:

- exact agreement: round(reference) == round(judge) (halves round up); also over 'all items'.
- Cohen's kappa, unweighted / linear / quadratic, on the rounded scores over the scale's points
  (Cohen 1960, doi:10.1177/001316446002000104; Cohen 1968, doi:10.1037/h0026256).
- Krippendorff's alpha with the judge and the reference as two coders: ordinal on the rounded
  scores (the coincidence matrix with the ordinal metric over the scale's points) and interval on
  the unrounded scores, alpha = 1 - (n - 1) sum o_ck d2_ck / sum n_c n_k d2_ck (Krippendorff 2011,
  "Computing Krippendorff's Alpha-Reliability"; equal to the `krippendorff` package).
- Pearson r; Spearman rho (Pearson of mid-ranks); Kendall tau-b = (C - D) / sqrt((n0 - n1)(n0 -
  n2)) from concordant and discordant pairs of the joint table (as scipy.stats.kendalltau).
- System level (Prometheus, Kim et al. 2023, arXiv 2310.08491): the same three correlations of the
  per-model mean judge score and mean reference score, over units both scored.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from annotate.analysis import agreement as ag
from annotate.analysis.definitions import ALL, COLUMNS as DEF_COLUMNS, PARSED

COHEN = "Cohen 1960 / 1968 (doi:10.1177/001316446002000104, doi:10.1037/h0026256)"
KRIPP = "Krippendorff 2011 (repository.upenn.edu/asc_papers/43)"
PROMETHEUS = "Prometheus (Kim et al. 2023, arXiv 2310.08491)"
MEASURES = {
    "exact_agreement": ("rounded judge score equals the rounded reference score", "percent agreement"),
    "kappa_unweighted": ("Cohen's kappa on the scale's points", COHEN),
    "kappa_linear": ("Cohen's kappa, linear weights", COHEN),
    "kappa_quadratic": ("Cohen's kappa, quadratic weights", COHEN),
    "alpha_ordinal": ("Krippendorff's alpha, judge and reference as two coders, ordinal", KRIPP),
    "alpha_interval": ("Krippendorff's alpha, judge and reference as two coders, interval", KRIPP),
    "pearson": ("Pearson correlation of judge and reference scores", f"{PROMETHEUS} (item and system level)"),
    "spearman": ("Spearman correlation of judge and reference scores", f"{PROMETHEUS} (item and system level)"),
    "kendall": ("Kendall tau-b of judge and reference scores", f"{PROMETHEUS} (item and system level)"),
}
COLUMNS = DEF_COLUMNS[:4] + ["level"] + DEF_COLUMNS[4:]
CORRELATIONS = ("pearson", "spearman", "kendall")


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=float) + 0.5)


def joint_stats(n: np.ndarray, xs: np.ndarray, ys: np.ndarray, domain: list[int]) -> dict[str, np.ndarray]:
    """Every statistic of batched joint count tables n (B, |xs|, |ys|) of (judge, reference) scores."""
    n = np.asarray(n, dtype=float)
    total = n.sum(axis=(1, 2))
    out = {}
    # categorical statistics on the rounded scores over the scale's points
    k = len(domain)
    to_cat = lambda v: np.eye(k)[np.clip(_round(v) - domain[0], 0, k - 1).astype(int)]  # noqa: E731
    conf = np.einsum("xi,bxy,yj->bij", to_cat(xs), n, to_cat(ys))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["exact_agreement"] = np.trace(conf, axis1=1, axis2=2) / np.where(total > 0, total, np.nan)
    for weights in ("unweighted", "linear", "quadratic"):
        out[f"kappa_{weights}"] = ag.kappa_from_blocks(conf, "with_ties", weights)
    out["alpha_ordinal"] = _alpha_ordinal(conf)
    out["alpha_interval"] = _alpha_interval(n, xs, ys)
    out |= _correlations(n, xs, ys)
    return out


def _alpha_ordinal(conf: np.ndarray) -> np.ndarray:
    coincidence = conf + np.swapaxes(conf, 1, 2)
    marg = coincidence.sum(axis=2)
    values = marg.sum(axis=1)
    cum = np.cumsum(marg, axis=1)
    k = marg.shape[1]
    i, j = np.triu_indices(k)
    d2 = np.zeros(conf.shape)
    between = cum[:, j] - np.where(i > 0, cum[:, np.maximum(i - 1, 0)], 0) - (marg[:, i] + marg[:, j]) / 2
    d2[:, i, j] = between ** 2
    d2[:, j, i] = between ** 2
    observed = (coincidence * d2).sum(axis=(1, 2))
    expected = (marg[:, :, None] * marg[:, None, :] * d2).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, 1 - (values - 1) * observed / np.where(expected > 0, expected, 1), np.nan)


def _alpha_interval(n: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    units = n.sum(axis=(1, 2))
    values = 2 * units
    observed = 2 * np.einsum("bxy,xy->b", n, (xs[:, None] - ys[None, :]) ** 2)
    s1 = n.sum(axis=2) @ xs + n.sum(axis=1) @ ys
    s2 = n.sum(axis=2) @ xs ** 2 + n.sum(axis=1) @ ys ** 2
    expected = 2 * values * s2 - 2 * s1 ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 1e-12, 1 - (values - 1) * observed / np.where(expected > 1e-12, expected, 1), np.nan)


def _pearson(n: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Weighted Pearson r with per-batch value vectors xs (B, X) and ys (B, Y)."""
    total = n.sum(axis=(1, 2))
    rx, ry = n.sum(axis=2), n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = (rx * xs).sum(1) / total, (ry * ys).sum(1) / total
        cov = np.einsum("bxy,bx,by->b", n, xs - mx[:, None], ys - my[:, None])
        vx, vy = (rx * (xs - mx[:, None]) ** 2).sum(1), (ry * (ys - my[:, None]) ** 2).sum(1)
        return np.where((vx > 1e-12) & (vy > 1e-12) & (total >= 3), cov / np.sqrt(vx * vy), np.nan)


def _correlations(n: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
    b = len(n)
    rx, ry = n.sum(axis=2), n.sum(axis=1)
    out = {"pearson": _pearson(n, np.broadcast_to(xs, (b, len(xs))), np.broadcast_to(ys, (b, len(ys))))}
    rank_x = np.cumsum(rx, axis=1) - (rx - 1) / 2  # mid-ranks of each distinct value
    rank_y = np.cumsum(ry, axis=1) - (ry - 1) / 2
    out["spearman"] = _pearson(n, rank_x, rank_y)
    # Kendall tau-b: C = sum n_ij * (pairs strictly above-right), D = sum n_ij * (strictly above-left)
    upper_right = np.flip(np.cumsum(np.cumsum(np.flip(n, (1, 2)), 1), 2), (1, 2))
    ur = np.zeros_like(n)
    ur[:, :-1, :-1] = upper_right[:, 1:, 1:]
    upper_left = np.flip(np.cumsum(np.cumsum(np.flip(n, 1), 1), 2), 1)
    ul = np.zeros_like(n)
    ul[:, :-1, 1:] = upper_left[:, 1:, :-1]
    concordant, discordant = (n * ur).sum(axis=(1, 2)), (n * ul).sum(axis=(1, 2))
    total = n.sum(axis=(1, 2))
    n0 = total * (total - 1) / 2
    n1, n2 = (rx * (rx - 1) / 2).sum(1), (ry * (ry - 1) / 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = np.sqrt((n0 - n1) * (n0 - n2))
        out["kendall"] = np.where((denominator > 0) & (total >= 3), (concordant - discordant) / denominator, np.nan)
    return out


def rater_rows(reference: str, rater: str, kind: str, x: np.ndarray, ref: np.ndarray, unit_items: np.ndarray,
               unit_models: np.ndarray, domain: list[int], n_boot: int, seed: int) -> list[dict]:
    """Every statistic of one rater's scores x against the reference scores (per unit; NaN missing)."""
    items, unit_item = np.unique(unit_items, return_inverse=True)
    universe = ~np.isnan(ref)
    both = universe & ~np.isnan(x)
    xs, ys = np.unique(x[both]), np.unique(ref[both])
    cells = np.zeros((len(items), max(len(xs), 1) * max(len(ys), 1)))
    if both.any():
        cell = np.searchsorted(xs, x[both]) * len(ys) + np.searchsorted(ys, ref[both])
        np.add.at(cells, (unit_item[both], cell), 1.0)
    models, unit_model = np.unique(np.asarray(unit_models, dtype=object).astype(str), return_inverse=True)
    system = np.zeros((len(items), 3 * len(models)))
    for column, weights in enumerate((both.astype(float), np.where(both, x, 0.0), np.where(both, ref, 0.0))):
        np.add.at(system, (unit_item, column * len(models) + unit_model), weights)
    counts = np.stack([np.bincount(unit_item, weights=w, minlength=len(items))
                       for w in (universe.astype(float), both.astype(float))], axis=1)
    per_item = np.concatenate([cells, system, counts], axis=1)
    sums = per_item.sum(axis=0)[None]
    boots = ag.bootstrap_sums(per_item, n_boot, seed) if n_boot else None
    values = _all_stats(sums, len(cells[0]), len(models), xs, ys, domain)
    samples = _all_stats(boots, len(cells[0]), len(models), xs, ys, domain) if boots is not None else None
    n_total, n_parsed = int(universe.sum()), int(both.sum())
    rows = []
    for (level, measure, over), value in values.items():
        lo = hi = np.nan
        if samples is not None:
            lo_arr, hi_arr = ag.percentile_interval(samples[(level, measure, over)][:, None])
            lo, hi = float(lo_arr[0]), float(hi_arr[0])
        definition, source = MEASURES[measure]
        n = n_total if over == ALL else (n_parsed if level == "item" else int((sums[0, len(cells[0]):][:len(models)] > 0).sum()))
        reason = None if not np.isnan(value[0]) else _reason(n, level)
        rows.append({"reference": reference, "rater": rater, "kind": kind, "measure": measure, "level": level,
                     "over": over, "value": float(value[0]), "lo": lo, "hi": hi, "n": n, "n_total": n_total,
                     "n_parsed": n_parsed, "coverage": n_parsed / n_total if n_total else np.nan,
                     "definition": definition, "source": source, "reason": reason})
    return rows


def _reason(n: int, level: str) -> str:
    unit = "units" if level == "item" else "models"
    if n < 3:
        return f"{n} {unit} scored by both; at least 3 are needed" if n else "no unit scored by both"
    return "no variation to agree on (one score throughout, or expected disagreement is 0)"


def _all_stats(sums: np.ndarray, n_cells: int, n_models: int, xs: np.ndarray, ys: np.ndarray,
               domain: list[int]) -> dict[tuple[str, str, str], np.ndarray]:
    """Every (level, measure, over) value per row of summed per-item columns."""
    b = len(sums)
    joint = sums[:, :n_cells].reshape(b, max(len(xs), 1), max(len(ys), 1))
    if not len(xs):
        joint, xs, ys = np.zeros((b, 1, 1)), np.zeros(1), np.zeros(1)
    item = joint_stats(joint, xs, ys, domain)
    out = {("item", m, PARSED): v for m, v in item.items()}
    universe, parsed = sums[:, -2], sums[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[("item", "exact_agreement", ALL)] = np.where(universe > 0, item["exact_agreement"] * parsed / universe,
                                                         np.nan)
    system = sums[:, n_cells:n_cells + 3 * n_models].reshape(b, 3, n_models)
    for method in CORRELATIONS:
        out[("system", method, PARSED)] = _system(system, method)
    return out


def _system(system: np.ndarray, method: str) -> np.ndarray:
    """A correlation of per-model mean judge and reference scores, per resample."""
    out = np.full(len(system), np.nan)
    for k, (count, sx, sy) in enumerate(system):
        ok = count > 0
        if ok.sum() < 3:
            continue
        x, y = sx[ok] / count[ok], sy[ok] / count[ok]
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]
        out[k] = float(fn(x, y)[0])
    return out


def rubric_definitions(references: dict[str, np.ndarray], raters: dict[str, tuple[str, np.ndarray]],
                       unit_items: np.ndarray, unit_models: np.ndarray, domain: list[int], n_boot: int,
                       seed: int) -> pd.DataFrame:
    """The `definitions` table of a rubric criterion: every rater against every reference.

    Args:
        references: name -> reference score per unit ('humans', 'gold: NAME').
        raters: name -> (kind, score per unit); a human is not compared with a reference built
            from their own scores (only with gold).
    """
    rows = []
    for reference, ref in references.items():
        for name, (kind, x) in raters.items():
            if kind == "human" and reference == "humans":
                continue
            rows += rater_rows(reference, name, kind, x, ref, unit_items, unit_models, domain, n_boot, seed)
    return pd.DataFrame(rows, columns=COLUMNS)


def rubric_rankings(sources: dict[str, np.ndarray], unit_items: np.ndarray, unit_models: np.ndarray,
                    n_boot: int, seed: int) -> pd.DataFrame:
    """Models ranked by mean score per source (humans' reference, each judge), with percentile
    bootstrap intervals over items; rankings.RATING_COLUMNS (rating = mean score)."""
    from annotate.analysis.rankings import RATING_COLUMNS

    items, unit_item = np.unique(unit_items, return_inverse=True)
    models, unit_model = np.unique(np.asarray(unit_models, dtype=object).astype(str), return_inverse=True)
    frames = []
    for source, scores in sources.items():
        ok = ~np.isnan(scores)
        per_item = np.zeros((len(items), 2 * len(models)))
        np.add.at(per_item, (unit_item[ok], unit_model[ok]), 1.0)
        np.add.at(per_item, (unit_item[ok], len(models) + unit_model[ok]), scores[ok])
        sums = per_item.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums[len(models):] / np.where(sums[:len(models)] > 0, sums[:len(models)], np.nan)
            lo = hi = np.full(len(models), np.nan)
            if n_boot:
                boots = ag.bootstrap_sums(per_item, n_boot, seed)
                lo, hi = ag.percentile_interval(boots[:, len(models):] / np.where(boots[:, :len(models)] > 0,
                                                                                  boots[:, :len(models)], np.nan))
        frame = pd.DataFrame({"source": source, "model": models, "rating": mean, "rating_lo": lo, "rating_hi": hi,
                              "games": sums[:len(models)], "converged": True, "iterations": 0,
                              "reason": np.where(sums[:len(models)] > 0, None, "no score for this model")})
        frame["rank"] = frame["rating"].rank(ascending=False, method="min")
        frames.append(frame[sums[:len(models)] > 0])
    if not frames:
        return pd.DataFrame(columns=RATING_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(["source", "rank"], kind="stable")[RATING_COLUMNS]
