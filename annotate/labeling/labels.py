"""Where a human label is written: record, skip, flag and edit.

Every action appends one event (see storage/labels.py); nothing is updated or deleted. Values are
validated against the project's config and stored in canonical order: the caller passes what the
annotator chose *as presented*, with `presented_order`, and `canonical_values` flips pairwise
values when B was shown on the left.
"""
from __future__ import annotations

import threading
from typing import Mapping

import storage
from storage.db import Connection, Cursor
from storage import items as item_store, labels as store
from annotate.errors import LabelError, NotFoundError
from annotate.projects import Project
from annotate.text_checks import strip_nul

ORDERS = ("AB", "BA")
_ANNOTATOR_LOCKS = [threading.Lock() for _ in range(64)]


def canonical_values(values: Mapping[str, int], presented_order: str) -> dict[str, int]:
    """Turn pairwise values chosen on screen into canonical ones.

    On screen the left response is "A". With presented_order 'BA' the left response is canonical B,
    so a choice of "left is better" (negative) means canonical B is better: the sign flips.
    """
    if presented_order not in ORDERS:
        raise LabelError(f"presented_order must be 'AB' or 'BA', not {presented_order!r}")
    odd = {aspect: value for aspect, value in values.items()
           if value is not None and (isinstance(value, bool) or not float(value).is_integer())}
    if odd:
        raise LabelError(f"Pairwise values must be whole points on the scale, got {odd}")
    sign = 1 if presented_order == "AB" else -1
    return {aspect: None if value is None else sign * int(value) for aspect, value in values.items()}


def record_label(conn: Connection, project: Project, annotator_id: int, item_id: int,
                 values: Mapping, *, presented_order: str | None = None, both_bad: bool = False,
                 justification: str | None = None, confidence: int | None = None,
                 seconds: float | None = None, supersedes: int | None = None, source: str = "app") -> int:
    """Append a label event and return its id.

    Args:
        values: pairwise: {aspect: signed value} in canonical order ('overall' and each aspect);
            rubric: {response_idx: {criterion: score}} for every response of the item.
        presented_order: 'AB' or 'BA' as shown on screen (pairwise; None when unknown, e.g. imports).
        supersedes: the id of the annotator's own event that this one replaces (an edit).

    Raises:
        LabelError: values off the scale or missing, justification too short, a second label on
            an item the annotator already labeled, or an edit of an event that is not current.
        NotFoundError: no such item in the project, or no such active annotator.
    """
    item_id, annotator_id = int(item_id), int(annotator_id)
    n_responses = 2
    if project.task_type == "rubric":
        header = item_store.item_header(storage.cursor(conn), item_id)
        n_responses = header["n_responses"] if header else 0
    rows = _validate_values(project, n_responses, values)
    justification = strip_nul(justification)  # typed text: see annotate/text_checks.py
    _check_justification(project, justification)
    if confidence is not None and not 1 <= int(confidence) <= 5:
        raise LabelError(f"confidence must be 1..5, not {confidence}")
    if presented_order is not None and presented_order not in ORDERS:
        raise LabelError(f"presented_order must be 'AB' or 'BA', not {presented_order!r}")
    event = {"project_id": project.id, "item_id": item_id, "annotator_id": annotator_id, "kind": "label",
             "presented_order": presented_order, "both_bad": bool(both_bad), "justification": justification,
             "confidence": confidence, "seconds": seconds, "supersedes": supersedes, "source": source}
    return _insert(conn, project, event, rows)


def _insert(conn: Connection, project: Project, event: dict, rows: list) -> int:
    """Check the item, the annotator and the label chain, then insert; explain a refusal precisely.

    "Check, then insert" must be atomic so that the same annotator cannot slip a second label on an
    item between the two. DuckDB lets one process write the file, so a lock per annotator (striped)
    does it; on PostgreSQL, where several app servers write, the check and the insert also run in
    one transaction holding the annotator's advisory lock (storage.labels.lock_annotator).
    """
    def check_and_insert(cur: Cursor) -> int:
        store.lock_annotator(cur, event["annotator_id"])
        context = store.label_context(cur, event["annotator_id"], event["item_id"])
        if context["item_project_id"] != project.id:
            raise NotFoundError(f"No item {event['item_id']} in project '{project.name}'")
        if not context["is_active"]:
            raise NotFoundError(f"No active annotator {event['annotator_id']}")
        current, supersedes = context["current_event_id"], event.get("supersedes")
        if event["kind"] == "label" and current != supersedes:
            if supersedes is None:
                raise LabelError(f"Annotator {event['annotator_id']} already labeled item {event['item_id']}; "
                                 f"edit event {current} instead")
            raise LabelError(f"Event {supersedes} is not the annotator's current label of item "
                             f"{event['item_id']} (the current one is {current}); it cannot be edited")
        return store.insert_label_event(cur, event, rows)

    with _ANNOTATOR_LOCKS[event["annotator_id"] % len(_ANNOTATOR_LOCKS)]:
        return storage.write(conn, check_and_insert, transaction=False)


def edit_label(conn: Connection, project: Project, annotator_id: int, event_id: int,
               values: Mapping, **fields) -> int:
    """Replace one of the annotator's own current labels by a new event; the old one stays."""
    old = store.get_event(storage.cursor(conn), event_id)
    if old is None or old["annotator_id"] != int(annotator_id) or old["kind"] != "label":
        raise NotFoundError(f"No label event {event_id} by this annotator")
    fields.setdefault("presented_order", old["presented_order"])
    return record_label(conn, project, annotator_id, old["item_id"], values, supersedes=int(event_id), **fields)


def record_skip(conn: Connection, project: Project, annotator_id: int, item_id: int,
                reason: str, seconds: float | None = None) -> int:
    """Append a skip event with its reason; the item leaves this annotator's queue."""
    return _record_note(conn, project, annotator_id, item_id, "skip", reason, seconds)


def record_flag(conn: Connection, project: Project, annotator_id: int, item_id: int,
                comment: str, seconds: float | None = None) -> int:
    """Append a flag event with a comment for the researchers (the item stays in the queue)."""
    return _record_note(conn, project, annotator_id, item_id, "flag", comment, seconds)


def _record_note(conn, project, annotator_id, item_id, kind, note, seconds) -> int:
    note = strip_nul(note)  # typed text: see annotate/text_checks.py
    if not (note or "").strip():
        raise LabelError(f"A {kind} needs a {'reason' if kind == 'skip' else 'comment'}")
    event = {"project_id": project.id, "item_id": int(item_id), "annotator_id": int(annotator_id), "kind": kind,
             "note": note.strip(), "seconds": seconds, "both_bad": False, "source": "app"}
    return _insert(conn, project, event, [])


def _check_justification(project: Project, justification: str | None) -> None:
    config = project.config
    text = (justification or "").strip()
    if config.justification == "required" and len(text) < max(1, config.justification_min_chars):
        raise LabelError(f"A justification of at least {max(1, config.justification_min_chars)} "
                         f"characters is required (got {len(text)})")


def _validate_values(project: Project, n_responses: int, values: Mapping) -> list[tuple[str, int | None, float]]:
    """Check values against the config; return rows (aspect, response_idx, value)."""
    config = project.config
    if config.task_type == "pairwise":
        allowed = {p.value for p in config.scale}
        missing = [a for a in config.aspect_names if a not in values]
        unknown = [a for a in values if a not in config.aspect_names]
        if missing or unknown:
            raise LabelError(f"Pairwise label needs values for {config.aspect_names}; "
                             f"missing {missing}, unknown {unknown}")
        bad = {a: v for a, v in values.items() if v not in allowed}
        if bad:
            raise LabelError(f"Values {bad} are not on the scale {sorted(allowed)}")
        return [(aspect, None, float(values[aspect])) for aspect in config.aspect_names]
    rows = []
    indices = list(range(n_responses))
    if sorted(int(k) for k in values) != indices:
        raise LabelError(f"Rubric label needs scores for responses {indices}, got {sorted(values)}")
    for idx, scores in values.items():
        for criterion in config.criteria:
            score = scores.get(criterion.name)
            if score not in criterion.scores:
                raise LabelError(f"Response {idx}, criterion '{criterion.name}': score {score!r} is not "
                                 f"one of {list(criterion.scores)}")
            rows.append((criterion.name, int(idx), float(score)))
    return rows
