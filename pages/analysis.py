"""Researcher: judges vs humans against the human ceiling, with intervals, bias and rankings.

Charts and table words live in pages/analysis_charts.py; every number comes from
annotate.analysis.report (and annotate.analysis.rubric_views for rubric projects)."""
import pandas as pd
import streamlit as st

from annotate import projects
from annotate.analysis import agreement, report as report_lib, rubric_views
from annotate.errors import AnnotateError
from annotate.study import exclusion, quality
from annotate.data.export_files import csv_bytes
from pages import analysis_charts as charts, session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Analysis: {project.name}")
is_pairwise = project.task_type == "pairwise"

options = report_lib.slice_options(conn, project.name)
left, middle, right, last = st.columns(4)
aspect = left.selectbox("Aspect" if is_pairwise else "Criterion", options["aspects"])
tie_policy = middle.selectbox("Tie policy", agreement.TIE_POLICIES, disabled=not is_pairwise,
                              format_func={"with_ties": "Ties count as a category",
                                           "without_ties": "Leave out comparisons with a tie"}.get,
                              help="MT-Bench (Zheng et al. 2023) setups S1 (with ties) and S2 (without).")
meta = options["metadata"]
slices = [None] + [(k, v) for k, v in zip(meta["key"], meta["value"])]
chosen = right.selectbox("Metadata slice", slices,
                         format_func=lambda s: "All items" if s is None else f"{s[0]} = {s[1]}")
n_boot = last.number_input("Bootstrap resamples", 0, 5000, 200, step=100,
                           help="Resamples of items for the 95% percentile intervals (Efron 1979).")
calibration = st.checkbox(f"Only the router's calibration items ({options['calibration_items']})",
                          disabled=options["calibration_items"] == 0)
include_excluded = st.checkbox("Include excluded participants", help="Crowd studies: participants who failed "
                               "attention checks or were excluded on the Review page are left out by default.",
                               disabled=exclusion.study_version(conn, project.name)[1] == 0)


def download(frame: pd.DataFrame, name: str) -> None:
    st.download_button(f"Download {name}.csv", csv_bytes(frame), key=f"csv-{name}",
                       file_name=f"{project.name}-{name}.csv", icon=":material/download:")


def table(frame: pd.DataFrame, name: str) -> None:
    """A report table in words, with its CSV download."""
    if frame.empty:
        st.caption("Nothing to show for this selection.")
        return
    charts.show_table(frame)
    download(frame, name)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_report(_conn, project_name: str, filters: report_lib.ReportFilters, version: tuple):
    """The report, recomputed only when the filters or the project's labels and judgments change
    (`version`), not on every click in the page's tabs."""
    report = report_lib.build_report(_conn, project_name, filters)
    if report.task_type == "rubric":
        return report, rubric_views.score_distributions(_conn, project_name, filters), \
            rubric_views.criterion_agreement(_conn, project_name, filters)
    return report, None, None


filters = report_lib.ReportFilters(aspect, tie_policy, chosen, calibration, int(n_boot), 0, include_excluded)
try:
    with st.spinner("Computing the report"):
        result, distributions, per_criterion = cached_report(conn, project.name, filters,
                                                             projects.data_version(conn, project.name)
                                                             + exclusion.study_version(conn, project.name))
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

if result.exclusion.get("participants") or result.exclusion.get("check_answers"):
    st.info(f"Study participants: {result.exclusion['statement']}")
tab_names = ["Overview", "Judges vs humans", "Raters", "Annotators", "Participants"] + (
    ["Bias", "Rankings"] if is_pairwise else [])
tabs = dict(zip(tab_names, st.tabs(tab_names)))
with tabs["Overview"]:
    overview = charts.overview_table(result.overview)
    st.dataframe(overview, hide_index=True, height=35 * (len(overview) + 1) + 3)
    reference = getattr(result, "reference", None) or {}
    if reference.get("statement"):
        st.caption(f"Reference label: {reference['statement'].rstrip('.')}. Items adjudicated by a researcher: "
                   f"{reference.get('items_adjudicated', 0)}; gold raters: "
                   f"{', '.join(reference.get('gold_raters', [])) or 'none'}.")
    st.caption("Agreement between humans (MT-Bench: all pairs of distinct humans) and Fleiss' kappa over "
               "humans (Fleiss 1971):")
    charts.show_table(pd.DataFrame([
        {"measure": "Agreement between humans", "value": result.human_agreement.get("agreement"),
         "pairs_or_items": result.human_agreement.get("n_pairs"), "reason": result.human_agreement.get("reason")},
        {"measure": "Fleiss' kappa", "value": result.fleiss.get("kappa"), "pairs_or_items": result.fleiss.get("n_items"),
         "reason": result.fleiss.get("reason")}]).astype({"value": float}))
with tabs["Judges vs humans"]:
    if is_pairwise and (result.judges["kind"] == "judge").any():
        metric = st.radio("Measure", ["majority_agreement", "majority_kappa", "pairwise_agreement"],
                          format_func=charts.words, horizontal=True,
                          help=" ".join(f"{charts.words(m)}: {charts.MEASURES[m][1]}" for m in
                                        ["majority_agreement", "majority_kappa", "pairwise_agreement"]))
        st.altair_chart(charts.forest_chart(result.judges, metric), width="stretch")
        if not result.confusion.empty:
            st.subheader("What each judge says, against the human majority")
            st.altair_chart(charts.confusion_chart(result.confusion), width="content")
            download(result.confusion, "confusion")
    elif is_pairwise:
        st.info("No AI judge has judged this project yet: run one on the Judges page.")
    else:
        st.subheader("Scores given by the humans and by each judge")
        st.altair_chart(charts.distribution_chart(distributions), width="content")
        st.altair_chart(charts.criterion_chart(per_criterion.dropna(subset=["r"])), width="stretch")
        table(per_criterion, "per-criterion")
    st.subheader(f"Judges vs humans{'' if is_pairwise else f': {aspect}'}")
    table(result.judges, "agreement")
    for name, title in [("definitions", "Every published definition side by side"),
                        ("coverage", "What each judge returned (parsed, unparsed, per order)"),
                        ("gold", "Accuracy against the gold labels")]:
        extra = getattr(result, name, pd.DataFrame())
        if isinstance(extra, pd.DataFrame) and not extra.empty:
            st.subheader(title)
            table(extra, name)
with tabs["Raters"]:
    value = "kappa" if "kappa" in result.pairs else "kappa_quadratic"
    if not result.pairs.empty:
        st.altair_chart(charts.rater_heatmap(result.pairs, value), width="content")
    table(result.pairs, "rater-pairs")
    st.subheader("Krippendorff's alpha over humans")
    table(result.alpha, "alpha")
with tabs["Annotators"]:
    if "loo_agreement" in result.annotators and result.annotators["loo_agreement"].notna().any():
        st.altair_chart(charts.annotator_chart(result.annotators), width="stretch")
    table(result.annotators, "annotators")
with tabs["Participants"]:
    st.caption(quality.PAGE_NOTE)
    table(result.participant_quality, "participant-quality")
if is_pairwise:
    with tabs["Bias"]:
        for name, frame, title in [("position", result.position, "Does a judge change its verdict when A and B "
                                                                  "are swapped?"),
                                   ("length", result.length, "Do raters prefer the longer response?"),
                                   ("side", result.side, "Do humans prefer the response shown on the left?")]:
            st.subheader(title)
            if name == "length" and not frame.empty:
                st.altair_chart(charts.length_chart(frame), width="stretch")
            table(frame, name)
    with tabs["Rankings"]:
        if not result.ratings.empty:
            st.altair_chart(charts.ratings_chart(result.ratings), width="stretch")
        for name, frame, title in [("ratings", result.ratings, "Model ratings"),
                                   ("ranking-tau", result.ranking_tau, "Does each judge rank the models like the "
                                                                       "humans?"),
                                   ("win-rates", result.win_rates, "Win rates")]:
            st.subheader(title)
            table(frame, name)
