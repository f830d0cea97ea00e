"""The annotator's progress in every project."""
import streamlit as st

from annotate.labeling import assignment
from annotate.projects import get_project, project_names
from pages import session

user = session.require_role("annotator")
conn = session.get_conn()

st.header(f"Hello, {user['name']}")
names = project_names(conn)
if not names:
    st.info("There are no projects yet.")
for name in names:
    project = get_project(conn, name)
    progress = assignment.progress(conn, project, user["id"])
    st.progress(progress["done"] / max(progress["assigned"], 1),
                text=f"**{name}** ({project.task_type}): {progress['done']} of {progress['assigned']} done, "
                     f"{progress['today']} today")
st.page_link("pages/label.py", label="Start labeling", icon=":material/rate_review:")
