"""Researcher: judges vs humans against the human ceiling, with intervals, bias and rankings."""
import pandas as pd
import streamlit as st

from annotate import projects
from annotate.analysis import agreement, report as report_lib
from annotate.errors import AnnotateError
from pages import analysis_charts as charts, session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Analysis: {project.name}")

options = report_lib.slice_options(conn, project.name)
left, middle, right, last = st.columns(4)
aspect = left.selectbox("Aspect / criterion", options["aspects"])
tie_policy = middle.selectbox("Tie policy", agreement.TIE_POLICIES,
                              help="with_ties: a tie is a category (MT-Bench S1); "
                                   "without_ties: comparisons with a tie are dropped (S2)")
meta = options["metadata"]
slices = [None] + [(k, v) for k, v in zip(meta["key"], meta["value"])]
chosen = right.selectbox("Metadata slice", slices,
                         format_func=lambda s: "All items" if s is None else f"{s[0]} = {s[1]}")
n_boot = last.number_input("Bootstrap resamples", 0, 5000, 200, step=100)
calibration = st.checkbox(f"Only the router's calibration items ({options['calibration_items']})",
                          disabled=options["calibration_items"] == 0)


def download(frame: pd.DataFrame, name: str) -> None:
    st.download_button(f"Download {name}.csv", frame.to_csv(index=False).encode(), key=f"csv-{name}",
                       file_name=f"{project.name}-{name}.csv", icon=":material/download:")


@st.cache_data(show_spinner=False, max_entries=32)
def cached_report(_conn, project_name: str, filters: report_lib.ReportFilters, version: tuple):
    """The report, recomputed only when the filters or the project's labels and judgments change
    (`version`), not on every click in the page's tabs."""
    return report_lib.build_report(_conn, project_name, filters)


try:
    with st.spinner("Computing the report"):
        result = cached_report(conn, project.name, report_lib.ReportFilters(
            aspect, tie_policy, chosen, calibration, int(n_boot), 0), projects.data_version(conn, project.name))
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

overview, judges_tab, raters_tab, bias_tab, people_tab, ranking_tab = st.tabs(
    ["Overview", "Judges vs humans", "Raters", "Bias", "Annotators", "Rankings"])
with overview:
    st.dataframe(pd.DataFrame([{"measure": k, "value": str(v)} for k, v in result.overview.items()]),
                 hide_index=True)
    st.caption(f"Tie policy: {tie_policy}. Human-human agreement (MT-Bench, pairs of distinct humans) "
               "and Fleiss' kappa over humans:")
    st.dataframe(pd.DataFrame([{"measure": "human-human agreement", **result.human_agreement},
                               {"measure": "Fleiss' kappa", **result.fleiss}]), hide_index=True)
with judges_tab:
    if result.task_type == "pairwise":
        metric = st.radio("Measure", ["majority_agreement", "majority_kappa", "pairwise_agreement"], horizontal=True)
        st.altair_chart(charts.agreement_chart(result.judges, metric), width="stretch")
        st.caption("Red dashed rule: the human ceiling (each human against the majority of the others).")
        if not result.confusion.empty:
            st.altair_chart(charts.confusion_chart(result.confusion))
            download(result.confusion, "confusion")
    st.dataframe(result.judges, hide_index=True)
    download(result.judges, "agreement")
with raters_tab:
    value = "kappa" if "kappa" in result.pairs else "kappa_quadratic"
    if not result.pairs.empty:
        st.altair_chart(charts.rater_heatmap(result.pairs, value), width="stretch")
    st.dataframe(result.pairs, hide_index=True)
    download(result.pairs, "rater-pairs")
    st.subheader("Krippendorff's alpha over humans")
    st.dataframe(result.alpha, hide_index=True)
    download(result.alpha, "alpha")
with bias_tab:
    for name, frame, title in [("position", result.position, "Judge position consistency (both orders)"),
                               ("length", result.length, "P(prefer the longer response | length gap > 30 chars)"),
                               ("side", result.side, "Human left/right choice (stored presentation order)")]:
        st.subheader(title)
        if name == "length" and not frame.empty:
            st.altair_chart(charts.length_chart(frame), width="stretch")
        st.dataframe(frame, hide_index=True)
        download(frame, name)
with people_tab:
    st.dataframe(result.annotators, hide_index=True)
    download(result.annotators, "annotators")
with ranking_tab:
    if not result.ratings.empty:
        st.altair_chart(charts.ratings_chart(result.ratings), width="stretch")
    for name, frame in [("ratings", result.ratings), ("ranking-tau", result.ranking_tau),
                        ("win-rates", result.win_rates)]:
        st.dataframe(frame, hide_index=True)
        download(frame, name)
