"""Researcher: run the project as a crowd study (Prolific, MTurk): the study link, the settings, the
status for fair pay, the participants CSV for bulk approval, and the per-participant quality table.

The link's secret is shown once, when it is opened (only its hash is stored), with the URL to paste
into each platform. Every action is a widget callback wrapped in `session.guard("researcher")`.
"""

import streamlit as st

from annotate.data.export_files import csv_bytes
from annotate.errors import AnnotateError
from annotate.labeling.item_text import escape_markdown
from annotate.projects import get_project
from annotate.study import links, reports
from annotate.study.pay import estimated_pay
from annotate.study.quality import PAGE_NOTE, participant_quality_table
from pages import analysis_charts as charts, session
from pages.study_settings import settings_form

LINK = "study_link_urls"       # {platform: URL} shown once, on the run after opening the link
MESSAGE = "study_message"      # (kind, text) shown once
REWARD = "study_reward"        # the reward per participant the researcher types
PLATFORM_NAMES = {"prolific": "Prolific (study URL)",
                  "mturk": "MTurk (the link in a survey-link HIT, whose page adds workerId, assignmentId and hitId: "
                           "see the README)",
                  "generic": "Any other platform (replace PARTICIPANT_ID)"}
STATUS_WORDS = {"active": "Still working", "completed": "Completed",
                "failed_qualification": "Ended after the practice", "stopped_attention": "Stopped (attention checks)",
                "excluded": "Excluded (labels left out)"}


@session.guard("researcher")
def open_link(project_name: str, replace: bool) -> None:
    """Open (or replace) the study link and keep its URLs for the next run, the only time they show."""
    conn = session.get_conn()
    try:
        secret = links.open_link(conn, get_project(conn, project_name), replace=replace)
    except AnnotateError as exc:
        st.session_state[MESSAGE] = ("error", str(exc))
        return
    st.session_state[LINK] = {p: links.study_url(secret, p, session.app_url()) for p in links.PLATFORMS}


@session.guard("researcher")
def revoke_link(project_name: str) -> None:
    """Close the study link: nobody new can enter (a callback: the session is checked first)."""
    conn = session.get_conn()
    try:
        links.revoke_link(conn, get_project(conn, project_name))
    except AnnotateError as exc:  # the project was deleted meanwhile
        st.session_state[MESSAGE] = ("error", str(exc))
        return
    st.session_state[MESSAGE] = ("info", "The study link is closed: nobody new can enter. Participants who "
                                         "entered may finish.")


session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Study: {escape_markdown(project.name)}")
if message := st.session_state.pop(MESSAGE, None):
    getattr(st, message[0])(message[1])

st.subheader("Study link")
state = links.link_state(conn, project)
if urls := st.session_state.pop(LINK, None):
    st.success("The study link is open. Copy the URL for your platform now: it is shown only once.")
    for platform, url in urls.items():
        st.markdown(f"**{PLATFORM_NAMES[platform]}**")
        st.code(url, language=None, wrap_lines=True)
elif state["is_open"]:
    st.info(f"The study link has been open since {state['opened_at']:%Y-%m-%d %H:%M} UTC. Its URL was shown when it "
            f"was opened; a new link replaces it (the old one stops admitting participants).")
else:
    st.info("No study link is open: nobody can enter the study.")
buttons = st.columns(3)
if state["is_open"]:
    buttons[0].button("Open a new link (replaces this one)", on_click=open_link, args=(project.name, True))
    buttons[1].button("Close the link", on_click=revoke_link, args=(project.name,))
else:
    buttons[0].button("Open the study link", type="primary", on_click=open_link, args=(project.name, False))

st.subheader("Status")
status = reports.study_status(conn, project)
people = status["participants"]
metrics = st.columns(4)
metrics[0].metric("Started", people["started"])
metrics[1].metric("Completed", people["completed"])
metrics[2].metric("Ended after the practice", people["failed_qualification"])
metrics[3].metric("Stopped while working", people["stopped_attention"] + people["excluded_by_researcher"],
                  help="Stopped by failed attention checks, or excluded by a researcher before they finished. "
                       "Everyone whose labels are left out, finished or not, is counted below.")
codes = status["completion_codes_issued"]
st.caption(f"Codes issued: {codes['completion']} completion, {codes['qualification']} qualification · "
           f"{people['active']} still working · {people['excluded']} with labels left out of reports · "
           f"{status['fast_labels']} labels faster than the minimum")
reward = st.number_input("Reward per participant (in your platform's currency)", 0.0, 10_000.0, step=0.5,
                         key=REWARD)
pay = estimated_pay(status, reward)
item_time = f"{pay['item_seconds']:.0f} seconds per item" if pay["item_seconds"] is not None else "no labels yet"
if pay["minutes"] is not None:
    item_time += f", {pay['minutes']:.1f} minutes per completed participant"
if not reward:
    st.markdown(f"Median time: {item_time}. Type the reward to see the pay per hour.")
elif pay["per_hour"] is None:
    st.markdown(f"Median time: {item_time}. The pay per hour shows once a participant has completed the study.")
else:
    st.markdown(f"Median time: {item_time}. A reward of {reward:.2f} comes to **{pay['per_hour']:.2f} per hour** "
                f"({pay['per_item']:.2f} per item).")

st.subheader("Participants")
table = reports.participants_table(conn, project)
if table.empty:
    st.info("Nobody has entered the study yet.")
else:
    shown = table.assign(status=table["status"].map(STATUS_WORDS), exclusion_reason=table["exclusion_reason"].fillna(""),
                         completion_code=table["completion_code"].fillna(""))  # no code yet: blank, not "None"
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_order=["annotator", "participant_id", "status", "completion_code", "items_done",
                               "minutes_in_study", "attention_failed", "training_passed", "fast_labels",
                               "exclusion_reason"],
                 column_config={"annotator": "Name", "participant_id": "Platform id", "status": "Status",
                                "completion_code": "Code", "items_done": "Items done",
                                "attention_failed": "Attention checks failed", "training_passed": "Practice right",
                                "fast_labels": "Fast labels", "minutes_in_study": st.column_config.NumberColumn(
                                    "Minutes in study", format="%.1f"), "exclusion_reason": "Why excluded"})
    st.download_button("Download participants CSV (for bulk approval)", csv_bytes(reports.participants_csv_table(conn, project)),
                       file_name=f"{project.name}-participants.csv", mime="text/csv", icon=":material/download:")

st.subheader("Quality per participant")
quality = participant_quality_table(conn, project.name)
if quality.empty:
    st.info("No labels yet.")
else:
    st.caption(PAGE_NOTE)
    charts.show_table(quality)  # the Analysis page's table: titles in words, a help line per column

st.subheader("Settings")
settings_form(project)
