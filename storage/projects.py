"""Projects: a name, a task type and a JSON config (validated in annotate.config)."""
from __future__ import annotations

import duckdb
import pandas as pd


def insert_project(cur: duckdb.DuckDBPyConnection, name: str, task_type: str, config_json: str) -> int:
    """Insert a project and return its id."""
    row = cur.execute(
        "INSERT INTO projects (name, task_type, config) VALUES (?, ?, ?) RETURNING id",
        [name, task_type, config_json]).fetchone()
    record_first_config(cur, int(row[0]), config_json)
    return int(row[0])


def get_project(cur: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    """Return {id, name, task_type, config (JSON text), created_at, archived_at} or None."""
    row = cur.execute("SELECT id, name, task_type, config, created_at, archived_at FROM projects WHERE name = ?",
                      [name]).fetchone()
    if row is None:
        return None
    return dict(zip(["id", "name", "task_type", "config", "created_at", "archived_at"], row))


def update_project_config(cur: duckdb.DuckDBPyConnection, project_id: int, config_json: str) -> int:
    """Replace a project's config and record it as the next version (with its time); return the
    version number."""
    cur.execute("UPDATE projects SET config = ? WHERE id = ?", [config_json, project_id])
    version = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM project_config_versions WHERE project_id = ?",
                          [project_id]).fetchone()[0]
    cur.execute("INSERT INTO project_config_versions (project_id, version, config) VALUES (?, ?, ?)",
                [project_id, version, config_json])
    return int(version)


def record_first_config(cur: duckdb.DuckDBPyConnection, project_id: int, config_json: str) -> None:
    """Record a new project's config as version 1."""
    cur.execute("INSERT INTO project_config_versions (project_id, version, config) VALUES (?, 1, ?)",
                [project_id, config_json])


def config_versions(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """A project's configs over time: version, created_at, config (JSON text)."""
    return cur.execute("""SELECT version, created_at, config FROM project_config_versions
                          WHERE project_id = ? ORDER BY version""", [project_id]).df()


def stored_values(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """What a project's stored labels and judge scores use, by aspect or criterion: source
    ('label' or 'judgment'), aspect, value, n. Every label event counts, superseded ones too
    (history must stay readable)."""
    return cur.execute("""
        SELECT 'label' AS source, v.aspect, v.value, count(*) AS n
        FROM label_events e, unnest(e.values_list) AS u(v) WHERE e.project_id = $p GROUP BY ALL
        UNION ALL
        SELECT 'judgment', g.aspect, g.score, count(*) FROM judgments g JOIN items i ON i.id = g.item_id
        WHERE i.project_id = $p GROUP BY ALL
        ORDER BY 1, 2, 3""", {"p": int(project_id)}).df()


def set_archived(cur: duckdb.DuckDBPyConnection, project_id: int, is_archived: bool) -> None:
    """Archive (hide, keeping every row) or restore a project."""
    cur.execute("UPDATE projects SET archived_at = CASE WHEN ? THEN current_timestamp END WHERE id = ?",
                [is_archived, project_id])


def delete_project(cur: duckdb.DuckDBPyConnection, project_id: int) -> dict[str, int]:
    """Delete a project and every row that belongs to it, in every table that has a project_id or
    an item_id column (so tables added by later migrations are covered too); then external
    judges and imported raters left without any row. Returns {table: rows deleted}."""
    columns = cur.execute("""SELECT table_name, list(column_name) FROM duckdb_columns()
                             WHERE NOT internal AND column_name IN ('project_id', 'item_id')
                               AND table_name IN (SELECT table_name FROM duckdb_tables())
                             GROUP BY ALL ORDER BY 1""").fetchall()
    deleted = {}
    for table, names in columns:
        if "project_id" in names:
            where, param = "project_id = ?", project_id
        else:
            where, param = "item_id IN (SELECT id FROM items WHERE project_id = ?)", project_id
        if table != "items":
            deleted[table] = cur.execute(f'DELETE FROM "{table}" WHERE {where}', [param]).fetchone()[0]
    deleted["items"] = cur.execute("DELETE FROM items WHERE project_id = ?", [project_id]).fetchone()[0]
    deleted["judges"] = cur.execute("""DELETE FROM judges WHERE backend = 'external'
        AND id NOT IN (SELECT judge_id FROM judgments) AND id NOT IN (SELECT judge_id FROM judge_runs)""").fetchone()[0]
    deleted["annotators"] = cur.execute("""DELETE FROM annotators WHERE kind IN ('imported', 'gold')
        AND id NOT IN (SELECT annotator_id FROM label_events)""").fetchone()[0]
    deleted["projects"] = cur.execute("DELETE FROM projects WHERE id = ?", [project_id]).fetchone()[0]
    return deleted


def list_projects(cur: duckdb.DuckDBPyConnection, include_archived: bool = True) -> pd.DataFrame:
    """Projects with their item counts: columns id, name, task_type, items, created_at, archived_at."""
    return cur.execute("""
        SELECT p.id, p.name, p.task_type, count(i.id) AS items, p.created_at, p.archived_at
        FROM projects p LEFT JOIN items i ON i.project_id = p.id
        WHERE $all OR p.archived_at IS NULL
        GROUP BY ALL ORDER BY p.id""", {"all": include_archived}).df()


def project_counts(cur: duckdb.DuckDBPyConnection, project_id: int) -> dict:
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
