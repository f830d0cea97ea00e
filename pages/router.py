"""Researcher: route items to humans or the AI judge within a budget; preview, apply, simulate."""
import altair as alt
import streamlit as st

from annotate import projects
from annotate.router import budget as router_budget, names, routing, simulate as router_simulate
from annotate.errors import AnnotateError
from pages import session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Router: {project.name}")
judges = routing.project_judges(conn, project.name)
if project.task_type != "pairwise" or not judges:
    st.info("Routing needs a pairwise project with judge verdicts; run a judge first (Judges page).")
    st.stop()

left, middle, right = st.columns(3)
judge = left.selectbox("Judge (its verdict labels the AI items)", judges)
strategy = middle.selectbox("Strategy", names.STRATEGIES, index=names.STRATEGIES.index("learned"))
budget_text = right.text_input("Budget", "30%", help="Human labels (300), a share of items (0.3 or 30%) "
                                                    "or money ($120, priced from the project config)")
every_n = left.number_input("Re-rank after every N new human labels", 1, 10_000, names.DEFAULT_EVERY_N)
config = project.config


@st.cache_data(show_spinner="Planning the routing...", max_entries=16)
def cached_plan(_conn, project_name: str, judge: str, strategy: str, budget: router_budget.Budget, version: tuple):
    """The routing plan, recomputed only when the settings or the project's data (`version`) change."""
    return routing.plan_routing(_conn, project_name, judge, strategy, budget)


try:
    budget = router_budget.parse_budget(budget_text, config.overlap, config.cost_per_human_label, config.cost_per_judge_call)
    plan = cached_plan(conn, project.name, judge, strategy, budget, projects.data_version(conn, project.name))
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

decisions = plan.decisions
st.write(f"**{(decisions['route'] == 'human').sum()}** items to humans (overlap k = {budget.overlap}, "
         f"{plan.n_calibration} of them a random calibration slice), **{(decisions['route'] == 'ai').sum()}** "
         f"to the AI. Model: `{plan.model_version}`.")
st.subheader("Preview: highest-priority items and why")
preview = decisions.sort_values("priority", ascending=False).head(50)
st.dataframe(preview[["item_id", "route", "priority", "is_calibration", "gain", "ai_verdict", "ai_source",
                      "reasons"]], hide_index=True, width="stretch")
if st.button("Apply routing", type="primary"):
    routing.apply_routing(conn, project.name, judge, strategy, budget, every_n=int(every_n))
    st.success("Routing applied: the annotation queue now serves the human items by priority.")

st.subheader("Budget curve")
st.json(routing.routing_status(conn, project.name))
curve = routing.budget_curve(plan)
st.altair_chart(alt.Chart(curve).mark_line().encode(
    x=alt.X("budget:Q", title="Share of items sent to humans"),
    y=alt.Y("expected_accuracy:Q", title="Router's estimated accuracy (no gold)", scale=alt.Scale(zero=False))),
    width="stretch")

st.subheader("Simulation against the project's human labels")
seeds = st.slider("Seeds", 1, 10, 3)
if st.button("Simulate strategies"):
    try:
        with st.spinner("Simulating..."):
            result = router_simulate.simulate(conn, project.name, judge, [0.1, 0.2, 0.3, 0.5], seeds)
    except AnnotateError as exc:
        st.error(str(exc))
        st.stop()
    summary = result.summary.assign(low=lambda f: f["mean"] - f["std"], high=lambda f: f["mean"] + f["std"])
    base = alt.Chart(summary).encode(x=alt.X("budget:Q", title="Human budget (share of items)"),
                                     color="strategy:N")
    st.altair_chart(base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="Accuracy vs gold",
                                                               scale=alt.Scale(zero=False)))
                    + base.mark_errorbar().encode(y="low:Q", y2="high:Q"), width="stretch")
    st.dataframe(result.auc.rename(columns={"mean": "auc", "std": "auc_std"}), hide_index=True)
