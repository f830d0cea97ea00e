"""The Study page's settings form: every crowd-study setting of a project, in words.

Widgets only: the values go to annotate.projects.update_config as the project's `study` settings
(annotate.study.settings.StudySettings checks them and names a bad one), recorded as a new config
version like every config edit.
"""
from __future__ import annotations

import streamlit as st

from annotate.errors import AnnotateError
from annotate.projects import Project, get_project, update_config
from pages import session

MESSAGE = "study_settings_message"  # (kind, text) shown once after a save
FORM_KEY = "study_settings_{}_{}"   # a widget key per project and field


def _key(project: Project, field: str) -> str:
    return FORM_KEY.format(project.id, field)


def _positions(text: str) -> list[int]:
    """'5, 12, 20' -> [5, 12, 20]; a word that is not a whole number is an error naming it."""
    values = []
    for part in text.replace(";", ",").split(","):
        if part.strip():
            if not part.strip().isdigit():
                raise AnnotateError(f"Attention check positions: '{part.strip()}' is not a whole number")
            values.append(int(part))
    return values


@session.guard("researcher")
def save(project: Project) -> None:
    """Store the form's values as the project's study settings (a callback: checked first)."""
    state = st.session_state
    def value(field: str):
        return state[_key(project, field)]
    try:
        changes = {
            "quota": value("quota"), "max_participants": value("max_participants") or None,
            "completion_code": value("completion_code").strip(), "redirect_url": value("redirect_url").strip(),
            "qualification_code": value("qualification_code").strip(),
            "consent_text": value("consent_text").strip(), "instructions_text": value("instructions_text").strip(),
            "attention_rate": value("attention_rate") / 100, "attention_positions": _positions(value("attention_positions")),
            "attention_first_after": value("attention_first_after"),
            "max_attention_failures": None if value("stop_never") else value("max_attention_failures"),
            "exclude_stopped": value("exclude_stopped"), "training_items": value("training_items"),
            "training_pass": value("training_pass") / 100, "min_seconds": value("min_seconds"),
        }
        if project.task_type == "rubric":
            changes["check_tolerance"] = value("check_tolerance")
        conn = session.get_conn()
        current = get_project(conn, project.name).config.study.model_dump()  # as stored now
        update_config(conn, project.name, {"study": current | changes})
    except AnnotateError as exc:
        state[MESSAGE] = ("error", str(exc))
        return
    state[MESSAGE] = ("success", "Study settings saved (recorded as a new config version).")


def settings_form(project: Project) -> None:
    """The form, filled with the project's current settings."""
    if message := st.session_state.pop(MESSAGE, None):
        getattr(st, message[0])(message[1])
    s = project.config.study
    with st.form(f"study-settings-{project.id}", enter_to_submit=False):
        st.markdown("**Participants and payment**")
        left, right = st.columns(2)
        left.number_input("Items per participant (after the practice items)", 1, 10_000, s.quota,
                          key=_key(project, "quota"))
        right.number_input("Places in the study (0: no limit)", 0, 1_000_000, s.max_participants or 0,
                           key=_key(project, "max_participants"))
        left, right = st.columns(2)
        left.text_input("Completion code (shown when the items are done)", s.completion_code,
                        key=_key(project, "completion_code"))
        right.text_input("Code for those who end after the practice items", s.qualification_code,
                         key=_key(project, "qualification_code"))
        st.text_input("Link back to the platform ({code} becomes the participant's code)", s.redirect_url,
                      key=_key(project, "redirect_url"), placeholder="https://app.prolific.com/submissions/complete?cc={code}")
        st.markdown("**Before the first item** (markdown; left empty, the step is skipped)")
        st.text_area("Consent form (the participant must accept it)", s.consent_text, key=_key(project, "consent_text"))
        st.text_area("Instructions (the participant must confirm they read them)", s.instructions_text,
                     key=_key(project, "instructions_text"))
        st.markdown("**Practice items with feedback**")
        left, right = st.columns(2)
        left.number_input("Practice items first", 0, 100, s.training_items, key=_key(project, "training_items"))
        right.number_input("Share of practice items to get right to go on (%; 0: everyone goes on)", 0, 100,
                           round(s.training_pass * 100), key=_key(project, "training_pass"))
        st.markdown("**Attention checks** (items with a known answer, shown like any other item)")
        left, right = st.columns(2)
        left.number_input("Share of items that are attention checks (%)", 0, 50, round(s.attention_rate * 100),
                          key=_key(project, "attention_rate"))
        right.text_input("Or at these item numbers (e.g. 5, 12, 20; wins over the share)",
                         ", ".join(map(str, s.attention_positions)), key=_key(project, "attention_positions"))
        left, right = st.columns(2)
        left.number_input("No attention check among the first items (how many)", 0, 10_000, s.attention_first_after,
                          key=_key(project, "attention_first_after"))
        right.number_input("Stop serving a participant who fails more checks than", 0, 1_000,
                           s.max_attention_failures or 0, key=_key(project, "max_attention_failures"))
        left, right = st.columns(2)
        left.checkbox("Never stop anyone for failed checks", s.max_attention_failures is None,
                      key=_key(project, "stop_never"))
        right.checkbox("Leave stopped participants' labels out of reports", s.exclude_stopped,
                       key=_key(project, "exclude_stopped"))
        if project.task_type == "rubric":
            st.number_input("Points a rubric score may be off and still pass a check", 0, 100, s.check_tolerance,
                            key=_key(project, "check_tolerance"))
        st.markdown("**Time**")
        st.number_input("Mark labels given faster than (seconds; 0: none)", 0.0, 3600.0, float(s.min_seconds),
                        step=1.0, key=_key(project, "min_seconds"))
        st.form_submit_button("Save study settings", type="primary", on_click=save, args=(project,))
