"""A judge's combined verdict per item: average over both orders, inconsistency flag."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annotate.analysis.verdicts import combined_verdicts


def judgments(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["item_id", "presented_order", "verdict", "probs", "is_parsed"])
    return frame.assign(judge_id=1, judge="j", aspect="overall", response_idx=pd.NA)


def test_both_orders_are_averaged_and_a_flip_is_flagged_inconsistent():
    out = combined_verdicts(judgments([
        (1, "AB", "A", [0.7, 0.1, 0.2], True), (1, "BA", "B", [0.3, 0.1, 0.6], True),
        (2, "AB", "B", [0.1, 0.1, 0.8], True), (2, "BA", "B", [0.2, 0.2, 0.6], True)])).set_index("item_id")
    assert out.loc[1, ["p_a", "p_tie", "p_b"]].tolist() == pytest.approx([0.5, 0.1, 0.4])
    assert out.loc[1, "verdict"] == "A" and bool(out.loc[1, "is_inconsistent"])
    assert out.loc[2, "verdict"] == "B" and not out.loc[2, "is_inconsistent"]


def test_hard_verdicts_count_one_hot_and_equal_top_probabilities_make_a_tie():
    out = combined_verdicts(judgments([(1, "AB", "A", None, True), (1, "BA", "B", None, True)]))
    assert out.loc[0, ["p_a", "p_tie", "p_b"]].tolist() == [0.5, 0.0, 0.5]
    assert out.loc[0, "verdict"] == "tie"


def test_unparsed_judgments_are_kept_out_of_the_average_and_leave_no_verdict_alone():
    out = combined_verdicts(judgments([
        (1, "AB", None, None, False), (1, "BA", "B", [0.0, 0.2, 0.8], True),
        (2, "AB", None, None, False)])).set_index("item_id")
    assert out.loc[1, "verdict"] == "B" and out.loc[1, "n_parsed"] == 1 and out.loc[1, "n_judgments"] == 2
    assert pd.isna(out.loc[2, "verdict"]) and np.isnan(out.loc[2, "p_a"])


def test_coverage_counts_unparsed_and_out_of_range_scores_per_order():
    from annotate.analysis.verdicts import coverage_table
    frame = pd.DataFrame({"judge": ["j", "j", "j", "j", "k"], "item_id": [1, 1, 2, 2, 1],
                          "presented_order": ["AB", "BA", "AB", None, None], "is_parsed": [True, False, True, True, True],
                          "score": [1.0, None, 7.0, 2.0, 3.0]})
    table = coverage_table(frame, scale=[0, 1, 2, 3]).set_index(["judge", "order"])
    # j: AB item 1 parsed, item 2 scored 7 (off the 0-3 scale); BA item 1 unparsed; item 2 without order.
    assert table.loc[("j", "AB"), ["judgments", "parsed", "unparsed", "out_of_range", "items_parsed"]].tolist() == \
        [2, 1, 0, 1, 1]
    assert table.loc[("j", "BA"), ["parsed", "unparsed"]].tolist() == [0, 1]
    assert table.loc[("j", "all"), ["judgments", "parsed", "unparsed", "out_of_range", "items", "items_parsed"]
                     ].tolist() == [4, 2, 1, 1, 2, 2]
    assert table.loc[("k", "none"), "parsed"] == 1 and ("k", "AB") not in table.index
