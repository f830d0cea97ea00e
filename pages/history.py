"""The annotator's own recent labels; any of them can be reopened and edited on the Label page.

Items are named by their number in the annotator's history, never by the dataset's id (ids like
'81-alpaca-13b-gpt-4-t1' name models, and annotators must stay blind to them).
"""
import streamlit as st

from annotate.labeling import assignment
from annotate.labeling.item_text import escape_markdown
from pages import session


def open_edit(event_id: int) -> None:
    """Reopen a label on the Label page (a callback: the session is checked first)."""
    if session.has_role(session.current_user(), "annotator"):
        st.session_state[session.EDITING] = event_id


user = session.require_role("annotator")
conn = session.get_conn()
project = session.require_project(conn)

st.header("My recent labels")
st.caption(f"Project **{escape_markdown(project.name)}**. Editing a label keeps the old one in the record.")
history = assignment.history(conn, project, user["id"])
if history.empty:
    st.info("You have not labeled anything in this project yet.")
    st.stop()
for row in history.itertuples():
    with st.container(border=True):
        text, when, action = st.columns([6, 2, 1], vertical_alignment="center")
        prompt = row.prompt if len(row.prompt) <= 120 else row.prompt[:120] + "…"
        text.markdown(f"**Item {row.ordinal} of your history** · {escape_markdown(row.label)}")
        text.caption(escape_markdown(prompt))  # shown literally: no markup, no images
        when.caption(f"{row.created_at:%Y-%m-%d %H:%M} UTC")
        if action.button("Edit", key=f"edit-{row.event_id}", icon=":material/edit:",
                         on_click=open_edit, args=(int(row.event_id),)):
            if st.session_state.get(session.EDITING) == int(row.event_id):
                st.switch_page("pages/label.py")
