"""Label events: append-only, one row per human action, with the label's values inside the row.

A human action on an item is one row in label_events (kind 'label', 'skip' or 'flag'). A label's
values are a list of (aspect or criterion, response_idx, value) in `values_list`; the view
`label_values` gives them one per row. Nothing is updated or deleted: an edit is a new event whose
`supersedes` names the event it replaces. The "current" labels are the 'label' events that no
later event supersedes.
"""
from __future__ import annotations

import json

import pandas as pd

from storage import bulk
from storage.db import Cursor, is_postgres

EVENT_FIELDS = ["project_id", "item_id", "annotator_id", "kind", "presented_order", "both_bad",
                "justification", "confidence", "seconds", "note", "supersedes", "source"]
Values = list[tuple[str, "int | None", float]]


def _values_param(cur: Cursor, values: Values) -> object:
    """The values as the values_list parameter: a list of dicts (DuckDB's STRUCT list); on
    PostgreSQL explicitly jsonb, so that no values (a skip, a flag) is an empty array, not '{}'."""
    rows = [{"aspect": a, "response_idx": r, "value": float(v)} for a, r, v in values]
    if is_postgres(cur):
        from psycopg.types.json import Jsonb
        return Jsonb(rows)
    return rows


ANNOTATOR_LOCK = 7243_1003  # first key of pg_advisory_xact_lock(key, annotator_id): one annotator's labels


def lock_annotator(cur: Cursor, annotator_id: int) -> None:
    """PostgreSQL: hold the annotator's label lock until this transaction ends, so that "check the
    annotator's current label, then insert" is atomic across app servers. DuckDB (one process):
    nothing; annotate.labeling.labels holds an in-process lock."""
    if is_postgres(cur):
        cur.execute("SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))",
                    [ANNOTATOR_LOCK, int(annotator_id)])


def insert_label_event(cur: Cursor, event: dict, values: Values) -> int:
    """Insert one event with its values [(aspect, response_idx, value)] in one statement; return its id."""
    cur.execute(f"INSERT INTO label_events ({', '.join(EVENT_FIELDS)}, values_list) "
                f"VALUES ({', '.join('?' for _ in EVENT_FIELDS)}, ?) RETURNING id",
                [event.get(f) for f in EVENT_FIELDS] + [_values_param(cur, values)])
    return int(cur.fetchone()[0])


def label_context(cur: Cursor, annotator_id: int, item_id: int) -> dict:
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


def insert_label_events(cur: Cursor, events: pd.DataFrame, values: pd.DataFrame) -> int:
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
    if is_postgres(cur):
        _insert_label_events_postgres(cur, new_events, new_values)
        return len(events)
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


def _insert_label_events_postgres(cur: Cursor, events: pd.DataFrame, values: pd.DataFrame) -> None:
    """PostgreSQL's insert_label_events: the values lists built here (sorted by aspect, then
    response, as DuckDB's list() orders them) and the events COPYed in key order, so that their
    ids ascend with the key as on DuckDB."""
    lists: dict = {}
    for key, aspect, idx, value in bulk.python_rows(values):
        lists.setdefault(key, []).append({"aspect": aspect, "response_idx": None if idx is None else int(idx),
                                          "value": float(value)})
    now = cur.execute("SELECT CAST(current_timestamp AS TIMESTAMP)").fetchone()[0]
    rows = []
    for key, *fields, created_at in sorted(bulk.python_rows(events), key=lambda row: row[0]):
        entries = lists.get(key)
        if entries is not None:
            entries.sort(key=lambda v: (v["aspect"], v["response_idx"] is None, v["response_idx"] or 0))
        rows.append((*fields, created_at or now, None if entries is None else json.dumps(entries)))
    bulk.copy_rows(cur, "label_events", [*EVENT_FIELDS, "created_at", "values_list"], rows)


def get_event(cur: Cursor, event_id: int) -> dict | None:
    """One event as a dict with `values`: [(aspect, response_idx, value)]."""
    row = cur.execute(f"SELECT id, {', '.join(EVENT_FIELDS)}, created_at, values_list FROM label_events "
                      f"WHERE id = ?", [int(event_id)]).fetchone()
    if row is None:
        return None
    event = dict(zip(["id", *EVENT_FIELDS, "created_at"], row[:-1]))
    event["values"] = [(v["aspect"], v["response_idx"], v["value"]) for v in (row[-1] or [])]
    return event


def current_label_values(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Current human labels in tidy form, one row per (event, aspect, response).

    Columns: event_id, item_id, external_id, annotator_id, annotator, presented_order, both_bad,
    confidence, seconds, source, created_at, aspect, response_idx, value, kind (annotators.kind:
    'account', 'imported', 'participant' (a crowd-study participant) or 'gold', a benchmark's answer key
    rather than a human rater).
    """
    values, aspect, response_idx, value = unnest_values(cur)
    return cur.execute(f"""
        SELECT e.id AS event_id, e.item_id, i.external_id, e.annotator_id, a.name AS annotator,
               e.presented_order, e.both_bad, e.confidence, e.seconds, e.source, e.created_at,
               {aspect} AS aspect, {response_idx} AS response_idx, {value} AS value,
               coalesce(a.kind, 'account') AS kind
        FROM current_label_events e
        CROSS JOIN {values}
        JOIN items i ON i.id = e.item_id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ?
        ORDER BY e.item_id, e.annotator_id, aspect, response_idx""", [int(project_id)]).df()


def unnest_values(cur: Cursor) -> tuple[str, str, str, str]:
    """How a query over label events `e` reads their values one per row: (the FROM item, then
    the aspect, response_idx and value expressions over its row `v`). DuckDB stores a STRUCT list,
    PostgreSQL a jsonb array (see storage.pg)."""
    if is_postgres(cur):
        return ("LATERAL jsonb_array_elements(e.values_list) AS u(v)", "v->>'aspect'",
                "(v->>'response_idx')::SMALLINT", "(v->>'value')::DOUBLE PRECISION")
    return "unnest(e.values_list) AS u(v)", "v.aspect", "v.response_idx", "v.value"


def label_events_frame(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every event of a project (labels, skips, flags, superseded ones too), for audit."""
    return cur.execute(f"""
        SELECT e.id AS event_id, {', '.join('e.' + f for f in EVENT_FIELDS)}, e.created_at,
               i.external_id, a.name AS annotator, e.values_list AS label_values,
               (e.kind = 'label' AND e.id NOT IN (SELECT id FROM current_label_events)) AS is_superseded
        FROM label_events e JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? ORDER BY e.id""", [int(project_id)]).df()


def count_label_events(cur: Cursor) -> int:
    """All label events in the file."""
    return int(cur.execute("SELECT count(*) FROM label_events").fetchone()[0])
