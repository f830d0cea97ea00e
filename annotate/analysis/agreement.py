"""Agreement statistics: percent agreement, Cohen's, Fleiss' and Krippendorff's coefficients,
correlations, and an item-cluster bootstrap. Arrays and DataFrames in, tidy results out.

Pairwise preferences are compared as categories: code -1 (A better), 0 (tie), +1 (B better), the
sign of a signed label value or of a judge verdict. Category counts are kept per item in 3x3
"confusion" blocks (rows: the first rater's code, columns: the second's), so every statistic
below (percent agreement, Cohen's kappa, their bootstrap intervals) is a function of summed
blocks and a resample of items is only a weighted sum.

Tie policy (named in every result; MT-Bench, Zheng et al. 2023, arXiv 2306.05685, section 4.2):
- `with_ties` (MT-Bench setup S1): a tie is a third category; two raters agree when they give the
  same category, tie included.
- `without_ties` (setup S2): every comparison in which either rater said tie is dropped; the rest
  agree when they prefer the same response.

No result is an exception: a statistic that is undefined (no pairs, one category only, too few
raters) is NaN with a `reason` saying why.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import krippendorff
from scipy import stats

from annotate.analysis.reference import reference_from_counts
from annotate.config import TIE_POLICIES
from annotate.errors import AnnotateError

KAPPA_WEIGHTS = ("unweighted", "linear", "quadratic")
ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")
CATEGORIES = (-1, 0, 1)


def check_tie_policy(tie_policy: str) -> str:
    """Return `tie_policy` if known, else raise AnnotateError naming the known ones."""
    if tie_policy not in TIE_POLICIES:
        raise AnnotateError(f"Unknown tie policy '{tie_policy}' (known: {', '.join(TIE_POLICIES)})")
    return tie_policy


# ------------------------------------------------------------------ confusion blocks

def category_counts(codes: np.ndarray) -> np.ndarray:
    """Per item, how many raters gave each category: (n_items, 3) from (n_items, n_raters) codes
    in {-1, 0, 1} with NaN for a missing rating."""
    codes = np.asarray(codes, dtype=float)
    return np.stack([(codes == c).sum(axis=1) for c in CATEGORIES], axis=1).astype(float)


def versus_blocks(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per item a one-hot 3x3 block of (x code, y code); all zero where either is missing."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    blocks = np.zeros((len(x), 3, 3))
    ok = ~(np.isnan(x) | np.isnan(y))
    blocks[np.flatnonzero(ok), x[ok].astype(int) + 1, y[ok].astype(int) + 1] = 1.0
    return blocks


def versus_raters_blocks(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per item the 3x3 counts of (x code, each rater's code): x paired with every rater who rated
    the item, as MT-Bench pairs a judge with every human vote on the same item."""
    x = np.asarray(x, dtype=float)
    blocks = np.zeros((len(x), 3, 3))
    ok = np.flatnonzero(~np.isnan(x))
    blocks[ok, x[ok].astype(int) + 1, :] = counts[ok]
    return blocks


def within_raters_blocks(counts: np.ndarray) -> np.ndarray:
    """Per item the 3x3 counts over all unordered pairs of distinct raters (MT-Bench).

    With n_c raters in category c, n_c (n_c - 1) / 2 pairs agree on c; the n_c n_d pairs that
    differ are split evenly between cells (c, d) and (d, c), so the block is symmetric and sums to
    n (n - 1) / 2. A rater is never paired with itself.
    """
    blocks = counts[:, :, None] * counts[:, None, :] / 2.0
    diag = np.arange(3)
    blocks[:, diag, diag] = counts * (counts - 1) / 2.0
    return blocks


def strict_majority(counts: np.ndarray) -> np.ndarray:
    """The category with more votes than every other, per item; NaN when there is no vote or the
    votes split evenly: the reference under the 'drop' split policy (annotate.analysis.reference)."""
    return reference_from_counts(counts, "drop")


def leave_one_out_references(codes: np.ndarray, policy: str, values: np.ndarray | None = None) -> np.ndarray:
    """Each rater's leave-one-out reference: the reference label of the *other* raters' votes on
    the item (annotate.analysis.reference.reference_from_counts, the same split policy).

    Args:
        codes: (n_items, n_raters) codes in {-1, 0, 1}, NaN where missing.
        values: the signed label values (same shape), for the mean-sign policy; codes if None.

    Returns:
        (n_items, n_raters): NaN where the rater did not rate the item or the others give no reference.
    """
    codes = np.asarray(codes, dtype=float)
    values = codes if values is None else np.asarray(values, dtype=float)
    counts = category_counts(codes)
    sums = np.nansum(values, axis=1) if values.size else np.zeros(len(codes))
    out = np.full(codes.shape, np.nan)
    for r in range(codes.shape[1]):
        mine = codes[:, r]
        others = counts - np.stack([(mine == c) for c in CATEGORIES], axis=1)
        reference = reference_from_counts(others, policy, sums - np.nan_to_num(values[:, r]))
        out[:, r] = np.where(np.isnan(mine), np.nan, reference)
    return out


def leave_one_out_blocks(codes: np.ndarray, policy: str = "drop",
                         values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each rater against the reference of the other raters on the same item (leave-one-out,
    see leave_one_out_references; policy 'drop' is the strict majority of the others).

    Returns:
        (blocks, per_rater): blocks (n_items, 3, 3) summed over raters, rows the rater's code and
        columns the others' reference; per_rater (n_raters, 3, 3) summed over items.
    """
    codes = np.asarray(codes, dtype=float)
    loo = leave_one_out_references(codes, policy, values)
    blocks = np.zeros((len(codes), 3, 3))
    per_rater = np.zeros((codes.shape[1], 3, 3))
    for r in range(codes.shape[1]):
        rater_blocks = versus_blocks(codes[:, r], loo[:, r])
        blocks += rater_blocks
        per_rater[r] = rater_blocks.sum(axis=0)
    return blocks, per_rater


# ------------------------------------------------------------------ statistics of blocks

def policy_view(conf: np.ndarray, tie_policy: str) -> np.ndarray:
    """Blocks (..., 3, 3) as the tie policy sees them: whole (with_ties) or without the tie row
    and column (without_ties: every comparison in which either side said tie is dropped)."""
    if check_tie_policy(tie_policy) == "with_ties":
        return conf
    keep = [0, 2]  # drop the tie row and column: any comparison in which either side said tie
    return conf[..., keep, :][..., :, keep]


def percent_from_blocks(conf: np.ndarray, tie_policy: str) -> tuple[np.ndarray, np.ndarray]:
    """(agreement, n): the share of comparisons on the diagonal and their number, for summed
    blocks of shape (..., 3, 3). Agreement is NaN where n is 0."""
    view = policy_view(np.asarray(conf, dtype=float), tie_policy)
    n = view.sum(axis=(-2, -1))
    agree = np.trace(view, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, agree / np.where(n > 0, n, 1), np.nan), n


def kappa_from_blocks(conf: np.ndarray, tie_policy: str, weights: str = "unweighted") -> np.ndarray:
    """Cohen's kappa of summed blocks (..., 3, 3), unweighted or weighted.

    kappa_w = 1 - sum(w * O) / sum(w * E), with O the observed proportions, E = outer(row
    margins, column margins) the proportions expected by chance, and disagreement weights
    w_ij = 1 - [i = j] (unweighted), |i - j| / (k - 1) (linear) or (i - j)^2 / (k - 1)^2
    (quadratic) over the k ordered categories (Cohen 1960, doi:10.1177/001316446002000104;
    Cohen 1968, doi:10.1037/h0026256; the same as sklearn.metrics.cohen_kappa_score).
    Unweighted, this is (p_o - p_e) / (1 - p_e). NaN where expected disagreement is 0 (both
    raters used one and the same category: p_e = 1) or there is no comparison.
    """
    if weights not in KAPPA_WEIGHTS:
        raise AnnotateError(f"Unknown kappa weights '{weights}' (known: {', '.join(KAPPA_WEIGHTS)})")
    view = policy_view(np.asarray(conf, dtype=float), tie_policy)
    k = view.shape[-1]
    i, j = np.indices((k, k))
    w = {"unweighted": (i != j).astype(float), "linear": np.abs(i - j) / (k - 1),
         "quadratic": ((i - j) / (k - 1)) ** 2}[weights]
    n = view.sum(axis=(-2, -1))
    safe_n = np.where(n > 0, n, 1)[..., None, None]
    observed = view / safe_n
    expected = observed.sum(axis=-1)[..., :, None] * observed.sum(axis=-2)[..., None, :]
    d_o, d_e = (w * observed).sum(axis=(-2, -1)), (w * expected).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n > 0) & (d_e > 0), 1 - d_o / np.where(d_e > 0, d_e, 1), np.nan)


def kappa_reason(conf: np.ndarray, tie_policy: str) -> str | None:
    """Why kappa of one summed block is undefined, or None when it is defined."""
    view = policy_view(np.asarray(conf, dtype=float), tie_policy)
    if view.sum() == 0:
        return "no comparisons" + (" without a tie" if tie_policy == "without_ties" else "")
    rows, cols = view.sum(axis=1) > 0, view.sum(axis=0) > 0
    if rows.sum() == 1 and cols.sum() == 1 and np.array_equal(rows, cols):
        return "both raters used one and the same category (expected agreement is 1)"
    return None


def block_summary(conf: np.ndarray, tie_policy: str) -> dict:
    """Percent agreement, n and the three kappas of one summed 3x3 block, with a reason."""
    agreement, n = percent_from_blocks(conf, tie_policy)
    out = {"agreement": float(agreement), "n": int(round(float(n)))}
    for weights in KAPPA_WEIGHTS:
        key = "kappa" if weights == "unweighted" else f"kappa_{weights}"
        out[key] = float(kappa_from_blocks(conf, tie_policy, weights))
    out["tie_policy"] = tie_policy
    out["reason"] = kappa_reason(conf, tie_policy)
    return out


def percent_agreement(codes: np.ndarray, tie_policy: str) -> dict:
    """MT-Bench agreement among raters: over all unordered pairs of distinct raters on the same
    item, the share that agree (see the module docstring for the tie policies).

    Args:
        codes: (n_items, n_raters) in {-1, 0, 1}, NaN where a rater did not rate the item.

    Returns:
        {agreement, n_pairs, n_items (items with at least one counted pair), tie_policy, reason}.
    """
    blocks = within_raters_blocks(category_counts(codes))
    per_item = policy_view(blocks, tie_policy).sum(axis=(1, 2))
    agreement, n = percent_from_blocks(blocks.sum(axis=0), tie_policy)
    reason = None if n > 0 else "no item has two raters" + (
        " who both avoided a tie" if tie_policy == "without_ties" else "")
    return {"agreement": float(agreement), "n_pairs": int(round(float(n))),
            "n_items": int((per_item > 0).sum()), "tie_policy": tie_policy, "reason": reason}


def rater_pair_table(codes: pd.DataFrame, tie_policy: str, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Cohen's kappa (three weightings) and percent agreement for every pair of raters.

    Args:
        codes: items x raters, codes in {-1, 0, 1}, NaN where missing.
        kinds: rater -> 'human' | 'judge', copied into the table.

    Returns:
        rater_a, rater_b, kind_a, kind_b, n, agreement, kappa, kappa_linear, kappa_quadratic,
        tie_policy, reason (why kappa is undefined, if it is).
    """
    kinds = kinds or {}
    names = list(codes.columns)
    values = codes.to_numpy(dtype=float)
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            conf = versus_blocks(values[:, a], values[:, b]).sum(axis=0)
            rows.append({"rater_a": names[a], "rater_b": names[b], "kind_a": kinds.get(names[a]),
                         "kind_b": kinds.get(names[b]), **block_summary(conf, tie_policy)})
    columns = ["rater_a", "rater_b", "kind_a", "kind_b", "n", "agreement", "kappa", "kappa_linear",
               "kappa_quadratic", "tie_policy", "reason"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------ multi-rater coefficients

def fleiss_kappa(counts: np.ndarray) -> dict:
    """Fleiss' kappa from per-item category counts (n_items, n_categories).

    P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)) is the agreement among the n_i raters of item i,
    P_bar its mean, p_j = sum_i n_ij / sum_i n_i the category shares, P_e = sum_j p_j^2, and
    kappa = (P_bar - P_e) / (1 - P_e) (Fleiss 1971, doi:10.1037/h0031619). Items with fewer than
    two raters carry no agreement and are dropped; a varying n_i uses the per-item P_i as above
    (the form of statsmodels.stats.inter_rater.fleiss_kappa when n_i is constant).
    """
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    counts = counts[n_i >= 2]
    n_i = n_i[n_i >= 2]
    if len(counts) == 0:
        return {"kappa": float("nan"), "n_items": 0, "reason": "no item has two or more raters"}
    p_i = ((counts ** 2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j ** 2).sum())
    if p_e >= 1.0:
        return {"kappa": float("nan"), "n_items": len(counts),
                "reason": "all raters gave one category (expected agreement is 1)"}
    return {"kappa": float((p_i.mean() - p_e) / (1 - p_e)), "n_items": len(counts), "reason": None}


def krippendorff_alpha(reliability: np.ndarray, level: str, value_domain: list | None = None) -> dict:
    """Krippendorff's alpha = 1 - D_o / D_e through the `krippendorff` package (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability", repository.upenn.edu/asc_papers/43).

    Args:
        reliability: (n_raters, n_units) numeric values, NaN where missing. Units with fewer than
            two values are not pairable and do not count.
        level: nominal, ordinal, interval or ratio (the difference function).
        value_domain: the ordered scale points, for nominal and ordinal data (ordinal distances
            count the values in between); defaults to the values seen.

    Returns:
        {level, alpha, n_units (pairable), n_values, reason}; alpha is NaN with a reason for
        fewer than two pairable values, a single value throughout, or ratio data below zero.
    """
    if level not in ALPHA_LEVELS:
        raise AnnotateError(f"Unknown level of measurement '{level}' (known: {', '.join(ALPHA_LEVELS)})")
    data = np.asarray(reliability, dtype=float)
    pairable = (~np.isnan(data)).sum(axis=0) >= 2 if data.size else np.zeros(0, bool)
    data = data[:, pairable] if data.size else data
    seen = np.unique(data[~np.isnan(data)]) if data.size else np.array([])
    out = {"level": level, "alpha": float("nan"), "n_units": int(pairable.sum()),
           "n_values": int((~np.isnan(data)).sum()), "reason": None}
    if out["n_units"] == 0:
        return out | {"reason": "no unit has two or more values"}
    if len(seen) < 2:
        return out | {"reason": "every value is the same, so there is no variation to agree on"}
    if level == "ratio" and seen.min() < 0:
        return out | {"reason": "ratio differences need values >= 0 (signed preference scales are not ratio)"}
    domain = value_domain if level in ("nominal", "ordinal") and value_domain is not None else None
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain)
    return out | {"alpha": float(alpha)}


def alpha_table(reliability: np.ndarray, value_domain: list | None = None) -> pd.DataFrame:
    """Krippendorff's alpha at the four levels: level, alpha, n_units, n_values, reason."""
    return pd.DataFrame([krippendorff_alpha(reliability, level, value_domain) for level in ALPHA_LEVELS])


def correlations(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Pearson, Spearman and Kendall (tau-b) correlations of paired scores (scipy.stats).

    Returns:
        method, r, p_value, n, reason: NaN with a reason for fewer than three pairs or a constant
        series (the coefficient divides by a standard deviation of zero).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    reason = None
    if len(x) < 3:
        reason = f"{len(x)} pairs; at least 3 are needed"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        reason = "one of the series is constant"
    rows = []
    for method, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        r, p = (float("nan"), float("nan")) if reason else (float(v) for v in fn(x, y))
        rows.append({"method": method, "r": r, "p_value": p, "n": len(x), "reason": reason})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ bootstrap over items

def bootstrap_sums(per_item: np.ndarray, n_boot: int, seed: int, chunk: int = 50) -> np.ndarray:
    """Sums of per-item statistics over `n_boot` resamples of the items, drawn with replacement.

    Items are the clusters: every number attached to an item (all its raters' comparisons) moves
    together, as in a cluster bootstrap (Field & Welsh 2007, doi:10.1111/j.1467-9868.2007.00593.x).
    A resample is a vector of multiplicities, so its sums are one matrix product. Items with
    identical rows (few patterns: 3 categories x a handful of raters) are pooled first; drawing n
    items with replacement then gives pattern counts ~ Multinomial(n, pattern shares), which is
    sampled directly when there are few patterns (the same distribution, far fewer draws).

    Args:
        per_item: (n_items, K) additive per-item quantities (e.g. flattened confusion blocks).
        seed: numpy Generator seed; the same seed gives the same resamples.

    Returns:
        (n_boot, K) sums.
    """
    per_item = np.asarray(per_item, dtype=float)
    n = len(per_item)
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((n_boot, per_item.shape[1]))
    patterns, inverse = _row_patterns(per_item)
    if len(patterns) * 10 <= n:
        shares = np.bincount(inverse, minlength=len(patterns)) / n
        return rng.multinomial(n, shares, size=n_boot).astype(float) @ patterns
    out = np.empty((n_boot, per_item.shape[1]))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)])
        out[start:start + size] = weights.astype(float) @ per_item
    return out


def _row_patterns(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, each row's index into them), by factorizing one column at a time (much
    faster than np.unique(axis=0), which sorts whole rows)."""
    codes = np.zeros(len(rows), dtype=np.int64)
    for column in rows.T:
        column_codes, uniques = pd.factorize(column)
        codes = pd.factorize(codes * len(uniques) + column_codes)[0]
    first = np.unique(codes, return_index=True)[1]  # codes are dense 0..P-1: first row of each
    return rows[first], codes


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval per column (Efron & Tibshirani 1993, ch. 13), ignoring NaN
    resamples (e.g. a resample with no comparison left)."""
    tail = (1 - level) / 2 * 100
    samples = np.asarray(samples, dtype=float)
    if samples.size == 0 or np.all(np.isnan(samples)):
        nan = np.full(samples.shape[1:], np.nan)
        return nan, nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns where every resample is NaN
        return np.nanpercentile(samples, tail, axis=0), np.nanpercentile(samples, 100 - tail, axis=0)
