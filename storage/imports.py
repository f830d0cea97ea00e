"""SQL of imports: raters from files, imported label events (with their own time), external
judges named per project, and what a project already holds (so a second import adds only what
is new). Called inside the import's one write transaction."""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor



def rater_kinds(cur: Cursor, names: list[str]) -> dict[str, str]:
    """{name: kind} of the annotators among `names` that exist."""
    rows = cur.execute("SELECT name, kind FROM annotators WHERE name = ANY(?)", [names]).fetchall()
    return dict(rows)


def ensure_raters(cur: Cursor, names: list[str], kind: str) -> dict[str, int]:
    """Ids of the raters `names` of `kind` ('imported' or 'gold'), creating missing ones inactive
    and without a token (they never log in). The caller checks `rater_kinds` first."""
    rows = cur.execute("SELECT name, id FROM annotators WHERE name = ANY(?) AND kind = ?",
                       [names, kind]).fetchall()
    ids = {name: int(i) for name, i in rows}
    for name in names:
        if name not in ids:
            ids[name] = int(cur.execute("""INSERT INTO annotators (name, role, token_hash, is_active, kind)
                                           VALUES (?, 'annotator', NULL, false, ?) RETURNING id""",
                                        [name, kind]).fetchone()[0])
    return ids


def max_item_id(cur: Cursor) -> int:
    """The largest item id so far (0 without items): items above it were written by this import."""
    return int(cur.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])


def existing_items(cur: Cursor, project_id: int, external_ids: list[str]) -> dict[str, int]:
    """{external_id: item id} of those of `external_ids` that the project has."""
    rows = cur.execute("""SELECT external_id, id FROM items WHERE project_id = ? AND external_id = ANY(?)""",
                       [project_id, [str(e) for e in external_ids]]).fetchall() if external_ids else []
    return {e: int(i) for e, i in rows}


def item_ids(cur: Cursor, project_id: int, external_ids: pd.Series) -> pd.DataFrame:
    """external_id, item_id, n_responses of the given external ids that the project has."""
    wanted = [str(e) for e in pd.Series(external_ids, dtype="string").drop_duplicates().dropna()]
    return cur.execute("""
        SELECT i.external_id, i.id AS item_id, (SELECT count(*) FROM responses r WHERE r.item_id = i.id) AS n_responses
        FROM items i WHERE i.project_id = ? AND i.external_id = ANY(?)""", [project_id, wanted]).df()


def labelled_pairs(cur: Cursor, project_id: int) -> pd.DataFrame:
    """(item_id, annotator_id) pairs that already have a label event in the project."""
    return cur.execute("""SELECT DISTINCT item_id, annotator_id FROM label_events
                          WHERE project_id = ? AND kind = 'label'""", [project_id]).df()
