"""Altair charts and table words of the agreement report (presentation only: every number comes
from the report).

Every chart stays legible with 1 to 30 raters: its height grows with the rows it draws (a plot
area of at least MIN_PLOT px), rater names are never truncated (axis labels have no width
limit), cell text is dark on light cells and white on dark ones, and titles are words.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from annotate.analysis.report_types import CEILING
from annotate.study.quality import QUALITY_WORDS

MIN_PLOT = 220
ROW = 34
NAMES = alt.Axis(labelLimit=1000, labelOverlap=False, title=None, labelFontSize=13)
# Field -> (title, one-line definition with its source). Tables and tooltips use these words.
MEASURES = {
    "rater": ("Rater", "A human annotator, an AI judge, or the human ceiling."),
    "kind": ("Kind", "human or judge"),
    "majority_n": ("Items compared", "Items with a strict human majority that the rater labeled."),
    "majority_agreement": ("Agreement with the human majority",
                           "Share of items where the rater's verdict equals the strict majority of the humans "
                           "(Zheng et al. 2023, MT-Bench, arXiv 2306.05685)."),
    "majority_kappa": ("Cohen's kappa with the majority",
                       "Agreement with the human majority corrected for chance (Cohen 1960)."),
    "pairwise_n": ("Rater pairs", "Pairs of (this rater, one human) on the same item."),
    "pairwise_agreement": ("MT-Bench agreement (all pairs)",
                           "Share of agreeing pairs of distinct raters on the same item "
                           "(Zheng et al. 2023, MT-Bench, arXiv 2306.05685)."),
    "tie_policy": ("Tie policy", "with_ties: a tie is a category; without_ties: pairs with a tie are dropped "
                                 "(MT-Bench setups S1 and S2)."),
    "n_boot": ("Bootstrap resamples", "Resamples of items for the 95% percentile intervals (Efron 1979)."),
    "reason": ("Note", "Why a value is missing."),
    "rater_a": ("Rater", ""), "rater_b": ("Other rater", ""), "kind_a": ("Kind", ""), "kind_b": ("Other kind", ""),
    "n": ("Items both labeled", "Items (or units) both raters labeled."),
    "agreement": ("Agreement", "Share of items where the two raters give the same category or score."),
    "kappa": ("Cohen's kappa", "Agreement corrected for chance (Cohen 1960)."),
    "kappa_linear": ("Kappa (linear weights)", "Weighted kappa, disagreement weighted by distance (Cohen 1968)."),
    "kappa_quadratic": ("Kappa (quadratic weights)", "Weighted kappa, squared distance (Cohen 1968); usual for "
                                                     "ordinal scores."),
    "pearson": ("Pearson r", "Linear correlation of the two raters' scores (Pearson 1895)."),
    "level": ("Level", "item: per response; system: mean score per model (Kim et al. 2023, Prometheus, "
                       "arXiv 2310.08491)."),
    "method": ("Correlation", "pearson, spearman or kendall."),
    "r": ("Correlation with the human mean", "Correlation of the rater's score with the mean human score "
                                             "(Kim et al. 2023, Prometheus, arXiv 2310.08491)."),
    "p_value": ("p-value", "Two-sided test of no correlation."),
    "alpha": ("Krippendorff's alpha", "Chance-corrected agreement of any number of raters with missing labels "
                                      "(Krippendorff 2011)."),
    "metric": ("Distance", "How far apart two values are: nominal, ordinal, interval or ratio (Krippendorff 2011)."),
    "consistency": ("Same verdict in both orders", "Share of items where the judge gives the same verdict "
                                                   "when A and B are swapped (Zheng et al. 2023, section 3.3)."),
    "p_prefer_longer": ("Prefers the longer response", "P(prefer the longer | length gap > 30 characters); "
                                                       "0.5 is no length bias (Dubois et al. 2024, arXiv 2404.04475)."),
    "p_left": ("Chooses the left response", "Share of decided human labels that chose the response shown on the "
                                            "left; 0.5 is no position bias."),
    "labels": ("Labels", "Current labels."),
    "loo_n": ("Items compared", "Items where the other annotators have a strict majority."),
    "loo_agreement": ("Agreement with the others", "Share of items where the annotator matches the strict "
                                                   "majority of the other annotators (leave-one-out)."),
    "loo_kappa": ("Kappa with the others", "Cohen's kappa with the majority of the others (Cohen 1960)."),
    "median_seconds": ("Median seconds", "Median time on an item."),
    "skips": ("Skips", ""), "flags": ("Flags", ""),
    "skip_rate": ("Skip rate", "Skipped items / items opened."), "flag_rate": ("Flag rate", "Flagged items / opened."),
    "model": ("Model", ""), "source": ("Judged by", "humans or a judge"),
    "rating": ("Rating (Arena scale)", "Bradley-Terry strength on the Elo-like Arena scale "
                                       "(Chiang et al. 2024, Chatbot Arena, arXiv 2403.04132)."),
    "tau": ("Kendall's tau with the humans' ranking", "Rank correlation of the model rankings (Kendall 1938)."),
    "win_rate": ("Win rate", "Share of comparisons won, ties counting half."),
    "reference": ("Compared with", "The reference label: the human majority (split votes under the project's "
                                   "policy; an adjudicated label wins), a gold rater, or the other humans."),
    "majority_n_parsed": ("Items compared (parsed only)", "Items with a reference where the judge's reply parsed."),
    "majority_agreement_parsed": ("Agreement, parsed replies only", "Agreement with the reference over the items "
                                                                    "whose judge reply parsed (unparsed left out)."),
    "coverage": ("Coverage", "Share of the items whose judge reply parsed."),
    "split_policy": ("Split votes", "How an item without a strict human majority gets its reference."),
    "n_units": ("Units", "Items (or responses) with at least two human labels."),
    "n_values": ("Labels", "Human labels over those units."),
    "judge": ("Judge", ""), "judge_verdict": ("Judge's verdict", ""), "human_majority": ("Human majority", ""),
    "count": ("Items", ""), "n_items": ("Items judged in both orders", ""),
    "consistent": ("Same verdict in both orders", "Share of items where the verdict survives swapping A and B "
                                                  "(Zheng et al. 2023, MT-Bench, section 3.3)."),
    "biased_first": ("Prefers whichever is shown first", "Share of items where the judge picks the first "
                                                         "response in both orders."),
    "biased_second": ("Prefers whichever is shown second", "Share of items where the judge picks the second "
                                                           "response in both orders."),
    "other": ("Other changes", "Share of items with another change of verdict (e.g. to a tie)."),
    "n_pairs_long_diff": ("Pairs with a length gap > 30 characters", ""),
    "n_ties": ("Ties", ""), "n_preferences": ("Decided preferences", ""),
    "annotator": ("Annotator", ""), "n_labels": ("Labels", ""), "left": ("Chose left", ""), "right": ("Chose right", ""),
    "rank": ("Rank", ""), "games": ("Comparisons", ""), "converged": ("Converged", "Whether the Bradley-Terry "
                                                                                  "fit converged."),
    "iterations": ("Iterations", ""), "kendall_tau": ("Kendall's tau with the humans' ranking",
                                                      "Rank correlation of the model rankings (Kendall 1938)."),
    "n_models": ("Models", ""), "opponent": ("Opponent", ""),
    "measure": ("Measure", ""), "over": ("Over", "all items: an unparsed reply counts as wrong; parsed items: "
                                                 "unparsed replies left out."),
    "value": ("Value", ""), "lo": ("95% low", "Percentile bootstrap over items."), "hi": ("95% high", ""),
    "n_total": ("Items", ""), "n_parsed": ("Parsed", ""), "definition": ("Definition", ""),
    "order": ("Order shown", "AB: A first; BA: B first."), "judgments": ("Judgments", ""),
    "parsed": ("Parsed", ""), "unparsed": ("Unparsed", ""), "out_of_range": ("Scores off the scale", ""),
    "items": ("Items", ""), "items_parsed": ("Items parsed", ""),
}
MEASURES |= {k: v for k, v in QUALITY_WORDS.items() if k not in MEASURES}  # the crowd study's quality table
OVERVIEW = {"items": "Items", "units": "Responses (rubric units)", "human_labels": "Human labels",
            "annotators": "Annotators", "items_labeled": "Items with a human label",
            "items_with_2_labels": "Items with two or more human labels",
            "units_with_2_labels": "Responses with two or more human scores",
            "items_at_overlap": "Items with the wanted number of labels (k)", "overlap": "Labels wanted per item (k)",
            "items_without_majority": "Items where the humans split", "split_policy": "Split votes",
            "items_with_reference": "Items with a reference label", "units_with_reference": "Responses with a reference",
            "items_adjudicated": "Items adjudicated by a researcher", "gold_raters": "Gold raters",
            "items_with_gold": "Items with a gold label", "judges": "AI judges", "judge_verdicts": "Verdicts per judge",
            "rubric_reference": "Reference score", "judge_scores_out_of_range": "Judge scores off the scale"}


def overview_table(overview: dict) -> pd.DataFrame:
    """The report's overview as Measure / Value rows in words (lists and per-judge counts spelled out)."""
    def text(value) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value)) or "none"
        return str(value)
    return pd.DataFrame([{"Measure": OVERVIEW.get(k, k.replace("_", " ").capitalize()), "Value": text(v)}
                         for k, v in overview.items()])


def fit_width(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Stretch the chart to the page's width but keep its height for the plot area alone (the
    default 'fit' squeezes the axes and title into the height, leaving a strip of plot)."""
    return chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


MISSING = "–"  # a number the report could not compute (its reason is in the row)


def words(field: str) -> str:
    """The title of a report field (its own name with spaces when it has none)."""
    return MEASURES.get(field, (field.replace("_", " ").capitalize(), ""))[0]


def show_table(frame: pd.DataFrame) -> None:
    """A report table with titles in words, a one-line help per measure and rounded numbers; a
    number that could not be computed shows as a dash, not as 'None' (Streamlit draws a missing
    number as 'None', so such a column is shown as text)."""
    config, shown = {}, frame.reset_index(drop=True)
    for column in frame.columns:
        title, help_text = MEASURES.get(column, (words(column), ""))
        if column.endswith(("_lo", "_hi")) and column[:-3] in MEASURES:
            title = f"{words(column[:-3])}, 95% {'low' if column.endswith('_lo') else 'high'}"
        if pd.api.types.is_float_dtype(frame[column]):
            values = frame[column].dropna()
            whole = column.startswith("rating") or (len(values) and (values == values.round()).all())
            pattern = "{:.0f}" if whole else "{:.3f}"
            if values.size < len(frame):
                shown[column] = [MISSING if pd.isna(v) else pattern.format(v) for v in shown[column]]
                config[column] = st.column_config.TextColumn(title, help=help_text or None, alignment="right")
            else:
                config[column] = st.column_config.NumberColumn(title, help=help_text or None,
                                                               format="%.0f" if whole else "%.3f")
        else:
            config[column] = st.column_config.Column(title, help=help_text or None)
    text = [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
    shown = shown.assign(**{c: shown[c].fillna("") for c in text})
    if "measure" in text:  # measure names as words ('accuracy_first' -> 'accuracy first')
        shown["measure"] = shown["measure"].astype(str).str.replace("_", " ")
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch")


def forest_chart(judges: pd.DataFrame, metric: str) -> alt.Chart:
    """Each judge's value of `metric` as a dot with its bootstrap interval, and the human ceiling as
    a shaded band (its interval) with a rule at its value."""
    raters = judges[judges["kind"] == "judge"].dropna(subset=[metric])
    ceiling = judges[judges["rater"] == CEILING].dropna(subset=[metric])
    title = words(metric)
    low = min(0.0, float(pd.concat([judges[f"{metric}_lo"], judges[metric]]).min(skipna=True) or 0.0))
    x = alt.X(f"{metric}:Q", title=title, scale=alt.Scale(domain=[low, 1]), axis=alt.Axis(format="%"
                                                                                      if "kappa" not in metric else ".1f"))
    y = alt.Y("rater:N", axis=NAMES, sort=alt.EncodingSortField(metric, order="descending"))
    tooltip = ["rater", alt.Tooltip(f"{metric}:Q", format=".3f", title=title),
               alt.Tooltip(f"{metric}_lo:Q", format=".3f", title="95% low"),
               alt.Tooltip(f"{metric}_hi:Q", format=".3f", title="95% high")]
    layers = []
    if len(ceiling):
        row = ceiling.iloc[0]
        band = ceiling.assign(label=f"Human ceiling {row[metric]:.3f}" + (
            f" (95%: {row[f'{metric}_lo']:.3f} to {row[f'{metric}_hi']:.3f})" if pd.notna(row[f"{metric}_lo"]) else ""))
        layers += [alt.Chart(band).mark_rect(color="#f4a261", opacity=0.25).encode(
                       x=f"{metric}_lo:Q", x2=f"{metric}_hi:Q", tooltip=tooltip[1:]),
                   alt.Chart(band).mark_rule(color="#e76f51", size=2).encode(x=f"{metric}:Q", tooltip=tooltip[1:]),
                   alt.Chart(band).mark_text(color="#9c3d1f", align="right" if row[metric] > 0.5 else "left",
                                             dx=-6 if row[metric] > 0.5 else 6, dy=-6, baseline="bottom",
                                             fontSize=12).encode(x=f"{metric}:Q", y=alt.value(0), text="label:N")]
    base = alt.Chart(raters).encode(y=y)
    layers += [base.mark_rule(size=2, color="#264653").encode(x=f"{metric}_lo:Q", x2=f"{metric}_hi:Q"),
               base.mark_point(filled=True, size=110, color="#264653", opacity=1).encode(x=x, tooltip=tooltip)]
    height = max(MIN_PLOT, ROW * len(raters) + 40)
    return fit_width(alt.layer(*layers).properties(height=height, title=f"{title}: each judge, 95% interval; "
                                                                       f"shaded: the human ceiling"))


def confusion_chart(confusion: pd.DataFrame) -> alt.Chart:
    """Judge verdict x human majority counts, one heatmap per judge."""
    order = ["A", "tie", "B"]
    top = max(int(confusion["count"].max()), 1)
    base = alt.Chart(confusion).encode(x=alt.X("human_majority:N", sort=order, title="Human majority",
                                               axis=alt.Axis(labelAngle=0)),
                                       y=alt.Y("judge_verdict:N", sort=order, title="Judge's verdict"))
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), title="Items"),
                                    tooltip=[alt.Tooltip("judge", title="Judge"),
                                             alt.Tooltip("judge_verdict", title="Judge's verdict"),
                                             alt.Tooltip("human_majority", title="Human majority"),
                                             alt.Tooltip("count", title="Items")])
    text = base.mark_text(fontSize=14).encode(text="count:Q", color=alt.condition(
        alt.datum.count > top * 0.55, alt.value("white"), alt.value("#1d1d1d")))
    return (cells + text).properties(width=MIN_PLOT, height=MIN_PLOT).facet(
        column=alt.Column("judge:N", title=None, header=alt.Header(labelLimit=1000, labelFontSize=13)))


ABBREVIATE_OVER = 520  # px the full names would take on the x axis before they become numbers


def rater_heatmap(pairs: pd.DataFrame, value: str) -> alt.Chart:
    """A symmetric rater-by-rater heatmap (humans and judges together) of `value`.

    Up to a handful of raters the axes show full names. When the names would not fit the page
    (many raters, long names) the axes show numbers and a legend below the heatmap lists
    "number  full name", so every name stays in the chart and nothing is truncated.
    """
    both = pd.concat([pairs, pairs.rename(columns={"rater_a": "rater_b", "rater_b": "rater_a",
                                                    "kind_a": "kind_b", "kind_b": "kind_a"})])
    names = sorted(set(both["rater_a"]))
    is_abbreviated = len(names) * max(map(len, names), default=0) * 7 > ABBREVIATE_OVER * 2
    codes = {name: (f"{i + 1}" if is_abbreviated else name) for i, name in enumerate(names)}
    both = both.assign(code_a=both["rater_a"].map(codes), code_b=both["rater_b"].map(codes))
    order = [codes[n] for n in names]
    cell = min(46, max(24, 760 // max(len(names), 1)))  # 30 raters still fit the page's width
    size = max(MIN_PLOT, cell * len(names))
    x_axis = alt.Axis(labelLimit=1000, labelAngle=0 if is_abbreviated else -40, labelOverlap=False, title=None,
                      labelFontSize=13 if len(names) < 16 else 11)
    base = alt.Chart(both).encode(x=alt.X("code_a:N", sort=order, axis=x_axis),
                                  y=alt.Y("code_b:N", sort=order, axis=NAMES))
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues", domain=[0, 1], clamp=True), title=words(value),
                        legend=alt.Legend(orient="top" if is_abbreviated else "right")),
        tooltip=[alt.Tooltip("rater_a", title="Rater"), alt.Tooltip("rater_b", title="Other rater"),
                 alt.Tooltip("n", title="Items both labeled"), alt.Tooltip(f"{value}:Q", format=".3f", title=words(value))])
    text = base.mark_text(fontSize=12 if len(names) < 16 else 9).encode(
        text=alt.Text(f"{value}:Q", format=".2f"),
        color=alt.condition(f"datum['{value}'] > 0.6", alt.value("white"), alt.value("#1d1d1d")))
    diagonal = alt.Chart(pd.DataFrame({"code_a": order, "code_b": order})).mark_rect(color="#eeeeee").encode(
        x=alt.X("code_a:N", sort=order), y=alt.Y("code_b:N", sort=order))
    heatmap = (diagonal + cells + text).properties(width=size, height=size,
                                                   title=f"{words(value)} between every pair of raters")
    padded = alt.AutoSizeParams(type="pad", contains="padding")
    if not is_abbreviated:
        return heatmap.properties(autosize=padded)
    return alt.vconcat(heatmap, name_legend(names), spacing=24).properties(autosize=padded)


def name_legend(names: list[str], width: int = 780) -> alt.Chart:
    """The legend of abbreviated axes: 'number  full name' in as many columns as fit `width` px."""
    column_px = min(width, 7 * max(map(len, names)) + 40)
    columns = max(1, width // column_px)
    rows = -(-len(names) // columns)
    legend = pd.DataFrame({"label": [f"{i + 1}  {name}" for i, name in enumerate(names)],
                           "x": [(i // rows) * column_px for i in range(len(names))],
                           "row": [i % rows for i in range(len(names))]})
    return alt.Chart(legend).mark_text(align="left", fontSize=12, color="#333").encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, columns * column_px])), y=alt.Y("row:O", axis=None),
        text="label:N").properties(width=columns * column_px, height=18 * rows, title="Raters")


def ratings_chart(ratings: pd.DataFrame) -> alt.Chart:
    """Bradley-Terry ratings with bootstrap intervals, one colour per source (humans, judges)."""
    data = ratings.dropna(subset=["rating"])
    models = data["model"].nunique()
    sources = data["source"].nunique()
    base = alt.Chart(data).encode(y=alt.Y("model:N", axis=NAMES),
                                  color=alt.Color("source:N", title="Judged by", scale=alt.Scale(scheme="tableau10"),
                                                  legend=alt.Legend(labelLimit=1000)),
                                  yOffset="source:N")
    points = base.mark_point(filled=True, size=80).encode(
        x=alt.X("rating:Q", scale=alt.Scale(zero=False), title="Rating (Arena scale)"),
        tooltip=[alt.Tooltip("source", title="Judged by"), alt.Tooltip("model", title="Model"),
                 alt.Tooltip("rating:Q", format=".0f", title="Rating"),
                 alt.Tooltip("rating_lo:Q", format=".0f", title="95% low"),
                 alt.Tooltip("rating_hi:Q", format=".0f", title="95% high")])
    errors = base.mark_rule(size=2).encode(x="rating_lo:Q", x2="rating_hi:Q")
    return fit_width((points + errors).properties(height=max(MIN_PLOT, 14 * models * sources + 40),
                                                  title="Model ratings by each rater (Bradley-Terry, 95% interval)"))


def length_chart(length: pd.DataFrame) -> alt.Chart:
    """P(prefer the longer response) per rater, with 0.5 (no preference) as a rule."""
    bars = alt.Chart(length).mark_bar(size=18).encode(
        x=alt.X("p_prefer_longer:Q", scale=alt.Scale(domain=[0, 1]), title="Prefers the longer response",
                axis=alt.Axis(format="%")),
        y=alt.Y("rater:N", axis=NAMES), color=alt.Color("kind:N", title="Kind"),
        tooltip=[alt.Tooltip(c, title=words(c)) for c in length.columns])
    rule = alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4], color="#444").encode(x="x:Q")
    return fit_width((bars + rule).properties(height=max(MIN_PLOT, ROW * len(length) + 40),
                                              title="Length bias: how often each rater prefers the longer response"))


def distribution_chart(scores: pd.DataFrame) -> alt.Chart:
    """Per criterion, the share of each score given by the humans and by each judge (rubric)."""
    return alt.Chart(scores).mark_bar().encode(
        x=alt.X("score:O", title="Score", axis=alt.Axis(labelAngle=0)), xOffset=alt.XOffset("rater:N"),
        y=alt.Y("share:Q", title="Share of scores", axis=alt.Axis(format="%")),
        color=alt.Color("rater:N", title="Scored by", scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(labelLimit=1000, orient="bottom")),
        tooltip=[alt.Tooltip("criterion", title="Criterion"), alt.Tooltip("rater", title="Scored by"),
                 alt.Tooltip("score", title="Score"), alt.Tooltip("count", title="Scores"),
                 alt.Tooltip("share:Q", format=".0%", title="Share")],
    ).properties(width=210, height=MIN_PLOT).facet(
        column=alt.Column("criterion:N", title=None, header=alt.Header(labelFontSize=13)))


def criterion_chart(table: pd.DataFrame) -> alt.Chart:
    """Per criterion and rater, the item-level Spearman correlation with the human mean (rubric)."""
    y = alt.Y("rater:N", axis=NAMES)
    points = alt.Chart(table).mark_point(filled=True, size=110).encode(
        x=alt.X("r:Q", scale=alt.Scale(domain=[-1, 1]), title="Spearman correlation with the human mean score"),
        y=y, color=alt.Color("criterion:N", title="Criterion", scale=alt.Scale(scheme="tableau10")),
        yOffset="criterion:N",
        tooltip=[alt.Tooltip("criterion", title="Criterion"), alt.Tooltip("rater", title="Rater"),
                 alt.Tooltip("r:Q", format=".3f", title="Spearman r"), alt.Tooltip("n", title="Responses")])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#888").encode(x="x:Q")
    rows = table["rater"].nunique() * max(table["criterion"].nunique(), 1)
    return fit_width((zero + points).properties(height=max(MIN_PLOT, 18 * rows + 40),
                                                title="Judges vs humans per criterion (item level; the ceiling: "
                                                      "each human against the others)"))


def annotator_chart(annotators: pd.DataFrame) -> alt.Chart:
    """Each annotator's agreement with the majority of the others (leave-one-out), with 50% and
    the annotators' median as references."""
    data = annotators.dropna(subset=["loo_agreement"])
    y = alt.Y("annotator:N", axis=NAMES, sort=alt.EncodingSortField("loo_agreement", order="ascending"))
    bars = alt.Chart(data).mark_bar(size=16, color="#2a9d8f").encode(
        x=alt.X("loo_agreement:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title="Agreement with the majority of the other annotators"), y=y,
        tooltip=[alt.Tooltip("annotator", title="Annotator"), alt.Tooltip("labels", title="Labels"),
                 alt.Tooltip("loo_n", title="Items compared"),
                 alt.Tooltip("loo_agreement:Q", format=".3f", title="Agreement with the others")])
    median = alt.Chart(data).mark_rule(color="#e76f51", strokeDash=[6, 3], size=2).encode(
        x="median(loo_agreement):Q")
    return fit_width((bars + median).properties(height=max(MIN_PLOT, ROW * len(data) + 40),
                                                title="Each annotator against the others (dashed: the median)"))
