"""Projects: a name, a task type and a JSON config (validated in annotate.config)."""
from __future__ import annotations

import duckdb
import pandas as pd


def insert_project(cur: duckdb.DuckDBPyConnection, name: str, task_type: str, config_json: str) -> int:
    """Insert a project and return its id."""
    row = cur.execute(
        "INSERT INTO projects (name, task_type, config) VALUES (?, ?, ?) RETURNING id",
        [name, task_type, config_json]).fetchone()
    return int(row[0])


def get_project(cur: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    """Return {id, name, task_type, config (JSON text), created_at} or None."""
    row = cur.execute("SELECT id, name, task_type, config, created_at FROM projects WHERE name = ?",
                      [name]).fetchone()
    if row is None:
        return None
    return dict(zip(["id", "name", "task_type", "config", "created_at"], row))


def update_project_config(cur: duckdb.DuckDBPyConnection, project_id: int, config_json: str) -> None:
    """Replace a project's config."""
    cur.execute("UPDATE projects SET config = ? WHERE id = ?", [config_json, project_id])


def list_projects(cur: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Projects with their item counts: columns id, name, task_type, items, created_at."""
    return cur.execute("""
        SELECT p.id, p.name, p.task_type, count(i.id) AS items, p.created_at
        FROM projects p LEFT JOIN items i ON i.project_id = p.id
        GROUP BY ALL ORDER BY p.id""").df()


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
