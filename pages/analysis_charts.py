"""Altair charts of the agreement report (presentation only: every number comes from the report)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from annotate.analysis.report import CEILING


def agreement_chart(judges: pd.DataFrame, metric: str) -> alt.Chart:
    """Each judge's agreement with its bootstrap interval, and the human ceiling as a rule."""
    raters = judges[judges["kind"] == "judge"]
    ceiling = judges[judges["rater"] == CEILING]
    base = alt.Chart(raters).encode(y=alt.Y("rater:N", title=None))
    bars = base.mark_bar().encode(x=alt.X(f"{metric}:Q", title=metric.replace("_", " "),
                                          scale=alt.Scale(domain=[0, 1])),
                                  tooltip=["rater", alt.Tooltip(f"{metric}:Q", format=".3f"),
                                           alt.Tooltip(f"{metric}_lo:Q", format=".3f"),
                                           alt.Tooltip(f"{metric}_hi:Q", format=".3f")])
    errors = base.mark_errorbar(color="black").encode(x=f"{metric}_lo:Q", x2=f"{metric}_hi:Q")
    rule = alt.Chart(ceiling).mark_rule(color="red", strokeDash=[6, 3], size=2).encode(
        x=f"{metric}:Q", tooltip=[alt.Tooltip(f"{metric}:Q", format=".3f", title="human ceiling")])
    return (bars + errors + rule).properties(height=max(80, 40 * len(raters)))


def confusion_chart(confusion: pd.DataFrame) -> alt.Chart:
    """Judge verdict x human majority counts, one heatmap per judge."""
    order = ["A", "tie", "B"]
    base = alt.Chart(confusion).encode(x=alt.X("human_majority:N", sort=order, title="human majority"),
                                       y=alt.Y("judge_verdict:N", sort=order, title="judge verdict"))
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
                                    tooltip=["judge", "judge_verdict", "human_majority", "count"])
    text = base.mark_text().encode(text="count:Q")
    return (cells + text).properties(width=180, height=180).facet(column=alt.Column("judge:N", title=None))


def rater_heatmap(pairs: pd.DataFrame, value: str) -> alt.Chart:
    """A symmetric rater-by-rater heatmap (humans and judges together) of `value`."""
    both = pd.concat([pairs, pairs.rename(columns={"rater_a": "rater_b", "rater_b": "rater_a"})])
    base = alt.Chart(both).encode(x=alt.X("rater_a:N", title=None), y=alt.Y("rater_b:N", title=None))
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="viridis")),
                                    tooltip=["rater_a", "rater_b", "n", alt.Tooltip(f"{value}:Q", format=".3f")])
    text = base.mark_text(color="white").encode(text=alt.Text(f"{value}:Q", format=".2f"))
    return (cells + text).properties(height=max(200, 40 * both["rater_a"].nunique()))


def ratings_chart(ratings: pd.DataFrame) -> alt.Chart:
    """Bradley-Terry ratings with bootstrap intervals, one colour per source (humans, judges)."""
    base = alt.Chart(ratings.dropna(subset=["rating"])).encode(
        y=alt.Y("model:N", title=None), color=alt.Color("source:N"), yOffset="source:N")
    points = base.mark_point(filled=True).encode(
        x=alt.X("rating:Q", scale=alt.Scale(zero=False), title="rating (Arena scale)"),
        tooltip=["source", "model", alt.Tooltip("rating:Q", format=".0f"),
                 alt.Tooltip("rating_lo:Q", format=".0f"), alt.Tooltip("rating_hi:Q", format=".0f")])
    errors = base.mark_errorbar().encode(x="rating_lo:Q", x2="rating_hi:Q")
    return points + errors


def length_chart(length: pd.DataFrame) -> alt.Chart:
    """P(prefer the longer response) per rater, with 0.5 (no preference) as a rule."""
    bars = alt.Chart(length).mark_bar().encode(
        x=alt.X("p_prefer_longer:Q", scale=alt.Scale(domain=[0, 1]), title="P(prefer longer)"),
        y=alt.Y("rater:N", title=None), color="kind:N", tooltip=list(length.columns))
    rule = alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return bars + rule
