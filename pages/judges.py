"""Researcher: register AI judges, run them in the background (progress, cancel, resume), see what went wrong.

Endpoints and templates are picked by name from what the operator allows (annotate.judges.endpoints,
annotate.judges.templates): nobody types a URL, a file path or an environment variable here.
"""
import streamlit as st

from annotate import judges
from annotate.errors import AnnotateError
from annotate.judges import summary
from annotate.judges.config import DEFAULT_TEMPLATES
from annotate.judges.endpoints import endpoint_names
from annotate.judges.templates import template_names
from pages import session

BACKENDS = ["causal_lm", "reward_model", "openai"]

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Judges: {project.name}")


def register_form() -> None:
    """The form that registers a judge from names the operator allows."""
    try:
        endpoints = endpoint_names()
    except AnnotateError as exc:
        endpoints = []
        st.error(str(exc))
    templates = template_names(project.task_type)
    default_template = DEFAULT_TEMPLATES[project.task_type]
    with st.form("register_judge"):
        left, right = st.columns(2)  # one row of columns per pair, so that a phone stacks them in order
        name = left.text_input("Name", placeholder="e.g. qwen-judge-v1")
        backend = right.selectbox("Backend", BACKENDS, format_func=summary.BACKEND_WORDS.get,
                                  help="Local LLM: a model folder or hub id on the server; reward model: a sequence "
                                       "classifier; endpoint: an OpenAI-compatible server the operator allows")
        left, right = st.columns(2)
        model = left.text_input("Model", help="A folder or hub id on the server, or the endpoint's model name")
        default = templates.index(default_template) if default_template in templates else 0
        template = right.selectbox("Prompt template", templates, index=default,
                                   help="Shipped templates and the operator's own for this kind of project")
        left, right = st.columns(2)
        endpoint = left.selectbox("Endpoint (endpoint judges)", endpoints, index=None,
                                  placeholder="Choose an endpoint" if endpoints else "No endpoints allowed yet",
                                  help="The endpoints the operator allows; each has its own API key on the server")
        mode = right.selectbox("Verdict from (local LLM)", ["auto", "logits", "generate"])
        tie_band = st.columns(2)[0].number_input("Tie band (reward model)", min_value=0.0, value=0.0, step=0.1)
        if not endpoints:
            st.caption("Endpoint judges need an endpoint from the operator's list (see SECURITY.md, AI judges).")
        if st.form_submit_button("Register", type="primary"):
            try:
                config = judges.parse_judge_config({"name": name, "backend": backend, "model": model,
                                                    "template": template, "mode": mode,
                                                    "endpoint": endpoint if backend == "openai" else None,
                                                    "tie_band": tie_band})
                judge_id, _ = judges.register_judge(conn, config, project.task_type)
                st.success(f"Judge '{config.name}' registered (id {judge_id}).")
            except AnnotateError as exc:
                st.error(str(exc))


def start_form() -> None:
    """The form that starts a background run of a registered judge."""
    registered = judges.list_judges(conn)
    runnable = registered[registered["backend"] != "external"]
    if runnable.empty:
        st.info("No judges registered yet to run from here: register one above. Judges whose answers were "
                "imported are listed below.")
        return
    with st.form("start_run"):
        labels = {int(r.id): f"{r.name} ({summary.BACKEND_WORDS.get(r.backend, r.backend)})"
                  for r in runnable.itertuples()}
        judge_id = st.selectbox("Judge", list(labels), format_func=labels.get)
        left, right = st.columns(2)
        batch_size = left.number_input("Batch size", min_value=1, value=8)
        limit = right.number_input("Item limit (0 = all)", min_value=0, value=0)
        retry = st.checkbox("Ask again where earlier answers did not parse")
        if st.form_submit_button("Start run", type="primary", icon=":material/play_arrow:"):
            try:
                run_id = judges.start_background_run(conn, project.name, judges.judge_config(conn, judge_id),
                                                     batch_size=int(batch_size), limit=int(limit) or None,
                                                     retry_unparsed=retry)
                st.success(f"Run {run_id} started; items already judged by this judge are skipped.")
            except AnnotateError as exc:
                st.error(str(exc))


with st.expander("Register a judge", icon=":material/add:"):
    register_form()
start_form()


@st.fragment(run_every="2s")
def runs() -> None:
    """The project's runs, refreshed every 2 s: progress and cancel for active runs, what went wrong
    in the others, and resume for runs that stopped early."""
    session.require_role("researcher")
    frame = judges.list_runs(conn, project.name)
    for run in frame[frame["status"].isin(["queued", "running"])].to_dict("records"):
        left, right = st.columns([4, 1])
        fraction = run["n_done"] / run["n_total"] if run["n_total"] else 0.0
        left.progress(fraction, text=f"Run {run['id']} ({run['judge']}): {run['n_done']} of {run['n_total']} "
                                     f"answers, {run['n_unparsed']} unparsed, {run['n_errors']} failed requests")
        if right.button("Cancel", key=f"cancel_{run['id']}", disabled=bool(run["cancel_requested"])):
            judges.cancel_run(conn, int(run["id"]))
    latest = set(frame.drop_duplicates("judge_id")["id"])  # resume only a judge's newest run
    for run in frame[~frame["status"].isin(["queued", "running"])].head(5).to_dict("records"):
        problem = summary.run_problem(run)
        if problem is None:
            continue
        left, right = st.columns([4, 1])
        show = left.error if run["status"] == "failed" else left.warning
        show(f"Run {run['id']} ({run['judge']}) {summary.STATUS_WORDS[run['status']]}: {problem}")
        is_resumable = run["status"] in summary.RESUMABLE and run["id"] in latest
        if is_resumable and right.button("Resume", key=f"resume_{run['id']}"):
            try:
                st.success(f"Run {judges.resume_run(conn, int(run['id']))} started where run {run['id']} stopped.")
            except AnnotateError as exc:
                st.error(str(exc))
    st.subheader("Runs")
    if frame.empty:
        st.caption("No runs in this project yet.")
    else:
        st.dataframe(summary.runs_table(frame), hide_index=True, width="stretch")


runs()
st.subheader("Judges with answers in this project")
st.caption("Imported judgments appear as 'imported' judges. A judge is its config and prompt template: "
           "editing either makes a new version.")
st.dataframe(summary.judges_table(judges.list_judges(conn, project.name)), hide_index=True, width="stretch")
