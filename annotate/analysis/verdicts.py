"""Combine a judge's pairwise judgments per item: the verdict every consumer uses.

A pairwise judge is run in both orders (A/B and B/A). Its judgments are stored in canonical terms
(see storage/judgments.py), so combining is an average: P = mean over the parsed judgments of the
item of their [P(A), P(tie), P(B)]; a judgment without probabilities counts as one-hot on its
verdict. The combined verdict is the argmax (ties between classes resolve to 'tie'). An item is
`is_inconsistent` when its parsed verdicts disagree across the two orders (MT-Bench's position
consistency; Zheng et al. 2023, arXiv 2306.05685, section 3.3).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from annotate.signs import VERDICTS

COLUMNS = ["item_id", "judge_id", "judge", "p_a", "p_tie", "p_b", "verdict", "n_judgments", "n_parsed",
           "is_inconsistent"]


def judgment_probs(judgments: pd.DataFrame) -> np.ndarray:
    """[P(A), P(tie), P(B)] per judgment row (one-hot of the verdict when probs are missing,
    NaN for unparsed rows). Vectorised: only rows that carry probabilities are visited."""
    out = np.full((len(judgments), 3), np.nan)
    parsed = judgments["is_parsed"].to_numpy(dtype=bool)
    position = pd.Index(list(VERDICTS)).get_indexer(judgments["verdict"].astype(object))
    onehot = parsed & (position >= 0)
    rows = np.flatnonzero(onehot)
    out[rows] = 0.0
    out[rows, position[onehot]] = 1.0
    for row in np.flatnonzero(parsed & judgments["probs"].notna().to_numpy()):
        probs = judgments["probs"].iat[row]
        if len(probs) == 3 and not np.any(pd.isna(probs)):
            out[row] = np.asarray(probs, dtype=float)
    return out


def combined_verdicts(judgments: pd.DataFrame, aspect: str = "overall") -> pd.DataFrame:
    """One row per (item, judge) for pairwise judgments of `aspect`.

    Args:
        judgments: storage.judgments.judgments_frame output (item_id, judge_id, judge, aspect,
            presented_order, verdict, probs, is_parsed).

    Returns:
        COLUMNS; verdict is missing (NA) and probabilities NaN when no judgment of the item parsed.
    """
    frame = judgments[(judgments["aspect"] == aspect) & judgments["response_idx"].isna()].copy()
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame[["p_a", "p_tie", "p_b"]] = judgment_probs(frame)
    grouped = frame.groupby(["item_id", "judge_id", "judge"], sort=True)
    out = grouped[["p_a", "p_tie", "p_b"]].mean().reset_index()
    out["n_judgments"] = grouped.size().to_numpy()
    out["n_parsed"] = grouped["is_parsed"].sum().to_numpy().astype(int)
    parsed = frame[frame["is_parsed"]]
    flips = (parsed.groupby(["item_id", "judge_id"])["verdict"].nunique() > 1).rename("is_inconsistent")
    out = out.merge(flips.reset_index(), on=["item_id", "judge_id"], how="left")
    out["is_inconsistent"] = out["is_inconsistent"].fillna(False).astype(bool)
    filled = np.nan_to_num(out[["p_a", "p_tie", "p_b"]].to_numpy(), nan=-1.0)
    top = np.sort(filled, axis=1)
    best = np.asarray(VERDICTS, dtype=object)[filled.argmax(axis=1)]
    out["verdict"] = np.where(filled[:, 0] < 0, None, np.where(top[:, -1] == top[:, -2], "tie", best))
    return out[COLUMNS]


COVERAGE_COLUMNS = ["judge", "order", "judgments", "parsed", "unparsed", "out_of_range", "items", "items_parsed"]


def coverage_table(judgments: pd.DataFrame, scale: list[int] | None = None) -> pd.DataFrame:
    """What each judge returned, per presented order and in all: nothing unparsed goes unseen.

    Args:
        judgments: judgment rows (judge, item_id, presented_order, is_parsed, score; optional
            unparsed_number, the raw reply of an unparsed judgment read as a number).
        scale: for rubric criteria, the allowed scores. A score off the scale (e.g. 5 or 10 on a
            0-3 relevance scale), whether stored parsed or not (an importer or a judge stores it
            unparsed with its raw text, which unparsed_number reads), is counted in out_of_range
            and is not a parsed score (the statistics leave it out; over 'all items' it counts as wrong).

    Returns:
        COVERAGE_COLUMNS, one row per (judge, order) with order 'AB', 'BA', 'none' (no stored
        order: imported or rubric judgments) and 'all'. parsed counts valid judgments only; items
        and items_parsed count distinct items.
    """
    if judgments.empty:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    order = judgments["presented_order"].to_numpy(dtype=object)
    order = np.where(pd.isna(order), "none", order).astype(object)
    valid = judgments["is_parsed"].to_numpy(dtype=bool).copy()
    off = np.zeros(len(judgments), bool)
    if scale is not None:
        score = judgments["score"].to_numpy(dtype=float)
        if "unparsed_number" in judgments:
            raw = judgments["unparsed_number"].to_numpy(dtype=float)
            score = np.where(np.isnan(score) & ~valid, raw, score)
        off = ~np.isnan(score) & ~np.isin(score, np.asarray(scale, dtype=float))
        valid &= ~off
    judge_codes, judges = pd.factorize(judgments["judge"].to_numpy(dtype=object), sort=True)
    item_codes = pd.factorize(judgments["item_id"].to_numpy())[0]
    rows = []
    for name in [*sorted(set(order)), "all"]:
        keep = np.ones(len(order), bool) if name == "all" else order == name
        k = judge_codes[keep]
        rows.append(pd.DataFrame({"judge": judges, "order": name, "judgments": _count(k, None, len(judges)),
                                  "parsed": _count(k, valid[keep], len(judges)),
                                  "out_of_range": _count(k, off[keep], len(judges)),
                                  "items": _distinct(k, item_codes[keep], len(judges)),
                                  "items_parsed": _distinct(k[valid[keep]], item_codes[keep][valid[keep]], len(judges))}))
    out = pd.concat(rows, ignore_index=True)
    out = out[out["judgments"] > 0]
    out["unparsed"] = out["judgments"] - out["parsed"] - out["out_of_range"]
    return out.sort_values(["judge", "order"], kind="stable")[COVERAGE_COLUMNS].reset_index(drop=True)


def _count(groups: np.ndarray, weights: np.ndarray | None, n_groups: int) -> np.ndarray:
    """Rows (or True weights) per group."""
    w = None if weights is None else weights.astype(float)
    return np.bincount(groups, weights=w, minlength=n_groups).astype(int)


def _distinct(groups: np.ndarray, items: np.ndarray, n_groups: int) -> np.ndarray:
    """Distinct items per group (both integer codes from 0): a presence table, no sorting."""
    n_items = int(items.max(initial=-1)) + 1
    seen = np.bincount(groups.astype(np.int64) * n_items + items, minlength=n_groups * n_items) > 0
    return seen.reshape(n_groups, n_items).sum(axis=1).astype(int) if n_items else np.zeros(n_groups, int)
