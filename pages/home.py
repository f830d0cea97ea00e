"""The annotator's progress in every project."""
import streamlit as st

from annotate.labeling import assignment
from annotate.labeling.item_text import escape_markdown
from annotate.projects import get_project, project_names
from pages import session

user = session.require_role("annotator")
conn = session.get_conn()

st.header(f"Hello, {escape_markdown(user['name'])}")
names = project_names(conn)
if not names:
    st.info("There are no projects yet.")
for name in names:
    project = get_project(conn, name)
    progress = assignment.progress(conn, project, user["id"])
    left = progress["assigned"] - progress["done"]
    st.progress(progress["done"] / max(progress["assigned"], 1),
                text=f"**{escape_markdown(name)}** ({project.task_type}): {progress['done']} done, {left} left, "
                     f"{progress['today']} today")
st.page_link("pages/label.py", label="Start labeling", icon=":material/rate_review:")
