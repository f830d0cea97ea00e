"""Read-only queries for the agreement report: lean frames of labels, judgments and items.

The report touches every label of a project (hundreds of thousands of rows), so these queries
select only the columns the statistics need, filter by aspect and item slice in SQL, and compute
response lengths in the database instead of shipping the texts.
"""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor, is_postgres


def _slice(metadata: tuple[tuple[str, str], ...]) -> str:
    """The WHERE clause of a slice: the project, every metadata KEY = VALUE filter (bound as
    parameters $k0, $v0, ...; only their number shapes the SQL) and the calibration flag."""
    conditions = "".join(f"\n    AND i.metadata->>$k{n} = $v{n}" for n in range(len(metadata)))
    return f"""
    i.project_id = $p{conditions}
    AND (NOT $calibration OR EXISTS (SELECT 1 FROM routing_decisions r
                                      WHERE r.item_id = i.id AND r.is_calibration))"""


def _params(project_id: int, metadata: tuple[tuple[str, str], ...], calibration_only: bool, **extra) -> dict:
    pairs = {f"k{n}": key for n, (key, _) in enumerate(metadata)} | {f"v{n}": str(value)
                                                                      for n, (_, value) in enumerate(metadata)}
    return {"p": project_id, "calibration": calibration_only, **pairs, **extra}


def slice_items(cur: Cursor, project_id: int, *, metadata: tuple[tuple[str, str], ...] = (),
                calibration_only: bool = False) -> pd.DataFrame:
    """Items in the slice: item_id, external_id.

    The slice is `metadata->>key = value` for every (key, value) in `metadata` and, with
    `calibration_only`, the items with at least one routing_decisions row marked is_calibration.
    """
    return cur.execute(f"SELECT i.id AS item_id, i.external_id FROM items i WHERE {_slice(metadata)} ORDER BY i.id",
                       _params(project_id, metadata, calibration_only)).df()


def slice_labels(cur: Cursor, project_id: int, aspect: str, *,
                 metadata: tuple[tuple[str, str], ...] = (), calibration_only: bool = False) -> pd.DataFrame:
    """Current human labels of one aspect (or criterion) on the slice's items.

    Columns: item_id, annotator_id, annotator, kind (annotators.kind: 'account', 'imported',
    'participant' or 'gold'), source ('app', 'import:FILE' or 'adjudicated'), event_id, response_idx, value,
    presented_order, seconds.
    """
    # PostgreSQL reads the values through the label_values view; DuckDB unnests the struct list of
    # the slice's events only, which is about 7x faster there than joining the view (500K labels).
    sql = f"""
        SELECT e.item_id, e.annotator_id, a.name AS annotator, coalesce(a.kind, 'account') AS kind, e.source,
               e.id AS event_id, v.response_idx, v.value, e.presented_order, e.seconds
        FROM current_label_events e JOIN items i ON i.id = e.item_id
        JOIN label_values v ON v.event_id = e.id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE {_slice(metadata)} AND e.project_id = $p AND v.aspect = $aspect
        ORDER BY e.item_id, a.name, v.response_idx, e.id""" if is_postgres(cur) else f"""
        WITH current AS (
            SELECT e.id AS event_id, e.item_id, e.annotator_id, e.presented_order, e.seconds, e.source,
                   unnest(e.values_list) AS v
            FROM current_label_events e JOIN items i ON i.id = e.item_id
            WHERE {_slice(metadata)} AND e.project_id = $p)
        SELECT c.item_id, c.annotator_id, a.name AS annotator, coalesce(a.kind, 'account') AS kind, c.source,
               c.event_id, c.v.response_idx AS response_idx, c.v.value AS value, c.presented_order, c.seconds
        FROM current c JOIN annotators a ON a.id = c.annotator_id
        WHERE c.v.aspect = $aspect
        ORDER BY c.item_id, a.name, c.v.response_idx, c.event_id"""
    return cur.execute(sql,
                       _params(project_id, metadata, calibration_only,
                               aspect=aspect)).df()


def slice_judgments(cur: Cursor, project_id: int, aspect: str, *,
                    metadata: tuple[tuple[str, str], ...] = (), calibration_only: bool = False) -> pd.DataFrame:
    """Judgments of one aspect (or criterion) on the slice's items, without texts.

    Columns: judgment_id, item_id, judge_id, judge, aspect, response_idx, presented_order, verdict,
    score, probs, is_parsed (the columns annotate.analysis.verdicts.combined_verdicts reads), and
    unparsed_number: the raw reply of an unparsed judgment read as a number when it is one (an
    imported score off the criterion's scale, stored unparsed with its raw text), else NULL.
    (PostgreSQL has no TRY_CAST, so the short raw replies that look like a number are read in Python
    there; the result is the same.)
    """
    if is_postgres(cur):
        number = "CASE WHEN NOT g.is_parsed AND length(g.raw_output) < 64 THEN trim(g.raw_output) END AS unparsed_text"
    else:
        number = "CASE WHEN NOT g.is_parsed THEN TRY_CAST(trim(g.raw_output) AS DOUBLE) END AS unparsed_number"
    frame = cur.execute(f"""
        SELECT g.id AS judgment_id, g.item_id, g.judge_id, j.name AS judge, g.aspect, g.response_idx,
               g.presented_order, g.verdict, g.score, g.probs, g.is_parsed, {number}
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE {_slice(metadata)} AND g.aspect = $aspect
        ORDER BY g.item_id, g.judge_id, g.id""",
                        _params(project_id, metadata, calibration_only,
                                aspect=aspect)).df()
    if "unparsed_text" in frame:
        numbers = pd.to_numeric(frame.pop("unparsed_text"), errors="coerce")
        frame["unparsed_number"] = numbers.astype("float64")
    return frame


def response_lengths(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Responses of a project without their text: item_id, idx, n_chars (characters), model."""
    return cur.execute("""
        SELECT r.item_id, r.idx, length(r.text) AS n_chars, r.model
        FROM responses r JOIN items i ON i.id = r.item_id
        WHERE i.project_id = ? ORDER BY r.item_id, r.idx""", [project_id]).df()


def annotator_event_counts(cur: Cursor, project_id: int, *,
                           metadata: tuple[tuple[str, str], ...] = (), calibration_only: bool = False) -> pd.DataFrame:
    """Per annotator with any event on the slice's items: annotator_id, annotator, labels (current
    label events), skips, flags (events), skipped_items and flagged_items (distinct items)."""
    return cur.execute(f"""
        SELECT e.annotator_id, a.name AS annotator,
               count(*) FILTER (WHERE e.id IN (SELECT id FROM current_label_events)) AS labels,
               count(*) FILTER (WHERE e.kind = 'skip') AS skips,
               count(*) FILTER (WHERE e.kind = 'flag') AS flags,
               count(DISTINCT e.item_id) FILTER (WHERE e.kind = 'skip') AS skipped_items,
               count(DISTINCT e.item_id) FILTER (WHERE e.kind = 'flag') AS flagged_items
        FROM label_events e JOIN annotators a ON a.id = e.annotator_id JOIN items i ON i.id = e.item_id
        WHERE {_slice(metadata)} AND e.project_id = $p GROUP BY e.annotator_id, a.name ORDER BY a.name""",
                       _params(project_id, metadata, calibration_only)).df()


def metadata_values(cur: Cursor, project_id: int, max_values: int = 50) -> pd.DataFrame:
    """Metadata keys of a project's items with their distinct scalar values, for slice pickers.

    Columns: key, value, items. Keys with more than `max_values` distinct values are left out
    (free text, ids), since a slice on them is rarely what a researcher wants.
    """
    keys = ("json_object_keys(CASE WHEN json_typeof(i.metadata) = 'object' THEN i.metadata END)"
            if is_postgres(cur) else "unnest(json_keys(i.metadata))")
    return cur.execute(f"""
        WITH kv AS (
            SELECT k AS key, i.metadata->>k AS value
            FROM items i, {keys} AS t(k)
            WHERE i.project_id = ? AND i.metadata IS NOT NULL),
        counted AS (SELECT key, value, count(*) AS items FROM kv WHERE value IS NOT NULL GROUP BY key, value)
        SELECT key, value, items FROM counted
        WHERE key IN (SELECT key FROM counted GROUP BY key HAVING count(*) <= ?)
        ORDER BY key, items DESC, value""", [project_id, max_values]).df()


def calibration_item_count(cur: Cursor, project_id: int) -> int:
    """How many of a project's items have a routing decision marked is_calibration."""
    return int(cur.execute("""
        SELECT count(DISTINCT r.item_id) FROM routing_decisions r
        WHERE r.project_id = ? AND r.is_calibration""", [project_id]).fetchone()[0])


def data_version(cur: Cursor, project_id: int) -> tuple:
    """Counts that change whenever a report's inputs do (events, judgments and routing rows are
    append-only): label events, items, judgments, routing decisions."""
    return tuple(cur.execute("""
        SELECT (SELECT count(*) FROM label_events WHERE project_id = $p),
               (SELECT count(*) FROM items WHERE project_id = $p),
               (SELECT count(*) FROM judgments j JOIN items i ON i.id = j.item_id WHERE i.project_id = $p),
               (SELECT count(*) FROM routing_decisions WHERE project_id = $p)""", {"p": int(project_id)}).fetchone())


def item_metadata_values(cur: Cursor, project_id: int, key: str) -> pd.DataFrame:
    """Every item's value of one metadata key, for `agreement --by KEY`: item_id, value (text;
    NULL where the item lacks the key)."""
    return cur.execute("SELECT id AS item_id, metadata->>$k AS value FROM items WHERE project_id = $p ORDER BY id",
                       {"p": int(project_id), "k": key}).df()
