"""The Review page's "Use as a check" tab: make the open item an attention check or a practice item
of a crowd study (its expected answer chosen in words), or an ordinary item again."""
from __future__ import annotations

import streamlit as st

from annotate.errors import AnnotateError
from annotate.projects import Project
from annotate.signs import VERDICT
from annotate.study import checks

PURPOSE_WORDS = {"attention": "an attention check", "training": "a practice item"}


def show_check_controls(tab, conn, project: Project, external_id: str, responses: list[dict]) -> None:
    """Draw the tab for item `external_id`, whose `responses` (letter, model) the page shows."""
    models = {r["letter"]: r["model"] or "model not recorded" for r in responses}
    with tab:
        try:
            current = checks.check_of_item(conn, project, external_id)
        except AnnotateError as exc:
            st.error(str(exc))
            return
        if current is not None:
            st.info(f"This item is {PURPOSE_WORDS[current['purpose']]} of the study. Expected answer: "
                    f"{current['answer']}." + (f" Explanation: {current['explanation']}" if current["explanation"]
                                               else ""))
            if st.button("Stop using it as a check"):
                _run(checks.unmark, conn, project, [external_id], item=external_id, done="is an ordinary item again")
        else:
            st.caption("Participants meet attention checks among their items, never told which; practice items come "
                       "first and show the expected answer and your explanation after each answer.")
        with st.form("study-check"):
            answer = _answer_control(project, models, current, external_id)
            explanation = st.text_area("Explanation (shown after a practice item)",
                                       value=current["explanation"] if current else "",
                                       placeholder="Why this answer is the right one")
            left, right = st.columns(2)
            as_attention = left.form_submit_button("Use as attention check")
            as_practice = right.form_submit_button("Use as practice item")
        if as_attention or as_practice:
            if answer is None:
                st.error("Choose the expected answer first.")
                return
            purpose = "attention" if as_attention else "training"
            _run(checks.mark_item, conn, project, external_id, purpose, answer, explanation, item=external_id,
                 done=f"is {PURPOSE_WORDS[purpose]} now")


def _answer_control(project: Project, models: dict[str, str], current: dict | None, external_id: str):
    """The expected answer's controls (canonical A/B order); the answer as checks.mark_item takes it."""
    expected = current["expected"] if current else None
    if project.task_type == "pairwise":
        words = {"A": f"Response A ({models['A']}) is better", "tie": "A tie",
                 "B": f"Response B ({models['B']}) is better"}
        chosen = None
        if expected is not None:
            value = expected["overall"]
            chosen = list(words).index(VERDICT[(value > 0) - (value < 0)])
        return st.radio("Expected answer", list(words), format_func=words.get, index=chosen, horizontal=True,
                        key=f"study-check-answer-{external_id}")
    scores = {}
    for idx, letter in enumerate(models):
        scores[str(idx + 1)] = {
            c.name: st.select_slider(f"Expected: response {letter} ({models[letter]}), {c.name}", list(c.scores),
                                     value=(expected or {}).get(str(idx), {}).get(c.name, list(c.scores)[0]),
                                     key=f"study-check-{external_id}-{idx}-{c.name}")
            for c in project.config.criteria}
    return scores


def _run(action, *args, item: str, done: str) -> None:
    """Run one check action; show its error, or confirm and reload the page."""
    try:
        action(*args)
    except AnnotateError as exc:
        st.error(str(exc))
        return
    st.toast(f"Item {item}: {done}")
    st.rerun()
