"""A study participant's label screen without Streamlit: the controls' input and what one message does.

The participant's screen is the annotators' (annotate.labeling.screen: same controls, same form
nonces, same checks of a submit), with three differences:
- a submit goes through annotate.study.flow.submit, which scores training and attention-check items
  and returns the feedback of a training item;
- there is no skip (a skipped attention check would tell the participant it was one, and a skip
  would not count toward the quota); a crafted skip message is refused. Flag stays: a participant
  can still tell the researchers that an item cannot be answered;
- the messages never mention a history (participants have none).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, MutableMapping

import storage
from annotate.errors import AnnotateError
from annotate.labeling import forms, screen
from annotate.labeling.screen import Outcome
from annotate.projects import Project
from annotate.study import flow
from annotate.study.flow import Feedback, StudyItem

NO_SKIP = "This study has no skipping: please answer the item, or flag it if it cannot be answered."
FLAGGED = "Flag sent to the researchers; please still answer this item."


@dataclass(frozen=True)
class StudyOutcome:
    """What a participant's action did (`outcome`, as the annotators' screen says it) and, after a
    training item, the feedback to show before the next item."""
    outcome: Outcome
    feedback: Feedback | None = None


ON_SCREEN = "on-screen"  # what a participant's browser holds instead of the database item id


def controls_data(project: Project, item: StudyItem, form: forms.Form, *, rev: int, diff_on: bool) -> dict:
    """The label controls' input for a participant's item: the annotators' (screen.controls_data)
    without the skip button and key, and without the database item id: a training or attention-check
    item has the same id for every participant, so two participants comparing their page source
    could tell the checks apart. The form nonce alone (fresh for every showing) ties a message to
    the item on screen."""
    return {**screen.controls_data(project, item.assignment, form, rev=rev, diff_on=diff_on),
            "item_id": ON_SCREEN, "can_skip": False}


def _with_item_on_screen(state: Mapping, message: Mapping[str, Any]) -> dict:
    """The message with the database id of the item whose form is on screen in place of ON_SCREEN
    (anything else, such as a database id typed into a crafted message, names no item)."""
    form = state.get(forms.FORM_KEY)
    shown = form.item_id if form is not None and message.get("item_id") == ON_SCREEN else None
    return {**message, "item_id": shown}


def handle_action(conn, project: Project, annotator_id: int, state: MutableMapping,
                  message: Mapping[str, Any] | None) -> StudyOutcome | None:
    """Perform one message from a participant's label controls, if it names the form on screen.

    Args:
        state: the participant's session state (holds the form on screen; see annotate.labeling.forms).
        message: as for annotate.labeling.screen.handle_action.

    Returns:
        The outcome (refused with a reason when the message is stale, invalid, a skip, or the study
        no longer serves the participant), or None for no message.
    """
    if not message:
        return None
    if not isinstance(message, Mapping):
        return StudyOutcome(screen.handle_action(conn, project, annotator_id, state, message))
    message = _with_item_on_screen(state, message)
    kind = message.get("type")
    if kind == "skip":
        return StudyOutcome(Outcome("refused", NO_SKIP))
    if kind != "submit":
        outcome = screen.handle_action(conn, project, annotator_id, state, message)
        if outcome is not None and outcome.kind == "flagged":
            outcome = Outcome("flagged", FLAGGED)
        return StudyOutcome(outcome) if outcome is not None else None
    try:
        form = forms.check_submit(state, str(message.get("nonce")), message.get("item_id"))
        values, fields = screen.submit_fields(project, message)
        result = flow.submit(conn, project, annotator_id, form.item_id, values, **fields)
        forms.close_form(state, form)  # closed only once the answer is stored
    except (AnnotateError, storage.StoreError) as exc:
        return StudyOutcome(Outcome("refused", str(exc)))
    return StudyOutcome(Outcome("saved", "Saved."), result.feedback)
