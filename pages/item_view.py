"""How one item is shown to an annotator: the prompt and the responses (the label controls are the
label_controls component).

All item text goes through st.markdown without unsafe_allow_html, so HTML in it is shown as text,
and through annotate.labeling.item_text, so images from other hosts are links, not fetched.
"""
from __future__ import annotations

import streamlit as st

from annotate.labeling.assignment import Assignment
from annotate.labeling.item_text import ImagePolicy, item_markdown
from annotate.labeling.textdiff import highlight_differences
from annotate.projects import Project

SIDES = ("A", "B")


def show_prompt(item: Assignment, images: ImagePolicy) -> None:
    context = f"{item_markdown(item.context, images)}\n\n" if item.context else ""
    st.container(border=True).markdown(f":gray[Prompt]\n\n{context}{item_markdown(item.prompt, images)}")


def show_pairwise(item: Assignment, images: ImagePolicy, diff_on: bool) -> None:
    """A and B side by side (stacked on a phone), their differences highlighted when asked."""
    texts = [item_markdown(text, images) for text in item.responses]
    if diff_on:
        highlight = highlight_differences(*item.responses, images=images)
        texts = [highlight.left, highlight.right]
        if highlight.note:
            st.caption(highlight.note)
    for column, side, text in zip(st.columns(2, gap="medium"), SIDES, texts):
        column.container(border=True).markdown(f"**Response {side}**\n\n{text}")  # one element: less to redraw


def show_rubric(item: Assignment, images: ImagePolicy) -> None:
    """The reference answer (folded) and each response."""
    if item.reference:
        with st.expander("Reference answer"):
            st.markdown(item_markdown(item.reference, images))
    for idx, text in enumerate(item.responses):
        with st.container(border=True):
            st.markdown(f"**Response {idx + 1}**" if len(item.responses) > 1 else "**Response**")
            st.markdown(item_markdown(text, images))


def show_item(project: Project, item: Assignment, diff_on: bool) -> None:
    """The prompt and the responses of the item, as its project shows them."""
    images = ImagePolicy.of(project.config)
    show_prompt(item, images)
    if project.task_type == "pairwise":
        show_pairwise(item, images, diff_on)
    else:
        show_rubric(item, images)
