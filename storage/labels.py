"""Label events: append-only, one row per human action, with the label's values inside the row.

A human action on an item is one row in label_events (kind 'label', 'skip' or 'flag'). A label's
values are a list of (aspect or criterion, response_idx, value) in `values_list`; the view
`label_values` gives them one per row. Nothing is updated or deleted: an edit is a new event whose
`supersedes` names the event it replaces. The "current" labels are the 'label' events that no
later event supersedes.
"""
from __future__ import annotations

import duckdb
import pandas as pd

EVENT_FIELDS = ["project_id", "item_id", "annotator_id", "kind", "presented_order", "both_bad",
                "justification", "confidence", "seconds", "note", "supersedes", "source"]
Values = list[tuple[str, "int | None", float]]


def _values_param(values: Values) -> list[dict]:
    return [{"aspect": a, "response_idx": r, "value": float(v)} for a, r, v in values]


def insert_label_event(cur: duckdb.DuckDBPyConnection, event: dict, values: Values) -> int:
    """Insert one event with its values [(aspect, response_idx, value)] in one statement; return its id."""
    cur.execute(f"INSERT INTO label_events ({', '.join(EVENT_FIELDS)}, values_list) "
                f"VALUES ({', '.join('?' for _ in EVENT_FIELDS)}, ?) RETURNING id",
                [event.get(f) for f in EVENT_FIELDS] + [_values_param(values)])
    return int(cur.fetchone()[0])


def label_context(cur: duckdb.DuckDBPyConnection, annotator_id: int, item_id: int) -> dict:
    """What a label write must check, in one query: {item_project_id, is_active, current_event_id}.

    The newest label event of an (annotator, item) is always the current one, because a new label
    is only inserted when it supersedes the current one (or there is none): annotate.labeling.labels
    checks that with this query before every insert.
    """
    row = cur.execute("""
        SELECT (SELECT project_id FROM items WHERE id = $item_id),
               (SELECT is_active FROM annotators WHERE id = $annotator_id),
               (SELECT max(id) FROM label_events
                WHERE item_id = $item_id AND annotator_id = $annotator_id AND kind = 'label')""",
                      {"annotator_id": int(annotator_id), "item_id": int(item_id)}).fetchone()
    return dict(zip(["item_project_id", "is_active", "current_event_id"], row))


def insert_label_events(cur: duckdb.DuckDBPyConnection, events: pd.DataFrame, values: pd.DataFrame) -> int:
    """Bulk-insert label events (imports, benchmarks); `created_at` (optional, UTC) keeps the
    time the file gives, else now. events: key, EVENT_FIELDS (missing ones null), created_at; values: key,
    aspect, response_idx, value."""
    if events.empty:
        return 0
    events = events.copy()
    for name in [*EVENT_FIELDS, "created_at"]:
        if name not in events:
            events[name] = None
    new_events = events[["key", *EVENT_FIELDS, "created_at"]]
    new_values = values[["key", "aspect", "response_idx", "value"]]
    cur.execute(f"""
        INSERT INTO label_events ({', '.join(EVENT_FIELDS)}, created_at, values_list)
        SELECT {', '.join('e.' + f for f in EVENT_FIELDS)}, coalesce(e.created_at::TIMESTAMP, current_timestamp),
               v.values_list
        FROM new_events e LEFT JOIN (
            SELECT key, list({{'aspect': aspect, 'response_idx': response_idx::SMALLINT, 'value': value::DOUBLE}}
                             ORDER BY aspect, response_idx) AS values_list
            FROM new_values GROUP BY key) v USING (key)
        ORDER BY e.key""")
    return len(events)


def get_event(cur: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One event as a dict with `values`: [(aspect, response_idx, value)]."""
    row = cur.execute(f"SELECT id, {', '.join(EVENT_FIELDS)}, created_at, values_list FROM label_events "
                      f"WHERE id = ?", [int(event_id)]).fetchone()
    if row is None:
        return None
    event = dict(zip(["id", *EVENT_FIELDS, "created_at"], row[:-1]))
    event["values"] = [(v["aspect"], v["response_idx"], v["value"]) for v in (row[-1] or [])]
    return event


def current_label_values(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Current human labels in tidy form, one row per (event, aspect, response).

    Columns: event_id, item_id, external_id, annotator_id, annotator, presented_order, both_bad,
    confidence, seconds, source, created_at, aspect, response_idx, value, kind (annotators.kind:
    'account', 'imported' or 'gold', a benchmark's answer key rather than a human rater).
    """
    return cur.execute("""
        SELECT e.id AS event_id, e.item_id, i.external_id, e.annotator_id, a.name AS annotator,
               e.presented_order, e.both_bad, e.confidence, e.seconds, e.source, e.created_at,
               v.aspect, v.response_idx, v.value, coalesce(a.kind, 'account') AS kind
        FROM current_label_events e
        CROSS JOIN unnest(e.values_list) AS u(v)
        JOIN items i ON i.id = e.item_id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ?
        ORDER BY e.item_id, e.annotator_id, v.aspect, v.response_idx""", [int(project_id)]).df()


def label_events_frame(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Every event of a project (labels, skips, flags, superseded ones too), for audit."""
    return cur.execute(f"""
        SELECT e.id AS event_id, {', '.join('e.' + f for f in EVENT_FIELDS)}, e.created_at,
               i.external_id, a.name AS annotator, e.values_list AS label_values,
               (e.kind = 'label' AND e.id NOT IN (SELECT id FROM current_label_events)) AS is_superseded
        FROM label_events e JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? ORDER BY e.id""", [int(project_id)]).df()


def count_label_events(cur: duckdb.DuckDBPyConnection) -> int:
    """All label events in the file."""
    return int(cur.execute("SELECT count(*) FROM label_events").fetchone()[0])
