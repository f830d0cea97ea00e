"""Admin: projects - counts, create (pairwise or rubric with criteria), import a file with a preview
before anything is written, edit the config, archive or delete."""
import json

import pandas as pd
import streamlit as st

from annotate import projects
from annotate.config import build_config, parse_config_text
from annotate.data.adapters import import_upload
from annotate.data.importers import SHAPES, describe_report, parse_mapping
from annotate.errors import AnnotateError
from pages import session

NOTICE = "projects_notice"  # a message kept across the rerun that redraws the table and the sidebar
MAPPING_HELP = ("One FIELD=COLUMN per line, as `--map` in `python -m annotate import`: `id=question_id`, "
                "`prompt=instruction`, `response_a=output_1`, `responses=r1,r2` (rubric), `human.alice=alice_label`, "
                "`human.*=human_labels` (an object of labels per rater), `judge.gpt4=verdict`, `judge.gpt4@BA=verdict_swapped` "
                "(B shown first), `gold=answer`, `criterion=aspect` (one row per criterion), `metadata=topic,source`.")

session.require_role("admin")
conn = session.get_conn()


def done(message: str) -> None:
    """Keep the message and rerun, so that the table and the sidebar show the change at once."""
    st.session_state[NOTICE] = message
    st.rerun()


st.header("Projects")
if st.session_state.get(NOTICE):
    st.success(st.session_state.pop(NOTICE))
st.dataframe(projects.list_project_status(conn).rename(columns=lambda c: c.replace("_", " ").capitalize()),
             hide_index=True, width="stretch")
archived = projects.list_project_status(conn, archived=True)
if len(archived):
    st.caption("Archived (hidden from annotators; data kept): " + ", ".join(archived["project"]))

with st.expander("Create a project"):
    with st.form("create-project"):
        name = st.text_input("Name")
        task_type = st.radio("Task type", ["pairwise", "rubric"], horizontal=True,
                             format_func={"pairwise": "Pairwise (A vs B)", "rubric": "Rubric (scores per criterion)"}.get)
        criteria_text = st.text_area("Criteria (rubric; YAML or JSON)", height=150,
                                     placeholder="- name: accuracy\n  scores: {1: wrong, 2: partly right, 3: right}\n"
                                                 "- name: fluency\n  scale: [1, 5]")
        overlap = st.number_input("Human labels per item", min_value=1, value=3)
        guidelines = st.text_area("Guidelines for annotators", height=80)
        if st.form_submit_button("Create", type="primary"):
            try:
                criteria = parse_config_text(criteria_text, "criteria") if criteria_text.strip() else None
                config = build_config(task_type, criteria, {"overlap": overlap, "guidelines": guidelines}, "criteria")
                projects.create_project(conn, name.strip(), config)
                done(f"Created {task_type} project '{name.strip()}'.")
            except AnnotateError as exc:
                st.error(str(exc))

names = projects.project_names(conn)
with st.expander("Import a file"):
    st.session_state.setdefault("import-project", names[0] if names else "")
    with st.form("import-file"):
        target = st.text_input("Project (a new name creates a pairwise project)", key="import-project")
        upload = st.file_uploader("JSONL, JSON, CSV or Parquet", type=["jsonl", "json", "csv", "parquet"])
        shape = st.radio("Rows are", SHAPES, horizontal=True, format_func={
            "items": "items", "judgments": "judge verdicts (one per item, judge, order)",
            "labels": "human labels (one per item and annotator)"}.get)
        mapping_text = st.text_area("Column mapping", help=MAPPING_HELP, placeholder="prompt=instruction\n"
                                    "response_a=output_1\nresponse_b=output_2\nhuman.alice=alice_label")
        on_duplicate = st.radio("Ids already in the project", ["error", "skip"], horizontal=True, format_func={
            "error": "stop the import", "skip": "keep those items; add only their new labels and verdicts"}.get)
        preview, run = st.columns(2)
        is_preview = preview.form_submit_button("Preview (writes nothing)")
        is_import = run.form_submit_button("Import", type="primary")
    if (is_preview or is_import) and upload is None:
        st.warning("Choose a file first.")
    elif is_preview or is_import:
        try:
            mapping = parse_mapping(mapping_text.splitlines())
            report = import_upload(conn, target.strip(), upload.name, upload.getvalue(), mapping=mapping,
                                   on_duplicate=on_duplicate, shape=shape, dry_run=is_preview)
            if is_import:
                done("\n\n".join(describe_report(report)))
            st.info("\n\n".join(describe_report(report)))
            st.caption("The first rows as they will be stored:")
            st.dataframe(pd.DataFrame(report.preview), hide_index=True, width="stretch")
        except AnnotateError as exc:
            st.error(str(exc))

if names:
    with st.expander("Edit a project's config"):
        chosen = st.selectbox("Project", names, key="edit-project")
        current = projects.get_project(conn, chosen).config.model_dump(exclude={"task_type"})
        with st.form("edit-config"):
            text = st.text_area("Config (JSON)", value=json.dumps(current, indent=2), height=300)
            if st.form_submit_button("Save"):
                try:
                    projects.update_config(conn, chosen, parse_config_text(text, "config.json"))
                    done(f"Saved the config of '{chosen}' as a new version.")
                except AnnotateError as exc:
                    st.error(str(exc))

with st.expander("Archive or delete a project"):
    every = projects.project_names(conn, include_archived=True)
    chosen = st.selectbox("Project", every, key="remove-project") if every else None
    if chosen:
        is_archived = chosen not in names
        if st.button("Restore" if is_archived else "Archive (hide it; keep every label)"):
            projects.archive_project(conn, chosen, not is_archived)
            done(f"{'Restored' if is_archived else 'Archived'} '{chosen}'.")
        st.warning("Deleting removes every item, label and judgment of the project. Take a backup first: "
                   "`python -m annotate backup --out DIR` (works while the app runs).")
        typed = st.text_input(f"Type {chosen} to delete it", key="delete-confirm")
        if st.button("Delete for good", type="primary", disabled=typed != chosen):
            try:
                deleted = projects.delete_project(conn, chosen, typed)
                done(f"Deleted '{chosen}' ({deleted.get('items', 0)} items).")
            except AnnotateError as exc:
                st.error(str(exc))
