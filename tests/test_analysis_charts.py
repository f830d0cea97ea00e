"""The Analysis page's charts stay legible from 1 to 30 raters (Vega-Lite specs, no browser):
plot areas of at least 200 px that grow with the rows, full rater names, readable cell text,
titles in words. The browser test (test_researcher_pages_browser.py) checks the rendered charts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annotate.analysis.report_types import CEILING
from pages import analysis_charts as charts

LONG = "a-rater-with-a-very-long-name-that-used-to-be-truncated"


def judges_table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    names = [f"{LONG}-{i}" for i in range(n)] + [CEILING]
    value = rng.uniform(0.4, 0.9, n + 1)
    return pd.DataFrame({"rater": names, "kind": ["judge"] * n + ["human"], "majority_agreement": value,
                         "majority_agreement_lo": value - 0.05, "majority_agreement_hi": value + 0.05})


def pairs_table(n: int) -> pd.DataFrame:
    names = [f"{LONG}-{i}" for i in range(n)]
    rows = [{"rater_a": a, "rater_b": b, "kind_a": "human", "kind_b": "human", "n": 10, "kappa": 0.1 * (i % 10)}
            for i, (a, b) in enumerate((a, b) for k, a in enumerate(names) for b in names[k + 1:])]
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "kind_a", "kind_b", "n", "kappa"])


def layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


@pytest.mark.parametrize("n", [1, 2, 30])
def test_forest_plot_grows_with_judges_and_draws_the_ceiling_band(n):
    spec = charts.forest_chart(judges_table(n), "majority_agreement").to_dict()
    assert spec["height"] >= max(charts.MIN_PLOT, charts.ROW * n)
    assert spec["autosize"]["type"] == "fit-x"  # the height is the plot area's, axes come on top
    marks = [layer["mark"]["type"] for layer in layers(spec)]
    assert marks[:2] == ["rect", "rule"] and "point" in marks  # ceiling band + rule, judges' dots
    assert spec["title"].startswith("Agreement with the human majority")
    y_axis = next(layer["encoding"]["y"]["axis"] for layer in layers(spec)
                  if "axis" in layer.get("encoding", {}).get("y", {}))
    assert y_axis["labelLimit"] >= 1000 and y_axis["labelOverlap"] is False


@pytest.mark.parametrize("n", [2, 30])
def test_rater_heatmap_keeps_every_name_and_dark_text_on_light_cells(n):
    pairs = pairs_table(n)
    spec = charts.rater_heatmap(pairs, "kappa").to_dict()
    heatmap = spec["vconcat"][0] if n == 30 else spec  # 30 long names: numbered axes and a legend of names
    assert heatmap["height"] >= max(charts.MIN_PLOT, 24 * n) and heatmap["width"] == heatmap["height"] <= 800
    text = next(layer for layer in layers(heatmap) if layer["mark"]["type"] == "text")
    condition = text["encoding"]["color"]
    assert condition["value"] == "#1d1d1d" and condition["condition"]["value"] == "white"
    x_axis = next(layer["encoding"]["x"] for layer in layers(heatmap) if "axis" in layer["encoding"]["x"])["axis"]
    assert x_axis["labelLimit"] >= 1000 and x_axis["labelOverlap"] is False
    names = set(pairs["rater_a"]) | set(pairs["rater_b"])
    if n == 30:
        legend = spec["vconcat"][1]
        labels = spec["datasets"][legend["data"]["name"]]
        assert {row["label"].split("  ", 1)[1] for row in labels} == names
    else:
        cells = spec["datasets"][text["data"]["name"]]
        assert {row["code_a"] for row in cells} == names  # full names on the axes


def test_every_report_field_has_words_and_measures_name_their_paper():
    for field in ["majority_agreement", "majority_kappa", "pairwise_agreement", "alpha", "consistent",
                  "p_prefer_longer", "rating", "kendall_tau", "r"]:
        title, help_text = charts.MEASURES[field]
        assert "_" not in title
        assert any(char.isdigit() for char in help_text), f"{field}: the help should cite a paper and year"


def test_overview_is_in_words():
    table = charts.overview_table({"items": 3, "judge_verdicts": {"gpt": 2}, "gold_raters": []})
    assert table.to_dict("records") == [{"Measure": "Items", "Value": "3"},
                                        {"Measure": "Verdicts per judge", "Value": "gpt: 2"},
                                        {"Measure": "Gold raters", "Value": "none"}]
