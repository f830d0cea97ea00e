"""A crowd-study participant's one page: consent, instructions, the items, and the code at the end.

Participants come through the study link (pages/study_entry.py) and see nothing else. Practice
items say so and, after a submit, show the expected answer (as their screen laid the item out) and
the researcher's explanation before the next one; attention checks look like every other item.
The end (completion code and the link back to the platform, the qualification code, or a polite
stop) is shown on every later visit. Only the item redraws after an action (a fragment), and the
label controls are the annotators' (pages/components/label_keys), without skip.
"""
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from annotate.errors import AnnotateError
from annotate.labeling import forms
from annotate.labeling.assignment import Assignment
from annotate.labeling.item_text import ImagePolicy, escape_markdown, item_markdown
from annotate.projects import Project, get_project
from annotate.study import flow, participants, screen as study_screen
from annotate.study.participants import Participant
from pages import item_view, session
from pages.components.label_keys import label_controls, last_action

OUTCOME = "study_outcome"    # the last action's Outcome, shown by the next fragment run
FEEDBACK = "study_feedback"  # (Feedback, Assignment) of a training item, shown until Continue
SHOWN = "study_shown_item"   # the Assignment on screen, shown again beside its feedback
DIFF = "study_diff_nonce"    # the form whose differences are highlighted
REV = "study_rev"            # counts handled actions: tells the controls their message was answered
STARTED = "study_run_started"  # perf_counter at the start of this run's action (the controls' data-server-ms)
KEYS = {"pairwise": "**Keys:** `1`-`{last}` choose · `↑` `↓` other rows · `Ctrl+Enter` submit · `F` flag a broken "
                    "item · `B` both bad · `D` highlight differences · `Esc` cancel",
        "rubric": "**Keys:** a digit scores the current row and moves to the next · `↑` `↓` or `Tab` move · "
                  "`←` `→` change the score · `Ctrl+Enter` submit · `F` flag a broken item · `Esc` cancel"}
DONE = {"completed": "Thank you! You have finished the study.",
        "failed_qualification": "Thank you for doing the practice items."}


def _participant() -> tuple[dict, Participant]:
    user = session.require_role("annotator")
    participant = participants.participant_of(session.get_conn(), user["id"])
    if participant is None:
        st.error("This page is for study participants.")
        st.stop()
    return user, participant


@session.guard("annotator")
def acknowledge(what: str) -> None:
    """Record consent or the instructions as read (a callback: the session is checked first)."""
    participants.acknowledge(session.get_conn(), session.current_user()["id"], what)


def on_action() -> None:
    """Perform the message the controls sent (before the fragment redraws), if the session allows."""
    st.session_state[STARTED] = time.perf_counter()
    st.session_state[REV] = st.session_state.get(REV, 0) + 1
    user = session.current_user()
    if not session.has_role(user, "annotator"):
        return  # the fragment's own check shows why
    conn = session.get_conn()
    participant = participants.participant_of(conn, user["id"])
    if participant is None:
        return
    action = last_action()
    result = study_screen.handle_action(conn, get_project(conn, participant.project_name), user["id"],
                                        st.session_state, action)
    if result is None:
        return
    st.session_state[OUTCOME] = result.outcome
    if result.feedback is not None:
        st.session_state[FEEDBACK] = (result.feedback, st.session_state.get(SHOWN))
    if result.outcome.kind == "diff":
        st.session_state[DIFF] = action["nonce"] if result.outcome.diff_on else None


def show_end(participant: Participant) -> None:
    """The end of the study for this participant: their code, the link back, or a polite stop."""
    if participant.status in DONE and participant.completion_code:
        st.success(DONE[participant.status], icon=":material/check_circle:")
        if participant.status == "failed_qualification":  # the why, without the thanks said just above
            st.markdown(escape_markdown((participant.message or "").removeprefix(DONE[participant.status]).strip()))
        st.markdown("Your completion code:")
        st.code(participant.completion_code, language=None)
        st.caption("Copy it with the copy icon at the right of the code (it shows when you point at or tap the code).")
        if participant.redirect_url:
            st.link_button("Return to the study platform", participant.redirect_url, type="primary",
                           icon=":material/open_in_new:")
            st.caption("The button takes your code back to the platform. If it does not open, paste the code there.")
    else:
        st.info(participant.message or "This study has ended for you. Thank you for your time.",
                icon=":material/info:")


def show_feedback(project: Project, feedback: flow.Feedback, item: Assignment | None) -> None:
    """A practice item's answer: right or not, the expected answer as shown, and why; then the item
    again, as it was laid out, so that "response A" can be read beside it."""
    if feedback.is_correct:
        st.success("Your answer matches the expected answer.", icon=":material/check_circle:")
    else:
        st.warning("Your answer differs from the expected answer.", icon=":material/lightbulb:")
    st.markdown(f"**Expected answer:** {escape_markdown(feedback.expected)}.")
    if feedback.explanation:
        st.markdown(f"**Why:** {escape_markdown(feedback.explanation)}")
    st.button("Continue", type="primary", icon=":material/arrow_forward:",
              on_click=lambda: st.session_state.pop(FEEDBACK, None))
    if item is not None:
        item_view.show_item(project, item, diff_on=False)


@st.fragment
def study_screen_fragment(project: Project) -> None:
    started = st.session_state.pop(STARTED, None) or time.perf_counter()
    user, participant = _participant()  # every redraw checks the session, not only page runs
    conn = session.get_conn()
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome and outcome.is_refused:
        st.error(outcome.message, icon=":material/block:")
    if feedback := st.session_state.get(FEEDBACK):
        show_feedback(project, *feedback)
        return
    if not participant.is_active:
        if get_script_run_ctx().fragment_ids_this_run:  # it ended with this action: redraw the page without the keys
            st.rerun(scope="app")
        show_end(participant)
        return
    try:
        item = flow.next_study_item(conn, project, user["id"])
    except AnnotateError as exc:
        st.error(str(exc))
        return
    if item is None:
        participant = participants.participant_of(conn, user["id"])
        if participant.is_active:
            st.info("There is no item for you at the moment. Please come back later.", icon=":material/hourglass:")
        else:
            st.rerun(scope="app")  # it ended now (the quota was already done): the page shows the end
        return
    what = "Practice item" if item.is_training else "Item"
    st.progress((item.number - 1) / max(item.of, 1), text=f"**{what} {item.number} of {item.of}**"
                + (" · with feedback after you submit" if item.is_training else ""))
    form = forms.show_form(st.session_state, item.assignment.item_id)
    st.session_state[SHOWN] = item.assignment
    diff_on = st.session_state.get(DIFF) == form.nonce
    item_view.show_item(project, item.assignment, diff_on)
    data = study_screen.controls_data(project, item, form, rev=st.session_state.get(REV, 0), diff_on=diff_on)
    label_controls({**data, "server_ms": round(1000 * (time.perf_counter() - started), 1)}, on_action)
    st.caption(KEYS[project.task_type].format(last=min(len(project.config.scale), 9)))  # only under the controls


user, participant = _participant()
conn = session.get_conn()
project = get_project(conn, participant.project_name)
settings, images = project.config.study, ImagePolicy.of(project.config)
if participant.is_active and participant.needs_consent:
    st.header("Consent")
    st.container(border=True).markdown(item_markdown(settings.consent_text, images))
    st.button("I agree to take part", type="primary", on_click=acknowledge, args=(participants.CONSENT,))
    st.stop()
if participant.is_active and participant.needs_instructions:
    st.header("Instructions")
    st.container(border=True).markdown(item_markdown(settings.instructions_text, images))
    st.button("I have read the instructions", type="primary", on_click=acknowledge, args=(participants.INSTRUCTIONS,))
    st.stop()
if participant.is_active and (settings.instructions_text or project.config.guidelines):
    with st.expander("Instructions", icon=":material/menu_book:"):
        st.markdown(item_markdown(settings.instructions_text or project.config.guidelines, images))
study_screen_fragment(project)
