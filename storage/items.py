"""Items (a prompt and its context) and their responses (2 for pairwise, 1..N for rubric)."""
from __future__ import annotations

import pandas as pd

from storage import bulk
from storage.db import Cursor, is_postgres

ITEM_COLUMNS = ["external_id", "prompt", "context", "reference", "metadata"]
RESPONSE_COLUMNS = ["external_id", "idx", "text", "model"]


def existing_external_ids(cur: Cursor, project_id: int, external_ids: list[str]) -> set[str]:
    """Return those of `external_ids` that the project already has."""
    if not external_ids:
        return set()
    rows = cur.execute("SELECT external_id FROM items WHERE project_id = ? AND external_id = ANY(?)",
                       [project_id, [str(e) for e in external_ids]]).fetchall()
    return {r[0] for r in rows}


def insert_items(cur: Cursor, project_id: int, items: pd.DataFrame,
                 responses: pd.DataFrame) -> dict[str, int]:
    """Bulk-insert items and their responses; return {external_id: item id}.

    DuckDB reads the frames in place (replacement scans); PostgreSQL takes ids from the items'
    sequence and COPYs the rows (storage.bulk).

    Args:
        items: columns ITEM_COLUMNS (metadata as JSON text or None).
        responses: columns RESPONSE_COLUMNS, keyed to items by external_id.
    """
    new_items = items[ITEM_COLUMNS]
    if is_postgres(cur):
        return _insert_items_postgres(cur, project_id, new_items, responses[RESPONSE_COLUMNS])
    id_map = dict(cur.execute("""
        INSERT INTO items (project_id, external_id, prompt, context, reference, metadata)
        SELECT ?, external_id, prompt, context, reference, metadata::JSON FROM new_items
        RETURNING external_id, id""", [project_id]).fetchall())
    new_responses = responses[RESPONSE_COLUMNS].assign(item_id=responses["external_id"].map(id_map))
    cur.execute("""INSERT INTO responses (item_id, idx, text, model)
                   SELECT item_id, idx, text, model FROM new_responses""")
    return id_map


def _insert_items_postgres(cur: Cursor, project_id: int, items: pd.DataFrame, responses: pd.DataFrame) -> dict[str, int]:
    """insert_items on PostgreSQL: ids drawn first (so that responses can name them), then two COPYs."""
    ids = bulk.next_ids(cur, "item_ids", len(items))
    id_map = dict(zip(items["external_id"].tolist(), ids))
    bulk.copy_rows(cur, "items", ["id", "project_id", *ITEM_COLUMNS],
                   ((item_id, project_id, *row) for item_id, row in zip(ids, bulk.python_rows(items))))
    rows = bulk.python_rows(responses.assign(item_id=responses["external_id"].map(id_map))[
        ["item_id", "idx", "text", "model"]])
    bulk.copy_rows(cur, "responses", ["item_id", "idx", "text", "model"], rows)
    return id_map


def get_item(cur: Cursor, item_id: int) -> dict | None:
    """One item with its responses: {id, project_id, external_id, prompt, context, reference,
    metadata (JSON text), responses: [{idx, text, model}, ...] in index order}."""
    row = cur.execute("""SELECT id, project_id, external_id, prompt, context, reference, metadata
                         FROM items WHERE id = ?""", [int(item_id)]).fetchone()
    if row is None:
        return None
    item = dict(zip(["id", "project_id", "external_id", "prompt", "context", "reference", "metadata"], row))
    rows = cur.execute("SELECT idx, text, model FROM responses WHERE item_id = ? ORDER BY idx",
                       [int(item_id)]).fetchall()
    item["responses"] = [dict(zip(["idx", "text", "model"], r)) for r in rows]
    return item


def item_header(cur: Cursor, item_id: int) -> dict | None:
    """{project_id, external_id, n_responses} of an item, or None: the cheap lookup for writes."""
    row = cur.execute("""SELECT project_id, external_id, (SELECT count(*) FROM responses WHERE item_id = $i)
                         FROM items WHERE id = $i""", {"i": int(item_id)}).fetchone()
    return dict(zip(["project_id", "external_id", "n_responses"], row)) if row else None


def item_id_for(cur: Cursor, project_id: int, external_id: str) -> int | None:
    """The id of the item with this external id in the project, or None."""
    row = cur.execute("SELECT id FROM items WHERE project_id = ? AND external_id = ?",
                      [project_id, external_id]).fetchone()
    return int(row[0]) if row else None


def items_frame(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Items of a project, one row each: item_id, external_id, prompt, context, reference, metadata."""
    return cur.execute("""
        SELECT id AS item_id, external_id, prompt, context, reference, metadata
        FROM items WHERE project_id = ? ORDER BY id""", [project_id]).df()


def responses_frame(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Responses of a project's items: item_id, idx, text, model."""
    return cur.execute("""
        SELECT r.item_id, r.idx, r.text, r.model FROM responses r
        JOIN items i ON i.id = r.item_id WHERE i.project_id = ? ORDER BY r.item_id, r.idx""",
                       [project_id]).df()
