"""Reads the export needs beyond the generic frames: routed judges, pair texts, judge lookups.

The export joins final labels with item texts; for a million pairs that join is cheapest here, in
one query that pivots the two responses of each item into columns.

Files are written with DuckDB's writers (COPY of a registered frame) on both engines: on DuckDB
through a cursor of the project's database, on PostgreSQL through a private in-memory DuckDB that
holds nothing but the frame being written (the rows themselves were read out of PostgreSQL).
"""
from __future__ import annotations

import duckdb
import pandas as pd

from storage.db import Cursor, is_postgres


def ai_routes(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Items whose current route (the latest routing row, highest id) is 'ai': item_id, judge_id.

    judge_id may be NULL when the router routed to AI without naming a judge.
    """
    return cur.execute("""
        SELECT item_id, judge_id FROM (
            SELECT item_id, route, judge_id,
                   row_number() OVER (PARTITION BY item_id ORDER BY id DESC) AS rank
            FROM routing_decisions WHERE project_id = ?) AS d
        WHERE rank = 1 AND route = 'ai' ORDER BY item_id""", [project_id]).df()


def judges_named(cur: Cursor, project_id: int, name: str) -> pd.DataFrame:
    """Judges with judgments in the project whose name (or id, written as digits) is `name`:
    id, name, judgments."""
    return cur.execute("""
        SELECT j.id, j.name, count(*) AS judgments
        FROM judges j JOIN judgments g ON g.judge_id = j.id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND (j.name = ? OR CAST(j.id AS TEXT) = ?)
        GROUP BY j.id, j.name ORDER BY j.id""", [project_id, name, name]).df()


def judge_judgments(cur: Cursor, project_id: int, judge_ids: list[int]) -> pd.DataFrame:
    """The judgments of the given judges on the project's items, with the columns
    annotate.analysis.verdicts.combined_verdicts reads (item_id, judge_id, judge, aspect, response_idx,
    presented_order, verdict, score, probs, is_parsed, created_at)."""
    return cur.execute("""
        SELECT g.item_id, g.judge_id, j.name AS judge, g.aspect, g.response_idx, g.presented_order,
               g.verdict, g.score, g.probs, g.is_parsed, g.created_at
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND g.judge_id = ANY(?)
        ORDER BY g.item_id, g.judge_id, g.id""", [project_id, [int(j) for j in judge_ids]]).df()


def current_labels(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Current human labels for aggregation: item_id, annotator_id, annotator, both_bad,
    created_at, aspect, response_idx, value, source, event_id, rater_kind (one row per event,
    aspect and response; source 'adjudicated' marks a researcher's final label, rater_kind 'gold'
    a reference answer key).

    The same rows as storage.labels.current_label_values with the columns aggregation needs; the
    superseded events are removed with a hashed NOT IN instead of a correlated NOT EXISTS and
    the rows travel through Arrow, which together make a million labels read in well under a
    second instead of about ten.
    """
    return _frame(cur, """
        SELECT e.item_id, e.annotator_id, a.name AS annotator, e.both_bad, e.created_at,
               v.aspect, v.response_idx, v.value, e.source, e.id AS event_id, a.kind AS rater_kind
        FROM current_label_events e
        JOIN label_values v ON v.event_id = e.id
        JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ?
        ORDER BY e.item_id, e.annotator_id, v.aspect, v.response_idx""", [project_id])


def pair_texts(cur: Cursor, project_id: int, pairs: pd.DataFrame,
               with_responses: bool = False) -> pd.DataFrame:
    """The texts of the given pairs, in their order.

    Callers pass pairs in chunks of nearby item ids: the id range lets DuckDB skip the row
    groups of other items (zone maps), so memory stays bounded by the chunk.

    Args:
        pairs: item_id and b_chosen (bool: the response at index 1 is the chosen one).
        with_responses: also return response_a and response_b (index 0 and 1).

    Returns:
        id (external id), prompt, context, chosen, rejected, chosen_model, rejected_model
        [, response_a, response_b].
    """
    pairs = pd.DataFrame({"item_id": pairs["item_id"].to_numpy(), "b_chosen": pairs["b_chosen"].to_numpy(),
                          "row": range(len(pairs))})
    low, high = (int(pairs["item_id"].min()), int(pairs["item_id"].max())) if len(pairs) else (0, -1)
    extra = ", a.text AS response_a, b.text AS response_b" if with_responses else ""
    params = {"project": project_id, "low": low, "high": high}
    if is_postgres(cur):  # the pairs travel as three arrays, unnested side by side
        source = "unnest($ids::BIGINT[], $chosen::BOOLEAN[], $rows::BIGINT[]) AS p(item_id, b_chosen, row)"
        params |= {"ids": pairs["item_id"].astype("int64").tolist(), "chosen": pairs["b_chosen"].astype(bool).tolist(),
                   "rows": list(range(len(pairs)))}
    else:
        source = "export_pairs p"
    return _frame(cur, f"""
            SELECT i.external_id AS id, i.prompt, i.context,
                   CASE WHEN p.b_chosen THEN b.text ELSE a.text END AS chosen,
                   CASE WHEN p.b_chosen THEN a.text ELSE b.text END AS rejected,
                   CASE WHEN p.b_chosen THEN b.model ELSE a.model END AS chosen_model,
                   CASE WHEN p.b_chosen THEN a.model ELSE b.model END AS rejected_model{extra}
            FROM {source}
            JOIN items i ON i.id = p.item_id AND i.project_id = $project
            JOIN responses a ON a.item_id = i.id AND a.idx = 0
            JOIN responses b ON b.item_id = i.id AND b.idx = 1
            WHERE i.id BETWEEN $low AND $high AND a.item_id BETWEEN $low AND $high
              AND b.item_id BETWEEN $low AND $high
            ORDER BY p.row""", params, {"export_pairs": pairs})


def _frame(cur: Cursor, sql: str, params: list | dict,
           tables: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """A query's rows as a DataFrame through Arrow: text stays in Arrow buffers instead of one
    Python str per cell (what makes `.df()` slow on large text columns).

    The query runs on its own short-lived cursor: a relation's Arrow output there is not copied
    again, and a result another caller left half-read on `cur` does not block it. On PostgreSQL
    the rows come through the cursor's `.df()` (`tables` are DuckDB's; PostgreSQL texts pass
    their rows as parameters instead).
    """
    if is_postgres(cur):
        return cur.execute(sql, params).df()
    reader = cur.cursor()
    try:
        reader.sql("SET TimeZone = 'UTC'")
        for name, frame in (tables or {}).items():
            reader.register(name, frame)
        return reader.sql(sql, params=params).to_arrow_table().to_pandas()
    finally:
        reader.close()


def write_text_rows(cur: Cursor, rows: pd.DataFrame, path: str, file_format: str,
                    header: bool = True) -> None:
    """Write rows to `path` as JSON lines ('json') or CSV ('csv', with a header row when
    `header`) with DuckDB's writers: several times faster than pandas' on Arrow-backed text,
    NaN written as null (JSON) or an empty cell (CSV), nested lists as JSON arrays. On PostgreSQL
    the writer is an in-memory DuckDB that holds only `rows` (see the module docstring)."""
    options = {"json": "FORMAT json", "csv": f"FORMAT csv, HEADER {'true' if header else 'false'}"}[file_format]
    writer = duckdb.connect() if is_postgres(cur) else cur.cursor()
    try:
        writer.register("export_rows", rows)
        writer.execute(f"COPY export_rows TO ? ({options})", [str(path)])
    finally:
        writer.close()


def count_items(cur: Cursor, project_id: int) -> int:
    """The number of items in a project."""
    return int(cur.execute("SELECT count(*) FROM items WHERE project_id = ?", [project_id]).fetchone()[0])
