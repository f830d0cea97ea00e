"""Researcher: register AI judges, run them in the background (progress, cancel), see runs and errors."""
import streamlit as st

from annotate import judges
from annotate.errors import AnnotateError
from annotate.judges.config import DEFAULT_TEMPLATES
from annotate.judges.templates import shipped_templates
from pages import session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Judges: {project.name}")

with st.expander("Register a judge", icon=":material/add:"):
    with st.form("register_judge"):
        left, right = st.columns(2)
        name = left.text_input("Name", placeholder="e.g. qwen-judge-v1")
        backend = right.selectbox("Backend", ["causal_lm", "reward_model", "openai"],
                                  help="causal_lm: a local LLM folder or hub id; reward_model: a local sequence "
                                       "classifier; openai: an OpenAI-compatible endpoint (vLLM, Ollama, ...)")
        model = left.text_input("Model", help="A folder, a hub id, or the endpoint's model name")
        template = right.text_input("Prompt template", value=DEFAULT_TEMPLATES[project.task_type],
                                    help=f"Shipped: {', '.join(shipped_templates())}; or the path of an edited copy")
        base_url = left.text_input("Endpoint base URL (openai)", value="http://127.0.0.1:8000/v1")
        api_key_env = right.text_input("API key environment variable (openai)", placeholder="e.g. OPENAI_API_KEY")
        mode = left.selectbox("Verdict from (causal_lm)", ["auto", "logits", "generate"])
        tie_band = right.number_input("Tie band (reward_model)", min_value=0.0, value=0.0, step=0.1)
        if st.form_submit_button("Register", type="primary"):
            try:
                config = judges.parse_judge_config({
                    "name": name, "backend": backend, "model": model, "template": template or None,
                    "base_url": base_url, "api_key_env": api_key_env or None, "mode": mode, "tie_band": tie_band})
                judge_id, _ = judges.register_judge(conn, config, project.task_type)
                st.success(f"Judge '{config.name}' registered (id {judge_id}).")
            except AnnotateError as exc:
                st.error(str(exc))

registered = judges.list_judges(conn)
runnable = registered[registered["backend"] != "external"]
if runnable.empty:
    st.info("No judges registered yet: register one above.")
else:
    with st.form("start_run"):
        labels = {int(r.id): f"{r.id}: {r.name} ({r.backend}, {r.config_hash})" for r in runnable.itertuples()}
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


@st.fragment(run_every="2s")
def runs() -> None:
    """The project's runs, refreshed every 2 s: progress and cancel for active ones, errors for failed ones."""
    frame = judges.list_runs(conn, project.name)
    for run in frame[frame["status"].isin(["queued", "running"])].itertuples():
        left, right = st.columns([4, 1])
        fraction = run.n_done / run.n_total if run.n_total else 0.0
        left.progress(fraction, text=f"Run {run.id} ({run.judge}): {run.n_done} of {run.n_total} judgments, "
                                     f"{run.n_unparsed} unparsed, {run.n_errors} request errors")
        if right.button("Cancel", key=f"cancel_{run.id}", disabled=bool(run.cancel_requested)):
            judges.cancel_run(conn, int(run.id))
    for run in frame[frame["status"] == "failed"].head(3).itertuples():
        st.error(f"Run {run.id} ({run.judge}) failed: {run.error}")
    st.subheader("Runs")
    st.dataframe(frame.drop(columns=["options", "project_id"]), hide_index=True, width="stretch")


runs()
st.subheader("Judges with judgments in this project")
st.caption("Imported judgments appear as 'external' judges. A judge is its config + prompt template hash.")
st.dataframe(judges.list_judges(conn, project.name), hide_index=True, width="stretch")
