"""Researcher: the review queue (flags, skips, splits, judge disagreements) and one item in full,
with the three actions: resolve with a note, re-queue for more labels, adjudicate a final label."""
import streamlit as st

from annotate.errors import AnnotateError
from annotate.labeling import review
from pages import review_checks, session

user = session.require_role("researcher")
conn = session.get_conn()
project = session.require_project(conn)
st.header(f"Review: {project.name}")

left, middle, right = st.columns([2, 1, 1])
reasons = left.multiselect("Reasons", list(review.REASONS), format_func=review.REASONS.get, placeholder="All reasons")
status = middle.radio("Status", review.STATUSES, horizontal=True,
                      format_func={"open": "Open", "closed": "Closed", "all": "All"}.get)
people = right.text_input("Annotator", placeholder="Any annotator")
try:
    queue = review.review_queue(conn, project.name, reasons=tuple(reasons), status=status, annotator=people or None)
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()

people = review.study_participants(conn, project.name)
if len(people):
    excluded = people[people["is_excluded"]]
    with st.expander(f"Study participants: {len(people)}, {len(excluded)} excluded", expanded=len(excluded) > 0):
        st.dataframe(people, hide_index=True, width="stretch", column_config={
            "participant": "Participant", "status": "Status", "is_excluded": "Excluded", "reason": "Why excluded",
            "items_done": "Items done", "attention_failed": "Attention checks failed",
            "attention_checks": "Attention checks", "fast_labels": "Fast labels"})
        st.caption("Excluded participants' labels are left out of reports and exports by default.")
        with st.form("participant-exclusion"):
            who = st.selectbox("Participant", people["participant"].tolist())
            reason = st.text_input("Reason (to exclude)", placeholder="e.g. answers every item in two seconds")
            left_button, right_button = st.columns(2)
            exclude = left_button.form_submit_button("Exclude")
            include = right_button.form_submit_button("Include again")
        if exclude or include:
            try:
                review.set_participant_exclusion(conn, project.name, who, user["name"], bool(exclude), reason)
            except AnnotateError as exc:
                st.error(str(exc))
            else:
                st.toast(f"{who}: {'excluded' if exclude else 'included again'}")
                st.rerun()
fast = review.fast_labels_table(conn, project.name)
if len(fast):
    with st.expander(f"Labels faster than {project.config.study.min_seconds:g} seconds: {len(fast)}"):
        st.dataframe(fast, hide_index=True, width="stretch",
                     column_config={"id": "Item", "participant": "Annotator", "seconds": "Seconds"})
        st.caption("Marked, not hidden: reports and exports still count them.")

for column, row in zip(st.columns(len(queue.counts)), queue.counts.itertuples()):
    column.metric(row.label, f"{row.open} open")
    column.caption(f"{row.closed} closed, {row.total} in all")
low = queue.annotators[queue.annotators["is_low"]]
if len(low):
    st.warning("Low agreement with the other annotators: " + ", ".join(
        f"{r.annotator} ({r.agreement:.0%} of {r.compared} items)" for r in low.itertuples()))
is_pairwise = project.task_type == "pairwise"
shown = queue.items.drop(columns=["item_id"] if is_pairwise else ["item_id", "human_majority"])
if not project.config.study.min_seconds:  # no minimum time: no label is too fast
    shown = shown.drop(columns="fast_labels")
if queue.items.empty:
    st.info("Nothing to review with these filters.")
else:
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "id": "Item", "reasons": "Why", "status": "Status", "human_labels": "Human labels",
        "human_majority": "Human majority", "judges": "Judges (both orders combined)" if is_pairwise else "Judges",
        "adjudicated": "Adjudicated",
        "flags": "Flag comments", "skips": "Skip reasons", "waiting_for": "Labels still wanted",
        "fast_labels": "Labels faster than the minimum time"})

queued, typed = st.columns(2)
chosen = queued.selectbox("Open item", queue.items["id"].tolist(), placeholder="The queue is empty")
# Any item, not only queued ones: a study's attention checks and practice items are usually chosen
# before anyone has labeled anything (the "Use as a check" tab).
other = typed.text_input("Or any item of the project, by its id", placeholder="e.g. one to use as an attention check",
                         help="While this holds an id, that item is the one open; empty it to open queued items.")
chosen = other.strip() or chosen
if not chosen:
    st.stop()
try:
    item = review.review_item(conn, project.name, chosen)
except AnnotateError as exc:
    st.error(str(exc))
    st.stop()
st.subheader(f"Item {chosen}")
st.markdown(f"**Prompt**\n\n{item.item['prompt']}")
if item.item["context"]:
    st.markdown(f"**Context**\n\n{item.item['context']}")
for column, response in zip(st.columns(len(item.item["responses"])), item.item["responses"]):
    column.markdown(f"**Response {response['letter']}** ({response['model'] or 'model not recorded'})")
    column.container(border=True).markdown(response["text"])
st.markdown("**Labels, skips and flags**")
events = review.events_table(item, project.config.study.min_seconds or None)
st.dataframe(events if is_pairwise else events.drop(columns=["Both bad", "Order shown"]), hide_index=True,
             width="stretch")
st.markdown("**Judges' verdicts in both orders**" if is_pairwise else "**Judges' scores**")
if item.judgments.empty:
    st.caption("No judge has judged this item.")
else:
    st.dataframe(review.judgments_table(item), hide_index=True, width="stretch")
    for row in item.combined.itertuples():
        st.caption(f"{row.judge}: {row.verdict} combined" + (" (changes its verdict when A and B are swapped)"
                                                             if row.is_inconsistent else ""))


def act(action, *args, **kwargs) -> None:
    """Run one review action; show its error, or confirm and reload the queue."""
    try:
        action(conn, project.name, chosen, user["name"], *args, **kwargs)
    except AnnotateError as exc:
        st.error(str(exc))
        return
    st.toast(f"Item {chosen}: done")
    st.rerun()


resolve_tab, requeue_tab, adjudicate_tab, check_tab = st.tabs(["Resolve", "Re-queue", "Adjudicate",
                                                                "Use as a check"])
review_checks.show_check_controls(check_tab, conn, project, chosen, item.item["responses"])
with resolve_tab.form("resolve"):
    note = st.text_area("Note", placeholder="What was done about the flag, skip or disagreement")
    if st.form_submit_button("Resolve"):
        act(review.resolve_item, note)
with requeue_tab.form("requeue"):
    more = st.number_input("More human labels", 1, 20, 1)
    if st.form_submit_button("Re-queue"):
        act(review.requeue_item, int(more))
with adjudicate_tab.form("adjudicate"):
    models = {r["letter"]: r["model"] or "model not recorded" for r in item.item["responses"]}
    if is_pairwise:
        scale = {p.value: p.label for p in project.config.scale}
        named = {v: label.replace("A ", f"A ({models['A']}) ", 1).replace("B ", f"B ({models['B']}) ", 1)
                 for v, label in scale.items()}
        values = {aspect: st.radio(f"Final label: {aspect}", list(scale), format_func=named.get, horizontal=True,
                                   index=None) for aspect in project.config.aspect_names}
        both_bad = st.checkbox("Both responses are bad")
    else:
        values = {i: {c.name: st.select_slider(f"Response {i + 1}: {c.name}", list(c.scores))
                      for c in project.config.criteria} for i in range(len(item.item["responses"]))}
        both_bad = False
    why = st.text_input("Why (kept with the label)")
    if st.form_submit_button("Save final label", type="primary"):
        if any(v is None for v in values.values()):
            st.error("Choose the final label for every aspect first.")
        else:
            act(review.adjudicate_item, values, both_bad=both_bad, note=why)
