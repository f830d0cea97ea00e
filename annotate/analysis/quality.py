"""Per-annotator quality: agreement with the others, speed, skips and flags.

Agreement is each annotator's label against the reference label of the *other* annotators of the
same item (leave-one-out, the same comparison as the human ceiling in annotate.analysis.report; the
project's split policy decides an even split, annotate.analysis.reference), under the report's tie
policy; items where the others give no reference do not count.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from annotate.analysis.agreement import kappa_from_blocks, leave_one_out_blocks, percent_from_blocks
from annotate.analysis.reference import DEFAULT_SPLIT_POLICY

COLUMNS = ["annotator", "labels", "loo_n", "loo_agreement", "loo_kappa", "median_seconds", "skips", "flags",
           "skip_rate", "flag_rate", "tie_policy"]


def loo_agreement(codes: pd.DataFrame, tie_policy: str, split_policy: str = DEFAULT_SPLIT_POLICY,
                  values: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each annotator's agreement with the leave-one-out reference of the others (module docstring).

    Args:
        codes: items x annotators, codes in {-1, 0, 1}, NaN where missing.
        values: the signed label values (items x annotators), for the mean-sign split policy.

    Returns:
        annotator, loo_n (comparisons counted under the tie policy), loo_agreement (share of them
        on which the annotator's code equals the others' reference), loo_kappa (Cohen's kappa of
        the same comparisons); NaN where an annotator has none.
    """
    _, per_rater = leave_one_out_blocks(codes.to_numpy(dtype=float), split_policy,
                                        None if values is None else values.to_numpy(dtype=float))
    agreement, n = percent_from_blocks(per_rater, tie_policy)
    kappa = kappa_from_blocks(per_rater, tie_policy)
    return pd.DataFrame({"annotator": pd.Series(list(codes.columns), dtype=object), "loo_n": n.astype(int),
                         "loo_agreement": agreement, "loo_kappa": kappa})


def annotator_quality(codes: pd.DataFrame, labels: pd.DataFrame, events: pd.DataFrame,
                      tie_policy: str, split_policy: str = DEFAULT_SPLIT_POLICY,
                      values: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per annotator.

    Args:
        codes: items x annotators, codes in {-1, 0, 1}, NaN where missing.
        labels: annotator, seconds (time on the item as recorded with the label; may be NaN).
        events: annotator, labels, skipped_items, flagged_items (storage.analysis.annotator_event_counts).
        split_policy: how the others' reference is made (annotate.analysis.reference); values: the
            signed label values (items x annotators) for the mean-sign policy.

    Returns:
        COLUMNS. skip_rate = skipped items / (labels + skipped items), the share of the items the
        annotator opened and left; flag_rate = flagged items / (labels + skipped items).
        median_seconds is the median over labels with a recorded time.
    """
    loo = loo_agreement(codes, tie_policy, split_policy, values)
    seconds = labels.groupby("annotator")["seconds"].median().rename("median_seconds")
    seconds.index = seconds.index.astype(object)
    counts = events.rename(columns={"skipped_items": "skipped", "flagged_items": "flagged"})
    counts = counts[["annotator", "labels", "skipped", "flagged"]].astype({"annotator": object})
    frame = counts.merge(loo, on="annotator", how="outer")
    frame = frame.merge(seconds, left_on="annotator", right_index=True, how="left")
    frame[["labels", "skipped", "flagged", "loo_n"]] = frame[["labels", "skipped", "flagged", "loo_n"]].fillna(0)
    opened = frame["labels"] + frame["skipped"]
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["skip_rate"] = np.where(opened > 0, frame["skipped"] / opened.where(opened > 0, 1), np.nan)
        frame["flag_rate"] = np.where(opened > 0, frame["flagged"] / opened.where(opened > 0, 1), np.nan)
    frame = frame.rename(columns={"skipped": "skips", "flagged": "flags"})
    frame["tie_policy"] = tie_policy
    return frame[COLUMNS].sort_values("annotator").reset_index(drop=True)
