"""Review queue reads and writes: flags, skips, every event of an item, review actions (migration 70).

A review action is a researcher's decision on an item: 'resolve' (closes the item's flags and skips
up to `last_event_id`, with a note) or 'requeue' (asks for `extra_labels` more human labels: the
view `labels_toward_k` subtracts them from the labels that count toward the project's overlap k).
Adjudications are not stored here: they are label events with source 'adjudicated'.
"""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor

ADJUDICATED = "adjudicated"


def note_events(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every flag and skip of a project, with whether a later 'resolve' action closed it.

    Columns: event_id, item_id, external_id, kind ('flag' | 'skip'), annotator, note, created_at,
    is_resolved.
    """
    return cur.execute("""
        SELECT e.id AS event_id, e.item_id, i.external_id, e.kind, a.name AS annotator, e.note,
               e.created_at,
               EXISTS (SELECT 1 FROM review_actions r WHERE r.item_id = e.item_id AND r.action = 'resolve'
                       AND r.last_event_id >= e.id) AS is_resolved
        FROM label_events e JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? AND e.kind IN ('flag', 'skip')
        ORDER BY e.item_id, e.id""", [int(project_id)]).df()


def current_values(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Current labels (human and adjudicated), one row per (event, aspect, response).

    Columns: event_id, item_id, annotator_id, annotator, kind (annotators.kind), source, both_bad,
    aspect, response_idx, value.
    """
    return cur.execute("""
        SELECT e.id AS event_id, e.item_id, e.annotator_id, a.name AS annotator,
               coalesce(a.kind, 'account') AS kind, e.source, e.both_bad, v.aspect, v.response_idx, v.value
        FROM current_label_events e JOIN label_values v ON v.event_id = e.id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? ORDER BY e.item_id, e.id, v.aspect, v.response_idx""", [int(project_id)]).df()


def item_events(cur: Cursor, item_id: int) -> pd.DataFrame:
    """Every event of one item (labels, skips, flags, adjudications; superseded ones too), oldest first.

    Columns: event_id, kind, annotator, annotator_kind, source, presented_order, both_bad,
    justification, note, confidence, seconds, created_at, label_values (list of {aspect,
    response_idx, value}, canonical), is_current (a label no later event supersedes).
    """
    return cur.execute("""
        SELECT e.id AS event_id, e.kind, a.name AS annotator, coalesce(a.kind, 'account') AS annotator_kind,
               e.source, e.presented_order, e.both_bad, e.justification, e.note, e.confidence, e.seconds,
               e.created_at, e.values_list AS label_values,
               (e.kind = 'label' AND e.id IN (SELECT id FROM current_label_events WHERE item_id = $i)) AS is_current
        FROM label_events e JOIN annotators a ON a.id = e.annotator_id
        WHERE e.item_id = $i ORDER BY e.id""", {"i": int(item_id)}).df()


def item_judgments(cur: Cursor, item_id: int) -> pd.DataFrame:
    """Every judgment of one item with its judge's name, in judge and presentation order.

    Columns: judge, aspect, response_idx, presented_order, verdict, score, probs, is_parsed,
    rationale, created_at.
    """
    return cur.execute("""
        SELECT j.name AS judge, g.aspect, g.response_idx, g.presented_order, g.verdict, g.score, g.probs,
               g.is_parsed, g.rationale, g.created_at
        FROM judgments g JOIN judges j ON j.id = g.judge_id
        WHERE g.item_id = ? ORDER BY j.name, g.aspect, g.response_idx, g.presented_order, g.id""",
                       [int(item_id)]).df()


def review_actions(cur: Cursor, project_id: int, item_id: int | None = None) -> pd.DataFrame:
    """Review actions of a project (or one item), oldest first.

    Columns: id, item_id, external_id, researcher, action, last_event_id, extra_labels, note, created_at.
    """
    return cur.execute("""
        SELECT r.id, r.item_id, i.external_id, a.name AS researcher, r.action, r.last_event_id,
               r.extra_labels, r.note, r.created_at
        FROM review_actions r JOIN items i ON i.id = r.item_id JOIN annotators a ON a.id = r.researcher_id
        WHERE r.project_id = $p AND (CAST($i AS BIGINT) IS NULL OR r.item_id = $i) ORDER BY r.id""",
                       {"p": int(project_id), "i": None if item_id is None else int(item_id)}).df()


def insert_action(cur: Cursor, project_id: int, item_id: int, researcher_id: int,
                  action: str, note: str | None, *, last_event_id: int | None = None,
                  extra_labels: int | None = None) -> int:
    """Record one review action; return its id."""
    row = cur.execute("""
        INSERT INTO review_actions (project_id, item_id, researcher_id, action, last_event_id, extra_labels, note)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                      [int(project_id), int(item_id), int(researcher_id), action, last_event_id,
                       extra_labels, note]).fetchone()
    return int(row[0])


def last_event_id(cur: Cursor, item_id: int) -> int | None:
    """The newest event id of an item (what a 'resolve' closes up to), or None."""
    row = cur.execute("SELECT max(id) FROM label_events WHERE item_id = ?", [int(item_id)]).fetchone()
    return None if row[0] is None else int(row[0])


def labels_toward_k(cur: Cursor, item_id: int) -> tuple[int, int]:
    """(human current labels of the item, of which counted toward k after re-queue requests)."""
    row = cur.execute("""
        SELECT (SELECT count(*) FROM current_label_events WHERE item_id = $i AND source <> 'adjudicated'),
               (SELECT coalesce(max(n), 0) FROM labels_toward_k WHERE item_id = $i)""",
                      {"i": int(item_id)}).fetchone()
    return int(row[0]), int(row[1])


def adjudication_event(cur: Cursor, item_id: int) -> dict | None:
    """The item's current adjudicated label: {event_id, annotator_id, annotator}, or None."""
    row = cur.execute("""
        SELECT e.id, e.annotator_id, a.name FROM current_label_events e JOIN annotators a ON a.id = e.annotator_id
        WHERE e.item_id = ? AND e.source = 'adjudicated' ORDER BY e.id DESC LIMIT 1""", [int(item_id)]).fetchone()
    return dict(zip(["event_id", "annotator_id", "annotator"], row)) if row else None
