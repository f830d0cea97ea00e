"""Which item's form is on an annotator's screen, so that a label lands only where it was meant.

Every time the label screen shows an item it issues a form: a random nonce bound to the item (and,
for an edit, to the label event being replaced). The browser sends that nonce and the item id
with its one submit message. The server stores the label only if the message names the form that
is on screen now; a message for an item that is no longer shown (a slow network, a second tab,
an old page) is refused with a message, and a second submit of the same form (a double-pressed
Ctrl+Enter) is refused as a duplicate. The record lives in the annotator's session state (any
MutableMapping), one per browser tab.
"""
from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass
from typing import MutableMapping

from annotate.errors import LabelError

FORM_KEY = "label_form"
SUBMITTED_KEY = "label_forms_submitted"
REMEMBERED = 50  # submitted nonces kept per session to recognize duplicates

STALE_MESSAGE = "Not saved: that answer was for an item that is no longer on your screen. Nothing changed."
DUPLICATE_MESSAGE = "Already saved; the repeated submit was ignored."


class StaleSubmitError(LabelError):
    """A submit for a form that is not the one on screen."""


class DuplicateSubmitError(LabelError):
    """A second submit of a form that was already saved."""


@dataclass(frozen=True)
class Form:
    """One showing of an item: the nonce the browser must send back, and what it labels."""
    nonce: str
    item_id: int
    event_id: int | None = None


def show_form(state: MutableMapping, item_id: int, event_id: int | None = None) -> Form:
    """The form for the item on screen: the same one while the same item (or edit) stays shown,
    a fresh nonce as soon as another item is shown."""
    form = state.get(FORM_KEY)
    if form is None or (form.item_id, form.event_id) != (int(item_id), event_id):
        form = state[FORM_KEY] = Form(secrets.token_hex(8), int(item_id), event_id)
    return form


def check_submit(state: MutableMapping, nonce: str, item_id: int) -> Form:
    """The form a submit message answers, if it is the one on screen and not yet submitted.

    Raises:
        DuplicateSubmitError: the form was already submitted.
        StaleSubmitError: the message is for another item or an older showing of this one.
    """
    if nonce in state.get(SUBMITTED_KEY, ()):
        raise DuplicateSubmitError(DUPLICATE_MESSAGE)
    return check_open(state, nonce, item_id)


def check_open(state: MutableMapping, nonce: str, item_id: int) -> Form:
    """The form on screen if the message names it (also for actions that keep the item, a flag).

    Raises:
        StaleSubmitError: the message is for another item or an older showing of this one.
    """
    form = state.get(FORM_KEY)
    if form is None or form.nonce != nonce or form.item_id != _as_int(item_id):
        raise StaleSubmitError(STALE_MESSAGE)
    return form


def close_form(state: MutableMapping, form: Form) -> None:
    """Close the form once its action is stored: a repeat of it is then a duplicate."""
    state.setdefault(SUBMITTED_KEY, deque(maxlen=REMEMBERED)).append(form.nonce)
    if state.get(FORM_KEY) == form:
        del state[FORM_KEY]


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
