"""Researcher: route items to humans or the AI judge within a budget; preview, apply, simulate.

Every sentence and table comes from annotate.router.views; every number from annotate.router."""
import altair as alt
import streamlit as st

from annotate import projects
from annotate.errors import AnnotateError
from annotate.router import budget as router_budget
from annotate.router import names, results, routing, views
from annotate.router import simulate as router_simulate
from pages import session

session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Router: {project.name}")
judges = routing.project_judges(conn, project.name)
if project.task_type != "pairwise":
    st.info(f"This page routes pairwise projects. Rubric projects are routed and simulated from the command "
            f"line: `python -m annotate router simulate -p {project.name} -j JUDGE`, then `python -m annotate "
            f"router apply -p {project.name} -j JUDGE -s spread|calibration|learned -b 30%`.")
    st.stop()
if not judges:
    st.info("Routing needs a judge's verdicts on this project's items: run a judge first (Judges page).")
    st.stop()

left, middle, right = st.columns(3)
judge = left.selectbox("Judge (its verdict labels the AI items)", judges)
strategy = middle.selectbox("Strategy", names.STRATEGIES, index=names.STRATEGIES.index("learned"),
                            format_func=lambda s: views.STRATEGY_NAMES.get(s, s),
                            help="Learned starts from the best simple baseline and moves to its error model only "
                                 "when the calibration slice shows it catches more of the judge's errors.")
budget_text = right.text_input("Budget", "30%", help="Human labels (300), a share of items (0.3 or 30%) "
                                                    "or money ($120, priced from the project config)")
ai_label = left.radio("AI label of items not sent to humans", names.AI_LABELS, horizontal=True,
                      format_func={"judge": "The judge's verdict", "model": "The router's label model"}.get,
                      help="The label model is used only where the calibration slice shows it beats the judge; "
                           "exports name it as the label's source.")
every_n = middle.number_input("Re-rank after every N new human labels", 1, 10_000, names.DEFAULT_EVERY_N)
config = project.config
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")  # the height is the plot's, not the legend's


@st.cache_data(show_spinner="Planning the routing...", max_entries=16)
def cached_plan(_conn, project_name: str, judge: str, strategy: str, budget: router_budget.Budget, ai_label: str,
                version: tuple):
    """The routing plan, recomputed only when the settings or the project's data (`version`) change."""
    return routing.plan_routing(_conn, project_name, judge, strategy, budget, ai_label=ai_label)


try:
    budget = router_budget.parse_budget(budget_text, config.overlap, config.cost_per_human_label, config.cost_per_judge_call)
    plan = cached_plan(conn, project.name, judge, strategy, budget, ai_label, projects.data_version(conn, project.name))
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

st.markdown(views.plan_summary(plan))
for warning in plan.warnings:
    st.warning(warning)
st.subheader("Preview: where the items without human labels go, and why")
preview = views.preview_table(plan)
if preview.empty:
    st.info("Every item already has its human labels: there is nothing left to route.")
else:
    st.dataframe(preview, hide_index=True, width="stretch", column_config={"Why": st.column_config.TextColumn(width="large")})
if st.button("Apply routing", type="primary"):
    routing.apply_routing(conn, project.name, judge, strategy, budget, every_n=int(every_n), ai_label=ai_label)
    st.success("Routing applied: the annotation queue now serves the human items by priority.")

status = routing.routing_status(conn, project.name)
if status["items_routed"]:
    st.subheader("Current routing")
    for column, (label, value) in zip(st.columns(5), views.status_counts(status)):
        column.metric(label, value)

st.subheader("Estimated accuracy by budget")
curve, note = routing.estimated_curve(plan)
if curve is None:
    st.info(note)
else:
    rules = views.curve_rules(curve)
    line = alt.Chart(curve).mark_line().encode(
        x=alt.X("budget:Q", title="Share of items sent to humans", axis=alt.Axis(format="%")),
        y=alt.Y("expected_accuracy:Q", title="Estimated accuracy", scale=alt.Scale(zero=False)))
    rule = alt.Chart(rules).mark_rule(strokeDash=[6, 4]).encode(
        y="Accuracy:Q", color=alt.Color("Reference:N", scale=alt.Scale(range=["#d62728", "#2ca02c"])))
    st.altair_chart((line + rule).properties(height=300, autosize=FIT_WIDTH), width="stretch")
    st.caption(note + " Dashed rules: all items to the AI, and all items to humans.")

st.subheader("Simulation against the project's human labels")
left, middle, right = st.columns(3)
seeds = left.slider("Seeds", 1, 10, 2)
split = middle.selectbox("Items", names.SPLITS, format_func=results.SPLIT_TEXT.get)
measure = right.selectbox("Measure", list(views.MEASURE_NAMES), format_func=views.MEASURE_NAMES.get)
if st.button("Simulate strategies"):
    try:
        with st.spinner("Simulating..."):
            st.session_state[session.ROUTER_SIMULATION] = (project.name, judge, router_simulate.simulate(
                conn, project.name, judge, [0.1, 0.2, 0.3, 0.5], seeds, split=split))
    except AnnotateError as exc:
        st.error(str(exc))
shown_project, shown_judge, result = st.session_state.get(session.ROUTER_SIMULATION, (None, None, None))
if result is not None and (shown_project, shown_judge) == (project.name, judge):
    lines, rules = views.simulation_lines(result, measure)
    base = alt.Chart(lines).encode(x=alt.X("Budget:Q", title="Share of items sent to humans", axis=alt.Axis(format="%")),
                                   color=alt.Color("Strategy:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=320)))
    chart = (base.mark_line(point=True).encode(y=alt.Y("Accuracy:Q", title="Accuracy against the human reference",
                                                       scale=alt.Scale(zero=False)))
             + base.mark_errorbar().encode(y=alt.Y("Low:Q", title="Accuracy against the human reference"), y2="High:Q")
             + alt.Chart(rules).mark_rule(strokeDash=[6, 4]).encode(y="Accuracy:Q", color="Strategy:N"))
    st.altair_chart(chart.properties(height=380, autosize=FIT_WIDTH), width="stretch")
    st.caption(f"{views.MEASURE_NAMES[measure]}: {result.measures[measure]}. {result.n_items} items, "
               f"{results.SPLIT_TEXT[result.split]}. Bars: ± one standard deviation over seeds; dashed "
               f"rules: all items to the AI, all items to humans.")
    st.dataframe(views.area_table(result, measure), hide_index=True)
    st.caption(views.area_caption(result))
    for name, reason in result.skipped.items():
        st.caption(f"Not simulated: {views.STRATEGY_NAMES.get(name, name)}: {reason}.")
