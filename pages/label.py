"""The labeling screen: the next item (or one being edited from the history), the label, actions."""
import time

import streamlit as st

from annotate.labeling import assignment
from annotate.errors import AnnotateError
from pages import item_view, session

KEYS = {"pairwise": "**Keys:** `1`-`5` choose on the scale · `Ctrl+Enter` submit · `S` skip · `F` flag · "
                    "`B` both bad · `D` highlight differences · `Esc` cancel",
        "rubric": "**Keys:** `Tab` next criterion · arrow keys choose a score · `Tab` to Submit and `Enter` "
                  "(`Ctrl+Enter` when no field has the focus) · `S` skip · `F` flag · `Esc` cancel"}

user = session.require_role("annotator")
conn = session.get_conn()
project = session.require_project(conn)
editing = st.session_state.get(session.EDITING)
try:
    item = (assignment.load_for_edit(conn, project, user["id"], editing) if editing
            else assignment.next_item(conn, project, user["id"]))
except AnnotateError as exc:
    st.session_state.pop(session.EDITING, None)
    st.error(str(exc))
    st.stop()

progress = assignment.progress(conn, project, user["id"])
st.progress(progress["done"] / max(progress["assigned"], 1),
            text=f"**{project.name}** · {progress['done']} of {progress['assigned']} done · "
                 f"{progress['today']} today")
if notice := st.session_state.pop(session.NOTICE, None):
    st.toast(notice, icon=":material/check:")
with st.expander("Guidelines", icon=":material/menu_book:"):
    st.markdown(project.config.guidelines or "No guidelines for this project.")
    st.markdown(KEYS[project.task_type])
if item is None:
    st.success("Nothing left for you to label in this project. Thank you!")
    st.stop()

form = f"{item.item_id}-{item.event_id or 'new'}"
shown_at = st.session_state.setdefault(f"shown-{form}", time.monotonic())
if item.event_id:
    st.info(f"Editing your label of item {item.external_id}; the old label is kept in the record.")
item_view.show_prompt(item)
show = item_view.show_pairwise if project.task_type == "pairwise" else item_view.show_rubric
fields = show(project, item, form)


def done(message: str) -> None:
    st.session_state[session.NOTICE] = message
    for key in (session.EDITING, session.MODE):
        st.session_state.pop(key, None)
    st.rerun()


def submit() -> None:
    if not item_view.is_complete(project, fields):
        st.warning("Choose a value for every row before submitting.")
        return
    values = fields.pop("values")
    try:
        if item.event_id:
            assignment.edit_from_history(conn, project, user["id"], item.event_id, values,
                                         seconds=time.monotonic() - shown_at, **fields)
        else:
            assignment.submit_label(conn, project, user["id"], item.item_id, values, **fields)
    except AnnotateError as exc:
        st.error(str(exc))
        return
    done("Label updated" if item.event_id else "Label saved")


def note_action(kind: str) -> None:
    """The skip (with a reason) or flag (with a comment) panel."""
    label, default = ("Reason for skipping", "I cannot judge this item") if kind == "skip" else ("Comment", "")
    text = st.text_input(label, value=default, key=f"{kind}-note-{form}")
    left, right = st.columns([1, 5])
    if left.button("Confirm skip" if kind == "skip" else "Send flag", type="primary", shortcut="Ctrl+Enter"):
        try:
            if kind == "skip":
                assignment.skip_item(conn, project, user["id"], item.item_id, text)
            else:
                assignment.flag_item(conn, project, user["id"], item.item_id, text)
        except AnnotateError as exc:
            st.error(str(exc))
        else:
            done("Skipped" if kind == "skip" else "Flag sent; please still label or skip the item")
    if right.button("Cancel", shortcut="Esc"):
        st.session_state.pop(session.MODE, None)
        st.rerun()


mode = st.session_state.get(session.MODE)
if mode and not item.event_id:
    note_action(mode)
else:
    with st.container(horizontal=True):
        if st.button("Save edit" if item.event_id else "Submit", type="primary", shortcut="Ctrl+Enter",
                     icon=":material/check:"):
            submit()
        if item.event_id:
            if st.button("Cancel edit", shortcut="Esc"):
                done("Edit cancelled")
        else:
            if st.button("Skip", shortcut="S", icon=":material/skip_next:"):
                st.session_state[session.MODE] = "skip"
                st.rerun()
            if st.button("Flag", shortcut="F", icon=":material/flag:"):
                st.session_state[session.MODE] = "flag"
                st.rerun()
st.caption(KEYS[project.task_type])
