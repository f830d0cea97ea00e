"""Researcher: export a project's labels with filters; preview, counts and a download.

DPO pairs leave out ties and pairs most raters marked "both bad" unless the researcher ticks the
boxes that bring them back (a tie or two bad responses teach a preference model nothing); the CLI
keeps explicit --exclude-ties / --exclude-both-bad flags.
"""
from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from annotate.data import aggregate, export
from annotate.data.export_files import FILE_FORMATS
from annotate.labeling import annotators
from annotate.errors import AnnotateError
from pages import session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)

st.header(f"Export: {project.name}")
other_kinds = {"pairwise": ("rubric",), "rubric": ("dpo", "helpsteer2")}[project.task_type]
kinds = [k for k in export.KINDS if k not in other_kinds]
is_pairwise = project.task_type == "pairwise"
methods = aggregate.PAIRWISE_METHODS if is_pairwise else aggregate.RUBRIC_METHODS

with st.form("export"):
    left, middle, right = st.columns(3)
    kind = left.selectbox("Table", kinds, help="dpo: preference pairs; helpsteer2: binarized + strength -3..3; "
                                               "rubric: one row per response; events/judgments: every raw row")
    file_format = middle.selectbox("File format", FILE_FORMATS)
    method = right.selectbox("Aggregation of human labels", methods)
    min_agreement = left.slider("Minimum agreement (0 = off)", 0.0, 1.0, 0.0, 0.05)
    sources = middle.multiselect("Sources", export.SOURCES, placeholder="All sources",
                                 help="adjudicated: a researcher's final label from the Review page")
    aspects = right.multiselect("Aspects / criteria", project.config.aspect_names, placeholder="All")
    people = annotators.list_annotators(conn)["name"].tolist()
    chosen_people = left.multiselect("Annotators", people, placeholder="All annotators")
    dates = middle.date_input("Labels created between", value=(), help="Leave empty for all dates (UTC)")
    judge = right.selectbox("Fallback judge for unlabeled items", aggregate.project_judges(conn, project),
                            index=None, placeholder="No fallback judge")
    include_ties = left.checkbox("Include ties in DPO pairs", disabled=not is_pairwise,
                                 help="Left out by default: a tie says neither response is preferred.")
    include_both_bad = middle.checkbox("Include 'both bad' pairs in DPO", disabled=not is_pairwise,
                                       help="Left out by default: when most raters found both responses bad, "
                                            "the 'chosen' one is not a good example.")
    include_excluded = right.checkbox("Include excluded participants",
                                      help="Crowd studies: left out by default (failed attention checks or excluded "
                                           "on the Review page); the dataset card says how many.")
    with_ids = right.checkbox("Add participants' platform ids",
                              help="Crowd studies: the Prolific or MTurk ids behind each row's labels; kept out "
                                   "by default.")
    submitted = st.form_submit_button("Build export", type="primary")

if not submitted:
    st.stop()
since, until = (None, None)
if len(dates) == 2:  # the whole last day counts
    since, until = datetime.combine(dates[0], time()), datetime.combine(dates[1] + timedelta(days=1), time())
is_dpo = kind == "dpo"
filters = export.ExportFilters(min_agreement=min_agreement or None, exclude_ties=is_dpo and not include_ties,
                               exclude_both_bad=is_dpo and not include_both_bad, sources=tuple(sources),
                               aspects=tuple(aspects), since=since, until=until, annotators=tuple(chosen_people),
                               include_excluded=include_excluded, with_participant_ids=with_ids)
try:
    result = export.build_export(conn, project.name, kind, filters, method=method, judge=judge)
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

if result.exclusion.get("participants") or result.exclusion.get("check_answers"):
    st.info(f"Study participants: {result.exclusion['statement']}")
st.subheader("Counts after each filter")
counts = export.counts_table(result)
counts["removed"] = counts["removed"].map(lambda n: "" if pd.isna(n) else str(n))  # blank for non-filter steps
st.dataframe(counts, hide_index=True,
             column_config={"step": "Step", "rows": "Rows left", "removed": "Rows removed by this filter"})
st.subheader(f"Preview (first 20 of {len(result.rows)} rows)" if len(result.rows) > 20
             else f"Preview ({len(result.rows)} rows)")
st.dataframe(result.rows.head(20), hide_index=True, width="stretch")
st.download_button(f"Download {kind}.{file_format}", export.export_bytes(conn, result, file_format),
                   file_name=f"{project.name}-{kind}.{file_format}", type="primary", icon=":material/download:")
