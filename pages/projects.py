"""Admin: projects - their counts, creating one, importing a file into one, editing its config."""
import json

import streamlit as st

from annotate import projects
from annotate.data.adapters import import_upload
from annotate.config import parse_config
from annotate.errors import AnnotateError
from annotate.data.importers import ColumnMapping
from pages import session

session.require_role("admin")
conn = session.get_conn()

st.header("Projects")
st.dataframe(projects.list_project_status(conn), hide_index=True, width="stretch")

with st.expander("Create a project"):
    with st.form("create-project"):
        name = st.text_input("Name")
        task_type = st.radio("Task type", ["pairwise", "rubric"], horizontal=True)
        config_text = st.text_area("Config (JSON; a rubric project needs criteria)", height=200,
                                   value=json.dumps({"overlap": 3, "guidelines": ""}, indent=2))
        if st.form_submit_button("Create", type="primary"):
            try:
                config = parse_config({**json.loads(config_text or "{}"), "task_type": task_type})
                projects.create_project(conn, name, config)
                st.success(f"Created project '{name}'.")
            except (AnnotateError, ValueError) as exc:
                st.error(str(exc))

names = projects.list_project_status(conn)["project"].tolist()
with st.expander("Import a file"):
    with st.form("import-file", clear_on_submit=True):
        target = st.text_input("Project (created as pairwise if new)", value=names[0] if names else "")
        upload = st.file_uploader("JSONL, JSON, CSV or Parquet", type=["jsonl", "json", "csv", "parquet"])
        mapping_text = st.text_area("Column mapping (JSON, optional)", placeholder='{"prompt": "instruction"}')
        on_duplicate = st.radio("Ids already in the project", ["error", "skip"], horizontal=True)
        if st.form_submit_button("Import", type="primary") and upload is not None:
            try:
                mapping = ColumnMapping.model_validate(json.loads(mapping_text)) if mapping_text.strip() else None
                report = import_upload(conn, target, upload.name, upload.getvalue(), mapping=mapping,
                                       on_duplicate=on_duplicate)
                st.success(f"Imported {report.items} items, {report.label_events} labels and "
                           f"{report.judgments} judgments into '{report.project}'.")
                for note in report.notes:
                    st.info(note)
            except (AnnotateError, ValueError) as exc:
                st.error(str(exc))

if names:
    with st.expander("Edit a project's config"):
        chosen = st.selectbox("Project", names, key="edit-project")
        current = projects.get_project(conn, chosen).config.model_dump(exclude={"task_type"})
        with st.form("edit-config"):
            text = st.text_area("Config (JSON)", value=json.dumps(current, indent=2), height=300)
            if st.form_submit_button("Save"):
                try:
                    projects.update_config(conn, chosen, json.loads(text))
                    st.success("Saved.")
                except (AnnotateError, ValueError) as exc:
                    st.error(str(exc))
