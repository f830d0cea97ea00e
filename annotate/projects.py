"""Create and look up projects."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

import storage
from storage import analysis as analysis_store, projects as store
from storage.db import Connection
from annotate.config import ProjectConfig, parse_config
from annotate.study.settings import merge_study_changes
from annotate.errors import AnnotateError, ConfigError, NotFoundError
from annotate.text_checks import refuse_nul


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    config: ProjectConfig
    archived_at: datetime | None = None

    @property
    def task_type(self) -> str:
        return self.config.task_type


def create_project(conn: Connection, name: str, config: ProjectConfig | dict) -> Project:
    """Create a project; raise AnnotateError if the name is taken."""
    if not isinstance(config, ProjectConfig):
        config = parse_config(config)
    if not name.strip():
        raise AnnotateError("A project needs a non-empty name")
    refuse_nul(name, "A project name")
    cur = storage.cursor(conn)
    if store.get_project(cur, name) is not None:
        raise AnnotateError(f"Project '{name}' already exists")
    project_id = storage.write(conn, lambda c: store.insert_project(c, name, config.task_type,
                                                                      config.model_dump_json()))
    return Project(project_id, name, config)


def get_project(conn: Connection, name: str) -> Project:
    """Return the project called `name`, or raise NotFoundError listing the ones that exist."""
    row = store.get_project(storage.cursor(conn), name)
    if row is None:
        names = project_names(conn, include_archived=True)
        known = ", ".join(f"'{n}'" for n in names) or "none yet"
        raise NotFoundError(f"No project '{name}' (projects: {known})")
    return Project(row["id"], row["name"], parse_config(row["config"], f"project '{name}' config"),
                   row["archived_at"])


def update_config(conn: Connection, name: str, changes: dict) -> Project:
    """Apply field changes to a project's config and record it as a new config version (with its
    time). The task type cannot change, and neither can anything stored labels or judge scores
    depend on (see `config_change_problems`).

    Raises:
        ConfigError: an invalid field, or a change that would orphan or reinterpret stored labels.
    """
    project = get_project(conn, name)
    data = project.config.model_dump() | merge_study_changes(project.config.study, changes)
    if data["task_type"] != project.task_type:
        raise ConfigError(f"Project '{name}': the task type cannot change")
    config = parse_config(data, f"project '{name}' config")
    problems = config_change_problems(project.config, config, store.stored_values(storage.cursor(conn), project.id))
    if problems:
        raise ConfigError(f"Project '{name}': not changed, because {'; '.join(problems)}. Create a new project "
                          f"for another scale or set of criteria")
    storage.write(conn, lambda c: store.update_project_config(c, project.id, config.model_dump_json()))
    return Project(project.id, name, config, project.archived_at)


def config_change_problems(old: ProjectConfig, new: ProjectConfig, stored: pd.DataFrame) -> list[str]:
    """What a config change would break in the stored labels and judge scores (empty: nothing).

    A change is refused when it would orphan stored values (an aspect, criterion, scale value or
    score that labels use is removed) or reinterpret them (the wording of a scale point or score
    that labels use changes, e.g. value 1 from 'B is better' to 'B is slightly better'). Other
    edits (guidelines, overlap, descriptions of criteria, new scale points or criteria) are
    allowed and recorded as a new config version.

    Args:
        stored: source ('label' | 'judgment'), aspect, value, n (storage.projects.stored_values).
    """
    problems = []
    wording_old = _wording(old)
    wording_new = _wording(new)
    used = stored.dropna(subset=["value"]) if len(stored) else stored
    for aspect, rows in stored.groupby("aspect") if len(stored) else []:
        n = int(rows["n"].sum())
        if aspect not in new.aspect_names:
            problems.append(f"{n} stored label value(s) or judge score(s) use '{aspect}', which the new config drops")
            continue
        for value, count in used[used["aspect"] == aspect].groupby("value")["n"].sum().items():
            before, after = wording_old.get((aspect, value)), wording_new.get((aspect, value))
            if after is None:
                problems.append(f"{int(count)} stored value(s) of '{aspect}' are {value:g}, which the new scale drops")
            elif before is not None and before != after:
                problems.append(f"{int(count)} stored value(s) of '{aspect}' are {value:g}, which would change from "
                                f"'{before}' to '{after}'")
    return problems


def _wording(config: ProjectConfig) -> dict[tuple[str, float], str]:
    """{(aspect, value): its wording}: the scale's labels (pairwise) or each score's description."""
    if config.task_type == "pairwise":
        return {(aspect, float(p.value)): p.label for aspect in config.aspect_names for p in config.scale}
    return {(c.name, float(score)): text for c in config.criteria for score, text in c.scores.items()}


def config_history(conn: Connection, name: str) -> pd.DataFrame:
    """A project's config versions: version, created_at, config (JSON text)."""
    return store.config_versions(storage.cursor(conn), get_project(conn, name).id)


def archive_project(conn: Connection, name: str, is_archived: bool = True) -> Project:
    """Archive a project (hidden from the sidebar and lists, every row kept) or restore it."""
    project = get_project(conn, name)
    storage.write(conn, lambda c: store.set_archived(c, project.id, is_archived))
    return get_project(conn, name)


def delete_project(conn: Connection, name: str, confirm: str) -> dict[str, int]:
    """Delete a project and all its items, labels, judgments and routing, in one transaction.

    Args:
        confirm: must be the project's name, typed again (the CLI and the page ask for it after
            suggesting a backup).
    Returns:
        {table: rows deleted}.
    """
    project = get_project(conn, name)
    if confirm != name:
        raise AnnotateError(f"Type the project's name '{name}' to confirm deleting it; nothing was deleted")
    return storage.write(conn, lambda c: store.delete_project(c, project.id))


def project_names(conn: Connection, include_archived: bool = False) -> list[str]:
    """The projects' names in creation order (archived ones only when asked: they are hidden)."""
    return store.list_projects(storage.cursor(conn), include_archived)["name"].tolist()


def list_projects(conn: Connection, include_archived: bool = True) -> pd.DataFrame:
    """The projects with their item counts (the columns storage.projects.list_projects gives)."""
    return store.list_projects(storage.cursor(conn), include_archived)


def project_status(conn: Connection, name: str) -> dict:
    """Counts for a project: items, human_labels, judge_labels, annotators, skips, flags."""
    project = get_project(conn, name)
    return {"project": name, "task_type": project.task_type,
            **store.project_counts(storage.cursor(conn), project.id)}


def list_project_status(conn: Connection, archived: bool = False) -> pd.DataFrame:
    """One row per project (the archived ones with `archived`, else the others): project,
    task_type, items, human_labels, judge_labels, annotators, skips, flags."""
    cur = storage.cursor(conn)
    rows = [{"project": p.name, "task_type": p.task_type, **store.project_counts(cur, int(p.id))}
            for p in store.list_projects(cur).itertuples() if pd.isna(p.archived_at) != archived]
    return pd.DataFrame(rows, columns=["project", "task_type", "items", "human_labels", "judge_labels",
                                       "annotators", "skips", "flags"])


def data_version(conn: Connection, name: str) -> tuple:
    """A value that changes whenever the project's labels, items, judgments or routing do, so that
    pages can cache reports and routing plans until then."""
    return analysis_store.data_version(storage.cursor(conn), get_project(conn, name).id)
