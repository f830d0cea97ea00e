"""The label screen's logic without Streamlit: what the label controls are given, and what one
message from them does.

The browser-side controls (pages/components/label_keys) keep every choice until the annotator
submits; then one message arrives: {type, nonce, item_id, ...}. `handle_action` checks it against
the form on screen (annotate.labeling.forms), performs it (label, edit, skip, flag, cancel, the
highlighting toggle) and returns an Outcome for the page to show. A refused message changes no
label and says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, MutableMapping


import storage
from storage import assignment as assignment_store
from storage.db import Connection
from annotate.errors import AnnotateError, LabelError
from annotate.labeling import assignment, forms
from annotate.labeling.assignment import Assignment
from annotate.projects import Project

SKIP_DEFAULT = "I cannot judge this item"
ACTIONS = ("submit", "skip", "flag", "cancel", "diff")


@dataclass(frozen=True)
class Outcome:
    """What an action did: `kind` is 'saved', 'updated', 'skipped', 'flagged', 'cancelled', 'diff'
    or 'refused'; `message` is shown to the annotator (an error when refused)."""
    kind: str
    message: str
    diff_on: bool = False

    @property
    def is_refused(self) -> bool:
        return self.kind == "refused"


def controls_data(project: Project, item: Assignment, form: forms.Form, *, rev: int, diff_on: bool) -> dict:
    """The label controls' input for one item: rows of options, optional fields, the form.

    Pairwise rows: 'overall' and each aspect, options in scale order (digit 1 = the first point,
    e.g. "A is much better"). Rubric rows: one per (response, criterion), keyed 'IDX:CRITERION',
    digits = the scores themselves when they are 0..9, else positions. Values are as presented.
    No ids or names from the dataset: only the internal item id, which means nothing outside.
    """
    config, previous = project.config, item.previous.get("values", {})
    rows: list[dict[str, Any]] = []
    if project.task_type == "pairwise":
        options = [{"value": p.value, "label": p.label, "digit": str(i) if i <= 9 else ""}
                   for i, p in enumerate(config.scale, start=1)]
        rows.append({"key": "overall", "title": "Overall: which response is better?", "group": None,
                     "options": options, "value": previous.get("overall")})
        rows.extend({"key": a.name, "title": f"{a.name}: {a.description}".rstrip(": "), "group": None,
                     "options": options, "value": previous.get(a.name)} for a in config.aspects)
    else:
        many = len(item.responses) > 1
        for idx in range(len(item.responses)):
            for criterion in config.criteria:
                scores = list(criterion.scores)
                by_value = all(0 <= s <= 9 for s in scores)
                options = [{"value": s, "label": f"{label}" if label else str(s),
                            "digit": str(s) if by_value else (str(i) if i <= 9 else "")}
                           for i, (s, label) in enumerate(criterion.scores.items(), start=1)]
                rows.append({"key": f"{idx}:{criterion.name}",
                             "title": f"{criterion.name}: {criterion.description}".rstrip(": "),
                             "group": f"Response {idx + 1}" if many else None, "options": options,
                             "value": previous.get(idx, {}).get(criterion.name)})
    justification = None
    if config.justification != "off":
        justification = {"mode": config.justification, "min_chars": config.justification_min_chars,
                         "value": item.previous.get("justification") or ""}
    return {
        "nonce": form.nonce, "item_id": form.item_id, "rev": rev,
        "mode": "edit" if item.event_id else "label",
        "submit_label": "Save edit" if item.event_id else "Submit",
        "rows": rows,
        "confidence": {"value": item.previous.get("confidence")} if config.ask_confidence else None,
        "justification": justification,
        "both_bad": {"value": bool(item.previous.get("both_bad"))}
        if config.both_bad_flag and project.task_type == "pairwise" else None,
        "diff": {"on": diff_on} if config.highlight_diff and project.task_type == "pairwise" else None,
        "skip_default": SKIP_DEFAULT,
    }


def screen_values(project: Project, values: Mapping[str, Any]) -> dict:
    """The controls' values as annotate.labeling.assignment takes them (as presented).

    Raises:
        LabelError: a row is missing, unknown or not a whole number.
    """
    def number(key: str) -> int:
        value = values.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            raise LabelError(f"Row '{key}': choose a value before submitting")
        return int(value)

    if project.task_type == "pairwise":
        return {aspect: number(aspect) for aspect in project.config.aspect_names}
    scores: dict[int, dict[str, int]] = {}
    for key in values:
        idx, _, criterion = str(key).partition(":")
        if not idx.isdigit() or criterion not in project.config.aspect_names:
            raise LabelError(f"Unknown rubric row '{key}'")
        scores.setdefault(int(idx), {})[criterion] = number(key)
    return scores


def handle_action(conn: Connection, project: Project, annotator_id: int,
                  state: MutableMapping, message: Mapping[str, Any] | None) -> Outcome | None:
    """Perform one message from the label controls, if it names the form on screen.

    Args:
        state: the annotator's session state (holds the form on screen; see annotate.labeling.forms).
        message: {type, nonce, item_id, ...}: 'submit' adds values, confidence, both_bad,
            justification; 'skip' and 'flag' add note; 'diff' adds on.

    Returns:
        The outcome to show, or None for no message.
    """
    if not message:
        return None
    if not isinstance(message, Mapping):
        return Outcome("refused", "Unreadable action; nothing changed.")
    kind, nonce, item_id = message.get("type"), str(message.get("nonce")), message.get("item_id")
    if kind not in ACTIONS:
        return Outcome("refused", f"Unknown action {kind!r}; nothing changed.")
    try:
        if kind == "submit":
            form = forms.check_submit(state, nonce, item_id)
            outcome = _submit(conn, project, annotator_id, form, message)
            forms.close_form(state, form)  # closed only once the label is stored
            return outcome
        form = forms.check_open(state, nonce, item_id)
        if kind == "diff":
            return Outcome("diff", "", diff_on=bool(message.get("on")))
        if kind == "cancel":
            forms.close_form(state, form)
            return Outcome("cancelled", "Edit cancelled; your label is unchanged.")
        if form.event_id is not None:
            raise LabelError("Skip and flag are for new items, not for an edit")
        note = str(message.get("note") or "")
        if kind == "skip":
            assignment.skip_item(conn, project, annotator_id, form.item_id, note)
            forms.close_form(state, form)
            return Outcome("skipped", "Skipped.")
        assignment.flag_item(conn, project, annotator_id, form.item_id, note)
        return Outcome("flagged", "Flag sent to the researchers; please still label or skip this item.")
    except (AnnotateError, storage.StoreError) as exc:  # StoreFullError: the disk is full, nothing was saved
        return Outcome("refused", str(exc))


def submit_fields(project: Project, message: Mapping[str, Any]) -> tuple[dict, dict]:
    """A submit message's values (as presented, see screen_values) and its other fields (both_bad,
    justification, confidence), checked: what assignment.submit_label and a study's submit
    (annotate.study.flow.submit) take.

    Raises:
        LabelError: a row without a value, a confidence that is not a whole number, a
            justification that is not text.
    """
    values, confidence, justification = message.get("values") or {}, message.get("confidence"), message.get("justification")
    if not isinstance(values, Mapping):
        raise LabelError("Choose a value for every row before submitting")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                   or not float(confidence).is_integer()):
        raise LabelError("Confidence must be a whole number from 1 to 5")
    if justification is not None and not isinstance(justification, str):
        raise LabelError("The justification must be text")
    fields = {"both_bad": bool(message.get("both_bad")) and project.task_type == "pairwise",
              "justification": justification.strip() or None if justification else None,
              "confidence": int(confidence) if confidence is not None and project.config.ask_confidence else None}
    return screen_values(project, values), fields


def _submit(conn: Connection, project: Project, annotator_id: int, form: forms.Form,
            message: Mapping[str, Any]) -> Outcome:
    values, fields = submit_fields(project, message)
    if form.event_id is not None:
        assignment.edit_from_history(conn, project, annotator_id, form.event_id, values, **fields)
        ordinal = history_ordinal(conn, project, annotator_id, form.item_id)
        return Outcome("updated", f"Updated item {ordinal} of your history.")
    try:
        assignment.submit_label(conn, project, annotator_id, form.item_id, values, **fields)
    except LabelError:
        earlier = history_ordinal(conn, project, annotator_id, form.item_id)
        if earlier is None:
            raise
        raise LabelError(f"Not saved: you already labeled this item (item {earlier} of your history), perhaps "
                         f"in another tab; nothing changed. Edit it from My history.") from None
    ordinal = history_ordinal(conn, project, annotator_id, form.item_id)
    return Outcome("saved", f"Saved item {ordinal} of your history.")


def history_ordinal(conn: Connection, project: Project, annotator_id: int, item_id: int) -> int | None:
    """The item's number in the annotator's history of the project (1 = the first they labeled):
    what annotators see instead of the dataset's id, which can name models."""
    return assignment_store.history_ordinal(storage.cursor(conn), project.id, annotator_id, item_id)
