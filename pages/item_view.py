"""Widgets that show one item and collect a label: the pairwise and the rubric screens.

All item text goes through st.markdown without unsafe_allow_html, so HTML in it is shown as text.
Widget keys carry `form`, the item (or edited event) id, so each item starts with a fresh form.
"""
from __future__ import annotations

import streamlit as st

from annotate.labeling.assignment import Assignment
from annotate.projects import Project
from annotate.labeling.textdiff import diff_words, highlighted_markdown, item_markdown

SIDES = ("A", "B")


def show_prompt(item: Assignment) -> None:
    with st.container(border=True):
        st.caption("Prompt")
        if item.context:
            st.markdown(item_markdown(item.context))
        st.markdown(item_markdown(item.prompt))


def _choose(key: str, value) -> None:
    st.session_state[key] = value


def toggle_button(label: str, key: str, shortcut: str, default: bool = False) -> bool:
    """An on/off button with a shortcut; a checkbox would keep keyboard focus and swallow shortcuts."""
    is_on = st.session_state.setdefault(key, default)
    st.button(label, key=f"{key}-button", shortcut=shortcut, on_click=_choose, args=(key, not is_on),
              icon=":material/check_box:" if is_on else ":material/check_box_outline_blank:")
    return is_on


def show_pairwise(project: Project, item: Assignment, form: str) -> dict:
    """Show A and B side by side and the scale; return the label fields chosen so far."""
    config, previous = project.config, item.previous
    texts = [item_markdown(text) for text in item.responses]
    if config.highlight_diff and toggle_button("Highlight differences", f"diff-{form}", "D"):
        texts = [highlighted_markdown(side) for side in diff_words(*item.responses)]
    for column, side, text in zip(st.columns(2, gap="medium"), SIDES, texts):
        with column.container(border=True):
            st.markdown(f"**Response {side}**")
            st.markdown(text)
    choice_key = f"overall-{form}"
    st.session_state.setdefault(choice_key, previous.get("values", {}).get("overall"))
    st.markdown("**Overall** - which response is better?")
    for i, (column, point) in enumerate(zip(st.columns(len(config.scale)), config.scale), start=1):
        selected = st.session_state[choice_key] == point.value
        column.button(point.label, key=f"scale-{point.value}-{form}", shortcut=str(i) if i <= 9 else None,
                      type="primary" if selected else "secondary", width="stretch",
                      on_click=_choose, args=(choice_key, point.value))
    values = {"overall": st.session_state[choice_key]}
    labels = {p.value: p.label for p in config.scale}
    for aspect in config.aspects:
        values[aspect.name] = st.segmented_control(
            f"**{aspect.name}** {aspect.description}", list(labels), format_func=labels.get,
            default=previous.get("values", {}).get(aspect.name), key=f"aspect-{aspect.name}-{form}")
    both_bad = config.both_bad_flag and toggle_button("Both responses are bad", f"bad-{form}", "B",
                                                      bool(previous.get("both_bad")))
    return {"values": values, "both_bad": bool(both_bad), **_common_fields(project, item, form)}


def show_rubric(project: Project, item: Assignment, form: str) -> dict:
    """Show each response with a row of scores per criterion; return the label fields."""
    if item.reference:
        with st.expander("Reference answer"):
            st.markdown(item_markdown(item.reference))
    previous = item.previous.get("values", {})
    values: dict[int, dict] = {}
    for idx, text in enumerate(item.responses):
        with st.container(border=True):
            st.markdown(f"**Response {idx + 1}**" if len(item.responses) > 1 else "**Response**")
            st.markdown(item_markdown(text))
        values[idx] = {}
        for criterion in project.config.criteria:
            scores = list(criterion.scores)
            old = previous.get(idx, {}).get(criterion.name)
            values[idx][criterion.name] = st.radio(
                f"**{criterion.name}** {criterion.description}", scores, horizontal=True,
                captions=list(criterion.scores.values()), key=f"crit-{idx}-{criterion.name}-{form}",
                index=scores.index(old) if old in scores else None)
    return {"values": values, **_common_fields(project, item, form)}


def _common_fields(project: Project, item: Assignment, form: str) -> dict:
    config, previous = project.config, item.previous
    confidence = None
    if config.ask_confidence:
        confidence = st.segmented_control("Confidence (optional)", [1, 2, 3, 4, 5], key=f"conf-{form}",
                                          default=previous.get("confidence"),
                                          help="1 = guessing, 5 = certain")
    justification = None
    if config.justification != "off":
        required = config.justification == "required"
        hint = f" (required, at least {config.justification_min_chars} characters)" if required else " (optional)"
        justification = st.text_area("Justification" + hint, key=f"just-{form}", height=80,
                                     value=previous.get("justification") or "") or None
    return {"confidence": confidence, "justification": justification}


def is_complete(project: Project, fields: dict) -> bool:
    """Whether every value the label needs has been chosen."""
    if project.task_type == "pairwise":
        return all(v is not None for v in fields["values"].values())
    return all(v is not None for scores in fields["values"].values() for v in scores.values())
