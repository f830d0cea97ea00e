"""Annotators: people who log in with an invite token (stored only as a hash)."""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor

COLUMNS = ["id", "name", "role", "token_hash", "is_active", "created_at", "kind"]


def insert_annotator(cur: Cursor, name: str, role: str, token_hash: str | None,
                     is_active: bool = True) -> int:
    """Insert an annotator and return its id."""
    row = cur.execute(
        "INSERT INTO annotators (name, role, token_hash, is_active) VALUES (?, ?, ?, ?) RETURNING id",
        [name, role, token_hash, is_active]).fetchone()
    return int(row[0])


def get_annotator(cur: Cursor, *, name: str | None = None,
                  token_hash: str | None = None, annotator_id: int | None = None) -> dict | None:
    """Find one annotator by name, token hash or id."""
    column, value = next((c, v) for c, v in
                         [("name", name), ("token_hash", token_hash), ("id", annotator_id)] if v is not None)
    value = int(value) if column == "id" else value
    row = cur.execute(f"SELECT {', '.join(COLUMNS)} FROM annotators WHERE {column} = ?", [value]).fetchone()
    return dict(zip(COLUMNS, row)) if row else None


def set_token_hash(cur: Cursor, annotator_id: int, token_hash: str | None) -> None:
    """Replace (or with None revoke) an annotator's token."""
    cur.execute("UPDATE annotators SET token_hash = ? WHERE id = ?", [token_hash, annotator_id])


def set_active(cur: Cursor, annotator_id: int, is_active: bool) -> None:
    """Activate or deactivate an annotator."""
    cur.execute("UPDATE annotators SET is_active = ? WHERE id = ?", [is_active, annotator_id])


def list_annotators(cur: Cursor) -> pd.DataFrame:
    """All annotators (without token hashes): id, name, role, is_active, created_at, kind."""
    return cur.execute(
        "SELECT id, name, role, is_active, created_at, kind FROM annotators ORDER BY id").df()


def annotator_ids_by_name(cur: Cursor, names: list[str]) -> dict[str, int]:
    """Map the given names to ids, for those that exist."""
    if not names:
        return {}
    rows = cur.execute("SELECT name, id FROM annotators WHERE name = ANY(?)", [names]).fetchall()
    return dict(rows)
