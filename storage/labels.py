"""Label events (append-only) and their values.

A human action on an item is one row in label_events (kind 'label', 'skip' or 'flag') plus, for a
label, one row per (aspect or criterion, response) in label_values. Nothing is updated or deleted:
an edit is a new event whose `supersedes` names the event it replaces. The "current" labels are
the 'label' events that no later event supersedes.
"""
from __future__ import annotations

import duckdb
import pandas as pd

EVENT_FIELDS = ["project_id", "item_id", "annotator_id", "kind", "presented_order", "both_bad",
                "justification", "confidence", "seconds", "note", "supersedes", "source"]


def insert_label_event(cur: duckdb.DuckDBPyConnection, event: dict,
                       values: list[tuple[str, int | None, float]]) -> int:
    """Insert one event and its values [(aspect, response_idx, value)]; return the event id."""
    row = cur.execute(f"""
        INSERT INTO label_events ({', '.join(EVENT_FIELDS)})
        VALUES ({', '.join('?' for _ in EVENT_FIELDS)}) RETURNING id""",
                      [event.get(f) for f in EVENT_FIELDS]).fetchone()
    event_id = int(row[0])
    if values:
        frame = pd.DataFrame(values, columns=["aspect", "response_idx", "value"])
        frame.insert(0, "event_id", event_id)
        cur.execute("INSERT INTO label_values SELECT event_id, aspect, response_idx, value FROM frame")
    return event_id


def insert_label_events(cur: duckdb.DuckDBPyConnection, events: pd.DataFrame, values: pd.DataFrame) -> int:
    """Bulk-insert events and values keyed by a temporary `key` column; return the event count.

    Args:
        events: EVENT_FIELDS plus `key` (unique per row); missing optional fields may be absent.
        values: key, aspect, response_idx, value.
    """
    if events.empty:
        return 0
    events = events.copy()
    for field in EVENT_FIELDS:
        if field not in events:
            events[field] = None
    events["id"] = [int(r[0]) for r in cur.execute(
        "SELECT nextval('label_event_ids') FROM range(?)", [len(events)]).fetchall()]
    new_events = events[["id", *EVENT_FIELDS]]
    cur.execute(f"INSERT INTO label_events (id, {', '.join(EVENT_FIELDS)}) "
                f"SELECT id, {', '.join(EVENT_FIELDS)} FROM new_events")
    new_values = values.merge(events[["key", "id"]], on="key")
    cur.execute("""INSERT INTO label_values SELECT id, aspect, response_idx::SMALLINT, value
                   FROM new_values""")
    return len(events)


def get_event(cur: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One event as a dict with `values`: [(aspect, response_idx, value)]."""
    row = cur.execute(f"SELECT id, {', '.join(EVENT_FIELDS)}, created_at FROM label_events WHERE id = ?",
                      [event_id]).fetchone()
    if row is None:
        return None
    event = dict(zip(["id", *EVENT_FIELDS, "created_at"], row))
    event["values"] = cur.execute("""SELECT aspect, response_idx, value FROM label_values
                                     WHERE event_id = ? ORDER BY aspect, response_idx""",
                                  [event_id]).fetchall()
    return event


def is_superseded(cur: duckdb.DuckDBPyConnection, event_id: int) -> bool:
    """Whether a later event already supersedes this one."""
    return cur.execute("SELECT count(*) FROM label_events WHERE supersedes = ?", [event_id]).fetchone()[0] > 0


def current_label_values(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Current human labels in tidy form, one row per (event, aspect, response).

    Columns: event_id, item_id, external_id, annotator_id, annotator, presented_order, both_bad,
    confidence, seconds, source, created_at, aspect, response_idx, value.
    """
    return cur.execute("""
        SELECT e.id AS event_id, e.item_id, i.external_id, e.annotator_id, a.name AS annotator,
               e.presented_order, e.both_bad, e.confidence, e.seconds, e.source, e.created_at,
               v.aspect, v.response_idx, v.value
        FROM label_events e
        JOIN label_values v ON v.event_id = e.id
        JOIN items i ON i.id = e.item_id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? AND e.kind = 'label'
          AND NOT EXISTS (SELECT 1 FROM label_events s WHERE s.supersedes = e.id)
        ORDER BY e.item_id, e.annotator_id, v.aspect, v.response_idx""", [project_id]).df()


def label_events_frame(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Every event of a project (labels, skips, flags, superseded ones too), for audit."""
    return cur.execute(f"""
        SELECT e.id AS event_id, {', '.join('e.' + f for f in EVENT_FIELDS)}, e.created_at,
               i.external_id, a.name AS annotator,
               (SELECT list({{'aspect': v.aspect, 'response_idx': v.response_idx, 'value': v.value}}
                            ORDER BY v.aspect, v.response_idx)
                FROM label_values v WHERE v.event_id = e.id) AS label_values
        FROM label_events e JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? ORDER BY e.id""", [project_id]).df()


def count_label_events(cur: duckdb.DuckDBPyConnection) -> int:
    """All label events in the file."""
    return int(cur.execute("SELECT count(*) FROM label_events").fetchone()[0])


def current_event_id(cur: duckdb.DuckDBPyConnection, annotator_id: int, item_id: int) -> int | None:
    """The annotator's current (not superseded) label event on an item, if any."""
    row = cur.execute("""
        SELECT e.id FROM label_events e
        WHERE e.annotator_id = ? AND e.item_id = ? AND e.kind = 'label'
          AND NOT EXISTS (SELECT 1 FROM label_events s WHERE s.supersedes = e.id)""",
                      [annotator_id, item_id]).fetchone()
    return int(row[0]) if row else None
