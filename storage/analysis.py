"""Read-only queries for the agreement report: lean frames of labels, judgments and items.

The report touches every label of a project (hundreds of thousands of rows), so these queries
select only the columns the statistics need, filter by aspect and item slice in SQL, and compute
response lengths in the database instead of shipping the texts.
"""
from __future__ import annotations

import duckdb
import pandas as pd


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


def slice_items(cur: duckdb.DuckDBPyConnection, project_id: int, *, metadata: tuple[tuple[str, str], ...] = (),
                calibration_only: bool = False) -> pd.DataFrame:
    """Items in the slice: item_id, external_id.

    The slice is `metadata->>key = value` for every (key, value) in `metadata` and, with
    `calibration_only`, the items with at least one routing_decisions row marked is_calibration.
    """
    return cur.execute(f"SELECT i.id AS item_id, i.external_id FROM items i WHERE {_slice(metadata)} ORDER BY i.id",
                       _params(project_id, metadata, calibration_only)).df()


def slice_labels(cur: duckdb.DuckDBPyConnection, project_id: int, aspect: str, *,
                 metadata: tuple[tuple[str, str], ...] = (), calibration_only: bool = False) -> pd.DataFrame:
    """Current human labels of one aspect (or criterion) on the slice's items.

    Columns: item_id, annotator_id, annotator, kind (annotators.kind: 'account', 'imported' or
    'gold'), source ('app', 'import:FILE' or 'adjudicated'), event_id, response_idx, value,
    presented_order, seconds.
    """
    return cur.execute(f"""
        WITH current AS (
            SELECT e.id AS event_id, e.item_id, e.annotator_id, e.presented_order, e.seconds, e.source,
                   unnest(e.values_list) AS v
            FROM current_label_events e JOIN items i ON i.id = e.item_id
            WHERE {_slice(metadata)} AND e.project_id = $p)
        SELECT c.item_id, c.annotator_id, a.name AS annotator, coalesce(a.kind, 'account') AS kind, c.source,
               c.event_id, c.v.response_idx AS response_idx, c.v.value AS value, c.presented_order, c.seconds
        FROM current c JOIN annotators a ON a.id = c.annotator_id
        WHERE c.v.aspect = $aspect
        ORDER BY c.item_id, a.name, c.v.response_idx, c.event_id""",
                       _params(project_id, metadata, calibration_only,
                               aspect=aspect)).df()


def slice_judgments(cur: duckdb.DuckDBPyConnection, project_id: int, aspect: str, *,
                    metadata: tuple[tuple[str, str], ...] = (), calibration_only: bool = False) -> pd.DataFrame:
    """Judgments of one aspect (or criterion) on the slice's items, without texts.

    Columns: judgment_id, item_id, judge_id, judge, aspect, response_idx, presented_order, verdict,
    score, probs, is_parsed (the columns annotate.analysis.verdicts.combined_verdicts reads), and
    unparsed_number: the raw reply of an unparsed judgment read as a number when it is one (an
    imported score off the criterion's scale, stored unparsed with its raw text), else NULL.
    """
    return cur.execute(f"""
        SELECT g.id AS judgment_id, g.item_id, g.judge_id, j.name AS judge, g.aspect, g.response_idx,
               g.presented_order, g.verdict, g.score, g.probs, g.is_parsed,
               CASE WHEN NOT g.is_parsed THEN TRY_CAST(trim(g.raw_output) AS DOUBLE) END AS unparsed_number
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE {_slice(metadata)} AND g.aspect = $aspect
        ORDER BY g.item_id, g.judge_id, g.id""",
                       _params(project_id, metadata, calibration_only,
                               aspect=aspect)).df()


def response_lengths(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Responses of a project without their text: item_id, idx, n_chars (characters), model."""
    return cur.execute("""
        SELECT r.item_id, r.idx, length(r.text) AS n_chars, r.model
        FROM responses r JOIN items i ON i.id = r.item_id
        WHERE i.project_id = ? ORDER BY r.item_id, r.idx""", [project_id]).df()


def annotator_event_counts(cur: duckdb.DuckDBPyConnection, project_id: int, *,
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
        WHERE {_slice(metadata)} AND e.project_id = $p GROUP BY ALL ORDER BY a.name""",
                       _params(project_id, metadata, calibration_only)).df()


def metadata_values(cur: duckdb.DuckDBPyConnection, project_id: int, max_values: int = 50) -> pd.DataFrame:
    """Metadata keys of a project's items with their distinct scalar values, for slice pickers.

    Columns: key, value, items. Keys with more than `max_values` distinct values are left out
    (free text, ids), since a slice on them is rarely what a researcher wants.
    """
    return cur.execute("""
        WITH kv AS (
            SELECT k AS key, i.metadata->>k AS value
            FROM items i, unnest(json_keys(i.metadata)) AS t(k)
            WHERE i.project_id = ? AND i.metadata IS NOT NULL),
        counted AS (SELECT key, value, count(*) AS items FROM kv WHERE value IS NOT NULL GROUP BY ALL)
        SELECT key, value, items FROM counted
        WHERE key IN (SELECT key FROM counted GROUP BY key HAVING count(*) <= ?)
        ORDER BY key, items DESC, value""", [project_id, max_values]).df()


def calibration_item_count(cur: duckdb.DuckDBPyConnection, project_id: int) -> int:
    """How many of a project's items have a routing decision marked is_calibration."""
    return int(cur.execute("""
        SELECT count(DISTINCT r.item_id) FROM routing_decisions r
        WHERE r.project_id = ? AND r.is_calibration""", [project_id]).fetchone()[0])


def data_version(cur: duckdb.DuckDBPyConnection, project_id: int) -> tuple:
    """Counts that change whenever a report's inputs do (events, judgments and routing rows are
    append-only): label events, items, judgments, routing decisions."""
    return tuple(cur.execute("""
        SELECT (SELECT count(*) FROM label_events WHERE project_id = $p),
               (SELECT count(*) FROM items WHERE project_id = $p),
               (SELECT count(*) FROM judgments j JOIN items i ON i.id = j.item_id WHERE i.project_id = $p),
               (SELECT count(*) FROM routing_decisions WHERE project_id = $p)""", {"p": int(project_id)}).fetchone())


def item_metadata_values(cur: duckdb.DuckDBPyConnection, project_id: int, key: str) -> pd.DataFrame:
    """Every item's value of one metadata key, for `agreement --by KEY`: item_id, value (text;
    NULL where the item lacks the key)."""
    return cur.execute("SELECT id AS item_id, metadata->>$k AS value FROM items WHERE project_id = $p ORDER BY id",
                       {"p": int(project_id), "k": key}).df()
