"""The label controls (scale or rubric rows, optional fields, skip/flag) as one Streamlit component.

It uses st.components.v2 with inline JS and CSS from this folder (no npm build): choices stay in
the browser, so a choice key shows at once, and one "action" message per submit carries the item
and the form nonce it was made on (see annotate.labeling.screen for what happens to it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

KEY = "label-controls"
_FOLDER = Path(__file__).parent


@st.cache_resource(show_spinner=False)
def _renderer():
    """Register the component once per server (a second registration would replace the first)."""
    return st.components.v2.component(
        "annotate.label_controls", js=(_FOLDER / "label_keys.js").read_text(encoding="utf-8"),
        css=(_FOLDER / "label_keys.css").read_text(encoding="utf-8"), isolate_styles=False)


def label_controls(data: dict, on_action: Callable[[], None]) -> None:
    """Show the controls for `data` (annotate.labeling.screen.controls_data); `on_action` runs
    (before the fragment reruns) when the browser sends an action; read it with last_action()."""
    _renderer()(key=KEY, data=data, on_action_change=on_action)


def last_action() -> dict | None:
    """The action message that triggered this run, or None."""
    result = st.session_state.get(KEY)
    action = getattr(result, "action", None) if result is not None else None
    if action is None and isinstance(result, dict):
        action = result.get("action")
    return action if isinstance(action, dict) else None
