"""The labeling screen: the next item (or one being edited from the history) and its label controls.

Only the item redraws after an action (a fragment); the choice, confidence and justification stay
in the browser (pages/components/label_keys) until one message submits them with the item and the
form it was made on. The fragment and the action callback each check the session first.
"""
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import storage
from annotate.errors import AnnotateError
from annotate.labeling import assignment, forms, screen
from annotate.labeling.item_text import ImagePolicy, escape_markdown, item_markdown
from annotate.projects import get_project
from pages import item_view, session
from pages.components.label_keys import label_controls, last_action

OUTCOME = "label_outcome"  # the last action's Outcome, shown by the next fragment run
DIFF = "label_diff_nonce"  # the form whose differences are highlighted
REV = "label_rev"  # counts handled actions: tells the controls their message was answered
STARTED = "label_run_started"  # perf_counter at the start of this run's action (bench/bench_label_latency.py)
RUN_PROJECT = "label_run_project"  # (run, Project): the config is read once per run, not per caller
KEYS = {"pairwise": "**Keys:** `1`-`{last}` choose · `↑` `↓` other rows · `Ctrl+Enter` submit · `S` skip · "
                    "`F` flag · `B` both bad · `D` highlight differences · `Esc` cancel",
        "rubric": "**Keys:** a digit scores the current row and moves to the next · `↑` `↓` or `Tab` move · "
                  "`←` `→` change the score · `Ctrl+Enter` submit · `S` skip · `F` flag · `Esc` cancel"}


def _this_run() -> object:
    """An object that is new in every script run (Streamlit gives each run fresh cursors)."""
    return get_script_run_ctx().cursors


def on_action() -> None:
    """Perform the message the controls sent (before the fragment redraws), if the session allows."""
    st.session_state[STARTED] = time.perf_counter()
    st.session_state[REV] = st.session_state.get(REV, 0) + 1
    user, name = session.current_user(), st.session_state.get(session.PROJECT)
    if not session.has_role(user, "annotator") or not name:
        return  # the fragment's own check shows why
    conn = session.get_conn()
    action = last_action()
    try:
        project = get_project(conn, name)
    except AnnotateError:
        return  # deleted meanwhile: nothing is stored, and the fragment's require_project says so
    st.session_state[RUN_PROJECT] = (_this_run(), project)
    outcome = screen.handle_action(conn, project, user["id"], st.session_state, action)
    if outcome is None:
        return
    st.session_state[OUTCOME] = outcome
    if outcome.kind == "diff":
        st.session_state[DIFF] = action["nonce"] if outcome.diff_on else None
    if outcome.kind in ("updated", "cancelled"):
        st.session_state.pop(session.EDITING, None)


@st.fragment
def label_screen() -> None:
    started = st.session_state.pop(STARTED, None) or time.perf_counter()
    user = session.require_role("annotator")  # every redraw checks the session, not only page runs
    conn = session.get_conn()
    run, project = st.session_state.pop(RUN_PROJECT, (None, None))
    if run is None or run is not _this_run() or project.name != st.session_state.get(session.PROJECT):
        project = session.require_project(conn)
    outcome = st.session_state.pop(OUTCOME, None)
    editing = st.session_state.get(session.EDITING)
    try:
        item = (assignment.load_for_edit(conn, project, user["id"], editing) if editing
                else assignment.next_item(conn, project, user["id"]))
    except (AnnotateError, storage.StoreError) as exc:  # StoreFullError while leasing the next item
        st.session_state.pop(session.EDITING, None)
        st.error(str(exc))
        return
    progress = assignment.progress(conn, project, user["id"])
    left = progress["assigned"] - progress["done"]
    saved = f" · :green[:material/check: {outcome.message}]" if outcome and outcome.message and not outcome.is_refused else ""
    st.progress(progress["done"] / max(progress["assigned"], 1),
                text=f"**{escape_markdown(project.name)}** · {progress['done']} done · {left} left · "
                     f"{progress['today']} today{saved}")
    if outcome and outcome.is_refused:
        st.error(outcome.message, icon=":material/block:")
    if item is None:
        st.success("Nothing left for you to label in this project. Thank you!")
        return
    form = forms.show_form(st.session_state, item.item_id, item.event_id)
    if item.event_id:
        ordinal = screen.history_ordinal(conn, project, user["id"], item.item_id)
        st.info(f"Editing your label of item {ordinal} of your history; the old label is kept in the record.")
    diff_on = st.session_state.get(DIFF) == form.nonce
    item_view.show_item(project, item, diff_on)
    data = screen.controls_data(project, item, form, rev=st.session_state.get(REV, 0), diff_on=diff_on)
    label_controls({**data, "server_ms": round(1000 * (time.perf_counter() - started), 1)}, on_action)


session.require_role("annotator")
config = session.require_project(session.get_conn()).config
with st.expander("Guidelines", icon=":material/menu_book:"):
    st.markdown(item_markdown(config.guidelines, ImagePolicy.of(config)) or "No guidelines for this project.")
label_screen()
st.caption(KEYS[config.task_type].format(last=min(len(config.scale), 9)))
