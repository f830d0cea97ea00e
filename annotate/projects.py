"""Create and look up projects."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

import storage
from storage import analysis as analysis_store, projects as store
from annotate.config import ProjectConfig, parse_config
from annotate.errors import AnnotateError, NotFoundError


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    config: ProjectConfig

    @property
    def task_type(self) -> str:
        return self.config.task_type


def create_project(conn: duckdb.DuckDBPyConnection, name: str, config: ProjectConfig | dict) -> Project:
    """Create a project; raise AnnotateError if the name is taken."""
    if not isinstance(config, ProjectConfig):
        config = parse_config(config)
    if not name.strip():
        raise AnnotateError("A project needs a non-empty name")
    cur = storage.cursor(conn)
    if store.get_project(cur, name) is not None:
        raise AnnotateError(f"Project '{name}' already exists")
    project_id = storage.write(conn, lambda c: store.insert_project(c, name, config.task_type,
                                                                      config.model_dump_json()))
    return Project(project_id, name, config)


def get_project(conn: duckdb.DuckDBPyConnection, name: str) -> Project:
    """Return the project called `name`, or raise NotFoundError listing the ones that exist."""
    row = store.get_project(storage.cursor(conn), name)
    if row is None:
        names = project_names(conn)
        known = ", ".join(f"'{n}'" for n in names) or "none yet"
        raise NotFoundError(f"No project '{name}' (projects: {known})")
    return Project(row["id"], row["name"], parse_config(row["config"], f"project '{name}' config"))


def update_config(conn: duckdb.DuckDBPyConnection, name: str, changes: dict) -> Project:
    """Apply field changes to a project's config (the task type cannot change)."""
    project = get_project(conn, name)
    data = project.config.model_dump() | changes
    if data["task_type"] != project.task_type:
        raise AnnotateError(f"Project '{name}': the task type cannot change")
    config = parse_config(data, f"project '{name}' config")
    storage.write(conn, lambda c: store.update_project_config(c, project.id, config.model_dump_json()))
    return Project(project.id, name, config)


def project_names(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every project's name, in creation order."""
    return store.list_projects(storage.cursor(conn))["name"].tolist()


def list_projects(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The projects with their item counts (the columns storage.projects.list_projects gives)."""
    return store.list_projects(storage.cursor(conn))


def project_status(conn: duckdb.DuckDBPyConnection, name: str) -> dict:
    """Counts for a project: items, human_labels, judge_labels, annotators, skips, flags."""
    project = get_project(conn, name)
    return {"project": name, "task_type": project.task_type,
            **store.project_counts(storage.cursor(conn), project.id)}


def list_project_status(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per project: project, task_type, items, human_labels, judge_labels, annotators,
    skips, flags."""
    cur = storage.cursor(conn)
    rows = [{"project": p.name, "task_type": p.task_type, **store.project_counts(cur, int(p.id))}
            for p in store.list_projects(cur).itertuples()]
    return pd.DataFrame(rows, columns=["project", "task_type", "items", "human_labels", "judge_labels",
                                       "annotators", "skips", "flags"])


def data_version(conn: duckdb.DuckDBPyConnection, name: str) -> tuple:
    """A value that changes whenever the project's labels, items, judgments or routing do, so that
    pages can cache reports and routing plans until then."""
    return analysis_store.data_version(storage.cursor(conn), get_project(conn, name).id)
