"""Projects: a name, a task type and a JSON config (validated in annotate.config)."""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor


def insert_project(cur: Cursor, name: str, task_type: str, config_json: str) -> int:
    """Insert a project and return its id."""
    row = cur.execute(
        "INSERT INTO projects (name, task_type, config) VALUES (?, ?, ?) RETURNING id",
        [name, task_type, config_json]).fetchone()
    record_first_config(cur, int(row[0]), config_json)
    return int(row[0])


def get_project(cur: Cursor, name: str) -> dict | None:
    """Return {id, name, task_type, config (JSON text), created_at, archived_at} or None."""
    row = cur.execute("SELECT id, name, task_type, config, created_at, archived_at FROM projects WHERE name = ?",
                      [name]).fetchone()
    if row is None:
        return None
    return dict(zip(["id", "name", "task_type", "config", "created_at", "archived_at"], row))


def update_project_config(cur: Cursor, project_id: int, config_json: str) -> int:
    """Replace a project's config and record it as the next version (with its time); return the
    version number."""
    cur.execute("UPDATE projects SET config = ? WHERE id = ?", [config_json, project_id])
    version = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM project_config_versions WHERE project_id = ?",
                          [project_id]).fetchone()[0]
    cur.execute("INSERT INTO project_config_versions (project_id, version, config) VALUES (?, ?, ?)",
                [project_id, version, config_json])
    return int(version)


def record_first_config(cur: Cursor, project_id: int, config_json: str) -> None:
    """Record a new project's config as version 1."""
    cur.execute("INSERT INTO project_config_versions (project_id, version, config) VALUES (?, 1, ?)",
                [project_id, config_json])


def config_versions(cur: Cursor, project_id: int) -> pd.DataFrame:
    """A project's configs over time: version, created_at, config (JSON text)."""
    return cur.execute("""SELECT version, created_at, config FROM project_config_versions
                          WHERE project_id = ? ORDER BY version""", [project_id]).df()


def stored_values(cur: Cursor, project_id: int) -> pd.DataFrame:
    """What a project's stored labels and judge scores use, by aspect or criterion: source
    ('label' or 'judgment'), aspect, value, n. Every label event counts, superseded ones too
    (history must stay readable)."""
    return cur.execute("""
        SELECT 'label' AS source, v.aspect, v.value, count(*) AS n
        FROM label_events e JOIN label_values v ON v.event_id = e.id WHERE e.project_id = $p
        GROUP BY v.aspect, v.value
        UNION ALL
        SELECT 'judgment', g.aspect, g.score, count(*) FROM judgments g JOIN items i ON i.id = g.item_id
        WHERE i.project_id = $p GROUP BY g.aspect, g.score
        ORDER BY 1, 2, 3""", {"p": int(project_id)}).df()


def set_archived(cur: Cursor, project_id: int, is_archived: bool) -> None:
    """Archive (hide, keeping every row) or restore a project."""
    cur.execute("UPDATE projects SET archived_at = CASE WHEN ? THEN current_timestamp END WHERE id = ?",
                [is_archived, project_id])


def delete_project(cur: Cursor, project_id: int) -> dict[str, int]:
    """Delete a project and every row that belongs to it, in every table that has a project_id or
    an item_id column (so tables added by later migrations are covered too); then external
    judges and imported raters left without any row. Returns {table: rows deleted}."""
    rows = cur.execute("""
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
          AND c.column_name IN ('project_id', 'item_id')
        ORDER BY 1, 2""").fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    deleted = {}
    for table, names in columns.items():
        if "project_id" in names:
            where, param = "project_id = ?", project_id
        else:
            where, param = "item_id IN (SELECT id FROM items WHERE project_id = ?)", project_id
        if table != "items":
            deleted[table] = _count_deleted(cur, f'DELETE FROM "{table}" WHERE {where}', [param])
    deleted["items"] = _count_deleted(cur, "DELETE FROM items WHERE project_id = ?", [project_id])
    deleted["judges"] = _count_deleted(cur, """DELETE FROM judges WHERE backend = 'external'
        AND id NOT IN (SELECT judge_id FROM judgments) AND id NOT IN (SELECT judge_id FROM judge_runs)""")
    deleted["annotators"] = _count_deleted(cur, """DELETE FROM annotators WHERE kind IN ('imported', 'gold', 'participant')
        AND id NOT IN (SELECT annotator_id FROM label_events)""")
    deleted["projects"] = _count_deleted(cur, "DELETE FROM projects WHERE id = ?", [project_id])
    return deleted


def _count_deleted(cur: Cursor, delete_sql: str, params: list | None = None) -> int:
    """Run a DELETE and return how many rows it removed (RETURNING: PostgreSQL's DELETE returns
    no count row, DuckDB's does)."""
    return len(cur.execute(delete_sql + " RETURNING 1", params).fetchall())


def list_projects(cur: Cursor, include_archived: bool = True) -> pd.DataFrame:
    """Projects with their item counts: columns id, name, task_type, items, created_at, archived_at."""
    return cur.execute("""
        SELECT p.id, p.name, p.task_type, count(i.id) AS items, p.created_at, p.archived_at
        FROM projects p LEFT JOIN items i ON i.project_id = p.id
        WHERE $all OR p.archived_at IS NULL
        GROUP BY p.id, p.name, p.task_type, p.created_at, p.archived_at ORDER BY p.id""", {"all": include_archived}).df()


def project_counts(cur: Cursor, project_id: int) -> dict:
    """Counts for `status`: items, current human labels, judgments, distinct human annotators."""
    row = cur.execute("""
        SELECT
          (SELECT count(*) FROM items WHERE project_id = $p),
          (SELECT count(*) FROM current_label_events WHERE project_id = $p),
          (SELECT count(*) FROM judgments j JOIN items i ON i.id = j.item_id WHERE i.project_id = $p),
          (SELECT count(DISTINCT annotator_id) FROM label_events WHERE project_id = $p AND kind = 'label'),
          (SELECT count(*) FROM label_events WHERE project_id = $p AND kind = 'skip'),
          (SELECT count(*) FROM label_events WHERE project_id = $p AND kind = 'flag')
        """, {"p": project_id}).fetchone()
    keys = ["items", "human_labels", "judge_labels", "annotators", "skips", "flags"]
    return dict(zip(keys, (int(v) for v in row)))
