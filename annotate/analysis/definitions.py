"""A pairwise judge against a reference under every published definition, side by side.

Papers that evaluate LLM judges in both A/B orders report different quantities under similar
names; this module computes all of them from the stored presented order (judgments.presented_order
'AB' = A shown first, 'BA' = swapped; verdicts are stored in canonical terms), each labeled with its
source, so that a number can be compared with the paper it comes from:

| measure | definition | source |
| --- | --- | --- |
| accuracy | the app's combined verdict (both orders' [P(A), P(tie), P(B)] averaged, argmax) = reference | annotate.analysis.verdicts |
| accuracy_first | the verdict with A shown first = reference | LLMBar `correct_False` |
| accuracy_swapped | the verdict with B shown first (mapped back) = reference | LLMBar `correct_True` |
| accuracy_mean | (accuracy_first + accuracy_swapped) / 2 | LLMBar `correct_average` |
| both_correct | both orders' verdicts = reference (a tie must be a tie in both) | Auto-J "agreement"; LLMBar `correct_both` |
| mtbench_combined | the verdict if both orders give it, else a tie; = reference | MT-Bench combined verdict |
| position_consistency | both orders give the same verdict, over items parsed in both | MT-Bench "consistency" |
| positional_agreement | both orders give the same verdict, over all items | LLMBar `equal` ("positional agreement") |
| kappa, kappa_first, kappa_swapped | Cohen's kappa of the verdict with the reference | Cohen 1960; LLMBar `kappa_False/True` |
| loo_agreement | the verdict = the leave-one-out reference of each human (like-for-like ceiling) | this app (issue 14 section 4) |
| mtbench_pairwise | the verdict = each human vote, over judge-human pairs | MT-Bench agreement (setup S1/S2) |

Sources: LLMBar, Zeng et al. 2023, arXiv 2310.07641 (LLMEvaluator/evaluate.py); Auto-J, Li et al.
2023, arXiv 2310.05470; MT-Bench, Zheng et al. 2023, arXiv 2306.05685 (sections 3.3 and 4.2).

Unparsed verdicts are never silently dropped. Every measure is given `over` 'all items' (the
universe: every item of the slice with a reference; an unparsed or missing verdict counts as
wrong, the papers' convention and the default) and 'parsed items' (only items whose verdicts the
measure needs were parsed), with `n_total`, `n_parsed` and `coverage` = n_parsed / n_total.
position_consistency is defined over parsed items and positional_agreement over all items (LLMBar's
script also counts two unparsed orders as "equal"; here an unparsed order never agrees). Kappas are
over parsed items only (kappa has no "wrong" category). A judge with no judgment carrying a stored
order (e.g. imported without one) gets NaN with a reason for every order-based measure, and one
judged in a single order gets NaN for the other order's measures and those that need both.

The leave-one-out rows (section 4 of issue 14): for each item and each human r, the reference of
the *other* humans (annotate.analysis.reference, same split policy); the judge is compared with it
on exactly the comparisons the human ceiling uses (rater = the ceiling name), so the two numbers
beside each other are measured on the same items. mtbench_pairwise follows the report's tie policy;
every other measure counts a tie as a verdict, as the cited papers do.

Intervals: 95% percentile bootstrap over items (clusters), one set of resamples for the whole
table (annotate.analysis.agreement.bootstrap_sums); every number is a function of per-item sums.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from annotate.analysis import agreement as ag
from annotate.signs import verdict_signs

LLMBAR = "LLMBar (Zeng et al. 2023, arXiv 2310.07641)"
AUTOJ = "Auto-J (Li et al. 2023, arXiv 2310.05470)"
MTBENCH = "MT-Bench (Zheng et al. 2023, arXiv 2306.05685)"
APP = "this app (annotate.analysis.verdicts)"
COHEN = "Cohen 1960 (doi:10.1177/001316446002000104)"
MEASURES = {
    "accuracy": ("combined verdict (both orders' probabilities averaged) equals the reference", APP),
    "accuracy_first": ("verdict with A shown first equals the reference", f"{LLMBAR}: correct_False"),
    "accuracy_swapped": ("verdict with B shown first, mapped back, equals the reference", f"{LLMBAR}: correct_True"),
    "accuracy_mean": ("mean of the first-order and swapped-order accuracies", f"{LLMBAR}: correct_average"),
    "both_correct": ("both orders' verdicts equal the reference (a tie must be a tie in both)",
                     f"{AUTOJ}: agreement; {LLMBAR}: correct_both"),
    "mtbench_combined": ("a win only when both orders agree, otherwise a tie; equals the reference",
                         f"{MTBENCH}: combined verdict"),
    "position_consistency": ("both orders give the same verdict, among items parsed in both orders",
                             f"{MTBENCH}: consistency (table 2)"),
    "positional_agreement": ("both orders give the same verdict, among all items (unparsed disagrees)",
                             f"{LLMBAR}: positional agreement (equal)"),
    "kappa": ("Cohen's kappa, combined verdict vs the reference", COHEN),
    "kappa_first": ("Cohen's kappa, verdict with A shown first vs the reference", f"{LLMBAR}: kappa_False"),
    "kappa_swapped": ("Cohen's kappa, verdict with B shown first vs the reference", f"{LLMBAR}: kappa_True"),
    "loo_agreement": ("agreement with each human's leave-one-out reference (the ceiling's comparisons)",
                      "this app: like-for-like human ceiling (issue 14, section 4)"),
    "mtbench_pairwise": ("agreement with every individual human vote", f"{MTBENCH}: agreement (section 4.2)"),
}
ORDER_MEASURES = {"accuracy_first", "accuracy_swapped", "accuracy_mean", "both_correct", "mtbench_combined",
                  "position_consistency", "positional_agreement", "kappa_first", "kappa_swapped"}
ALL, PARSED = "all items", "parsed items"
COLUMNS = ["reference", "rater", "kind", "measure", "over", "value", "lo", "hi", "n", "n_total", "n_parsed",
           "coverage", "definition", "source", "reason"]


def order_codes(judgments: pd.DataFrame, items: np.ndarray, judges: list[str]) -> dict[str, dict]:
    """Per judge, the verdict codes per item in each presented order, aligned to `items`.

    The latest parsed judgment of (item, judge, order) counts; NaN where the order was not
    judged or never parsed. Returns {judge: {'AB': codes, 'BA': codes, 'AB_judged': bool,
    'BA_judged': bool}}, where X_judged says whether any judgment of the judge was made in order X.
    """
    frame = judgments[judgments["response_idx"].isna()]
    judge_codes, judge_names = pd.factorize(frame["judge"].to_numpy(dtype=object))
    order = frame["presented_order"].to_numpy(dtype=object)
    is_ab, is_ba = order == "AB", order == "BA"
    position = pd.Index(items).get_indexer(frame["item_id"].to_numpy())
    verdict = verdict_signs(frame["verdict"])
    keep = frame["is_parsed"].to_numpy(dtype=bool) & (position >= 0)
    sequence = np.argsort(frame["judgment_id"].to_numpy(), kind="stable")  # later judgments overwrite
    out = {}
    for judge in judges:
        k = np.flatnonzero(judge_names == judge)
        mine = judge_codes == (k[0] if len(k) else -2)
        entry = {"AB_judged": bool((mine & is_ab).any()), "BA_judged": bool((mine & is_ba).any())}
        for name, is_order in (("AB", is_ab), ("BA", is_ba)):
            rows = sequence[(mine & is_order & keep)[sequence]][::-1]  # latest first
            rows = rows[np.unique(position[rows], return_index=True)[1]]  # the latest per item
            codes = np.full(len(items), np.nan)
            codes[position[rows]] = verdict[rows]
            entry[name] = codes
        out[judge] = entry
    return out


class _Table:
    """Per-item additive columns and the measures defined on their sums."""

    def __init__(self, n_items: int) -> None:
        self.columns: list[np.ndarray] = []
        self.rows: list[dict] = []
        self.n_items = n_items
        self._seen: dict[int, tuple[np.ndarray, int]] = {}  # the same array object is stored once

    def add(self, values: np.ndarray) -> int:
        if id(values) in self._seen and self._seen[id(values)][0] is values:
            return self._seen[id(values)][1]
        self.columns.append(np.asarray(values, dtype=float))
        self._seen[id(values)] = (values, len(self.columns) - 1)
        return len(self.columns) - 1

    def ratio(self, meta: dict, terms: list[tuple[np.ndarray, np.ndarray]], n_total: np.ndarray,
              n_parsed: np.ndarray, reason: str | None = None) -> None:
        """A measure that is the mean over `terms` of sum(numerator) / sum(denominator)."""
        idx = [(self.add(num), self.add(den)) for num, den in terms]
        self.rows.append(meta | {"kind_": "ratio", "terms": idx, "total": self.add(n_total),
                                 "parsed": self.add(n_parsed), "reason_": reason})

    def kappa(self, meta: dict, x: np.ndarray, y: np.ndarray, n_total: np.ndarray, reason: str | None = None) -> None:
        blocks = ag.versus_blocks(x, y).reshape(len(x), 9)
        start = len(self.columns)
        for k in range(9):
            self.add(blocks[:, k])
        self.rows.append(meta | {"kind_": "kappa", "block": slice(start, start + 9), "total": self.add(n_total),
                                 "parsed": self.add(blocks.sum(axis=1)), "reason_": reason})

    def frame(self, n_boot: int, seed: int) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=COLUMNS)
        per_item = np.stack(self.columns, axis=1) if self.n_items else np.zeros((0, len(self.columns)))
        sums = per_item.sum(axis=0)[None]
        boots = ag.bootstrap_sums(per_item, n_boot, seed) if n_boot else None
        records = []
        for row in self.rows:
            value, n = self._evaluate(row, sums)
            lo = hi = np.nan
            if boots is not None:
                samples, _ = self._evaluate(row, boots)
                lo, hi = ag.percentile_interval(samples[:, None])
                lo, hi = float(lo[0]), float(hi[0])
            total, parsed = sums[0, row["total"]], sums[0, row["parsed"]]
            reason = row["reason_"] or (None if n[0] > 0 else "no comparison")
            if row["kind_"] == "kappa" and reason is None:
                reason = ag.kappa_reason(sums[0, row["block"]].reshape(3, 3), "with_ties")
            records.append({k: v for k, v in row.items() if not k.endswith("_") and k not in (
                "terms", "block", "total", "parsed")} | {
                "value": np.nan if row["reason_"] else float(value[0]), "lo": np.nan if row["reason_"] else lo,
                "hi": np.nan if row["reason_"] else hi, "n": int(round(n[0])), "n_total": int(round(total)),
                "n_parsed": int(round(parsed)), "coverage": parsed / total if total > 0 else np.nan,
                "reason": reason})
        return pd.DataFrame(records, columns=COLUMNS)

    @staticmethod
    def _evaluate(row: dict, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(value, n) per row of `sums`; n is the (first) denominator."""
        if row["kind_"] == "kappa":
            block = sums[:, row["block"]].reshape(len(sums), 3, 3)
            return ag.kappa_from_blocks(block, "with_ties"), block.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            parts = [np.where(sums[:, d] > 0, sums[:, u] / np.where(sums[:, d] > 0, sums[:, d], 1), np.nan)
                     for u, d in row["terms"]]
        return np.mean(parts, axis=0), sums[:, row["terms"][0][1]]


def _meta(reference: str, rater: str, kind: str, measure: str, over: str) -> dict:
    definition, source = MEASURES[measure]
    return {"reference": reference, "rater": rater, "kind": kind, "measure": measure, "over": over,
            "definition": definition, "source": source}


def _eq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where both are present and equal, else 0.0 (NaN never equals)."""
    return (x == y).astype(float)


def judge_rows(table: _Table, reference: str, ref: np.ndarray, judge: str, combined: np.ndarray,
               orders: dict) -> None:
    """Every accuracy-type definition of one judge against one reference (see the module docstring)."""
    universe = (~np.isnan(ref)).astype(float)
    ab, ba = orders["AB"], orders["BA"]
    ok = {"comb": ~np.isnan(combined), "AB": ~np.isnan(ab), "BA": ~np.isnan(ba)}
    both = ok["AB"] & ok["BA"]
    missing = [order for order in ("AB", "BA") if not orders[f"{order}_judged"]]
    where = {"AB": "with A shown first (order AB)", "BA": "with B shown first (order BA)"}
    no_order = {"AB": f"no judgment {where['AB']}" if "AB" in missing else None,
                "BA": f"no judgment {where['BA']}" if "BA" in missing else None}
    no_order["both"] = ("no judgment with a stored presented order" if len(missing) == 2
                        else no_order["AB"] or no_order["BA"])
    needs_order = {"accuracy_first": "AB", "accuracy_swapped": "BA", "kappa_first": "AB", "kappa_swapped": "BA"}
    mt = np.where(both, np.where(ab == ba, ab, 0.0), np.nan)
    correct = {"accuracy": _eq(combined, ref), "accuracy_first": _eq(ab, ref), "accuracy_swapped": _eq(ba, ref),
               "both_correct": _eq(ab, ref) * _eq(ba, ref), "mtbench_combined": _eq(mt, ref)}
    needs = {"accuracy": ok["comb"], "accuracy_first": ok["AB"], "accuracy_swapped": ok["BA"],
             "both_correct": both, "mtbench_combined": both}
    hits = {m: c * universe for m, c in correct.items()}
    parsed = {m: universe * needs[m] for m in needs}
    for measure in ("accuracy", "accuracy_first", "accuracy_swapped", "accuracy_mean", "both_correct",
                    "mtbench_combined"):
        reason = no_order[needs_order.get(measure, "both")] if measure in ORDER_MEASURES else None
        for over in (ALL, PARSED):
            if measure == "accuracy_mean":
                terms = [(hits[m], universe if over == ALL else parsed[m]) for m in ("accuracy_first", "accuracy_swapped")]
                n_parsed = parsed["both_correct"]
            else:
                n_parsed = parsed[measure]
                terms = [(hits[measure], universe if over == ALL else n_parsed)]
            table.ratio(_meta(reference, judge, "judge", measure, over), terms, universe, n_parsed, reason)
    same = _eq(ab, ba) * universe
    table.ratio(_meta(reference, judge, "judge", "position_consistency", PARSED), [(same, parsed["both_correct"])],
                universe, parsed["both_correct"], no_order["both"])
    table.ratio(_meta(reference, judge, "judge", "positional_agreement", ALL), [(same, universe)],
                universe, parsed["both_correct"], no_order["both"])
    for measure, codes in (("kappa", combined), ("kappa_first", ab), ("kappa_swapped", ba)):
        table.kappa(_meta(reference, judge, "judge", measure, PARSED), codes, ref, universe,
                    no_order[needs_order.get(measure, "both")] if measure in ORDER_MEASURES else None)


def ceiling_rows(table: _Table, ceiling: str, loo: np.ndarray, codes: np.ndarray,
                 judges: dict[str, np.ndarray], counts: np.ndarray, tie_policy: str) -> None:
    """The like-for-like rows: the ceiling and every judge on the same leave-one-out comparisons,
    and MT-Bench pairwise agreement (humans among themselves, each judge with every human vote)."""
    defined = ~np.isnan(loo)
    n_cmp = defined.sum(axis=1).astype(float)
    has_human = (n_cmp > 0).astype(float)
    human_hits = (defined & (codes == loo)).sum(axis=1).astype(float)
    table.ratio(_meta("humans (leave-one-out)", ceiling, "human", "loo_agreement", ALL), [(human_hits, n_cmp)],
                has_human, has_human)
    within = ag.policy_view(ag.within_raters_blocks(counts), tie_policy)
    pairs, agree = within.sum(axis=(1, 2)), np.trace(within, axis1=1, axis2=2)
    table.ratio(_meta("humans (each vote)", ceiling, "human", "mtbench_pairwise", ALL), [(agree, pairs)],
                (pairs > 0).astype(float), (pairs > 0).astype(float))
    for judge, verdict in judges.items():
        parsed = ~np.isnan(verdict)
        hits = (defined & (verdict[:, None] == loo)).sum(axis=1).astype(float)
        for over in (ALL, PARSED):
            table.ratio(_meta("humans (leave-one-out)", judge, "judge", "loo_agreement", over),
                        [(hits, n_cmp if over == ALL else n_cmp * parsed)], has_human, has_human * parsed)
        votes = ag.policy_view(ag.versus_raters_blocks(verdict, counts), tie_policy)
        n_parsed, hits = votes.sum(axis=(1, 2)), np.trace(votes, axis1=1, axis2=2)
        human_votes = counts if tie_policy == "with_ties" else counts[:, [0, 2]]
        n_all = np.where(parsed, n_parsed, human_votes.sum(axis=1))  # an unparsed verdict disagrees with every vote
        for over in (ALL, PARSED):
            table.ratio(_meta("humans (each vote)", judge, "judge", "mtbench_pairwise", over),
                        [(hits, n_all if over == ALL else n_parsed)], (n_all > 0).astype(float),
                        (n_parsed > 0).astype(float))


def human_rows(table: _Table, reference: str, ref: np.ndarray, humans: pd.DataFrame,
               human_reference: np.ndarray | None) -> None:
    """Each human's (and the human reference's) accuracy against a gold reference: over all gold
    items (an item the human did not label counts as wrong) and over the items they labeled."""
    universe = (~np.isnan(ref)).astype(float)
    raters = {name: humans[name].to_numpy(dtype=float) for name in humans.columns}
    if human_reference is not None:
        raters["humans (reference label)"] = human_reference
    for name, codes in raters.items():
        rated = universe * ~np.isnan(codes)
        hits = _eq(codes, ref) * universe
        for over in (ALL, PARSED):
            table.ratio(_meta(reference, name, "human", "accuracy", over) | {
                "definition": "label equals the gold reference (parsed items: items the rater labeled)"},
                [(hits, universe if over == ALL else rated)], universe, rated)


def pairwise_definitions(humans: pd.DataFrame, values: pd.DataFrame, judges: pd.DataFrame, golds: pd.DataFrame,
                         human_reference: np.ndarray, orders: dict[str, dict], split_policy: str, tie_policy: str,
                         n_boot: int, seed: int, ceiling: str = "human ceiling (leave-one-out)") -> pd.DataFrame:
    """The `definitions` table of a pairwise report (see the module docstring).

    Args:
        humans, values: items x human raters, codes and signed values (NaN where missing).
        judges: items x judges, the combined verdict codes (annotate.analysis.verdicts).
        golds: items x gold raters, codes. human_reference: the humans' reference code per item.
        orders: order_codes(judgments of the slice, items, judges): the per-order verdicts.

    Returns:
        COLUMNS plus split_policy; one set of bootstrap resamples for every row.
    """
    items = humans.index.to_numpy()
    table = _Table(len(items))
    references = {"humans": human_reference} if humans.shape[1] or not np.isnan(human_reference).all() else {}
    references |= {f"gold: {name}": golds[name].to_numpy(dtype=float) for name in golds.columns}
    for name, ref in references.items():
        for judge in judges.columns:
            judge_rows(table, name, ref, judge, judges[judge].to_numpy(dtype=float), orders[judge])
    if humans.shape[1]:
        codes = humans.to_numpy(dtype=float)
        loo = ag.leave_one_out_references(codes, split_policy, values.to_numpy(dtype=float))
        ceiling_rows(table, ceiling, loo, codes, {j: judges[j].to_numpy(dtype=float) for j in judges.columns},
                     ag.category_counts(codes), tie_policy)
    for name in golds.columns:
        human_rows(table, f"gold: {name}", golds[name].to_numpy(dtype=float), humans,
                   human_reference if humans.shape[1] else None)
    return table.frame(n_boot, seed).assign(split_policy=split_policy)
