"""The annotator's own recent labels; any of them can be reopened and edited on the Label page."""
import streamlit as st

from annotate.labeling import assignment
from pages import session

user = session.require_role("annotator")
conn = session.get_conn()
project = session.require_project(conn)

st.header("My recent labels")
st.caption(f"Project **{project.name}**. Editing a label keeps the old one in the record.")
history = assignment.history(conn, project, user["id"])
if history.empty:
    st.info("You have not labeled anything in this project yet.")
    st.stop()
for row in history.itertuples():
    with st.container(border=True):
        text, when, action = st.columns([6, 2, 1], vertical_alignment="center")
        prompt = row.prompt if len(row.prompt) <= 120 else row.prompt[:120] + "…"
        text.markdown(f"**{row.external_id}** · {row.label}")
        text.caption(prompt)
        when.caption(f"{row.created_at:%Y-%m-%d %H:%M} UTC")
        if action.button("Edit", key=f"edit-{row.event_id}", icon=":material/edit:"):
            st.session_state[session.EDITING] = int(row.event_id)
            st.session_state.pop(session.MODE, None)
            st.switch_page("pages/label.py")
