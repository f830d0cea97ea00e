"""What `annotate migrate` moves: which rows of each table belong to a set of projects, which columns
hold ids from which sequence, and which rows are people or judges the target may already have.

The schema declares no foreign keys, so the relations are written down here, one entry per table;
`annotate migrate` refuses a database with a table that has no entry (nothing is moved), and
tests/test_migrate.py fails when a migration adds a table without one.

Scopes:
- "self": the projects table itself (its `id`);
- "project": rows with a `project_id` of a moved project;
- "item": rows whose `item_id` is an item of a moved project;
- "annotator" / "judge": the rows that moved rows name (every row when all projects move); matched
  by `key` (annotator name, judge config hash) with a row the target already has, which is then used
  instead of a copy;
- "global": rows that belong to no project (login sessions, failed logins, the embedding cache):
  moved only with every project (a cache row whose `key` the target has is left out);
- "none": rows that are never moved (the target's own migration history, the source's servers'
  job leases).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableRule:
    scope: str
    ids: dict[str, str] = field(default_factory=dict)  # column -> the sequence its ids come from
    key: tuple[str, ...] = ()                           # natural key matched with the target's rows


P, I, A, J = "project_ids", "item_ids", "annotator_ids", "judge_ids"
TABLES: dict[str, TableRule] = {
    "projects": TableRule("self", {"id": P}),
    "project_config_versions": TableRule("project", {"project_id": P}),
    "items": TableRule("project", {"id": I, "project_id": P}),
    "responses": TableRule("item", {"item_id": I}),
    "annotators": TableRule("annotator", {"id": A}, key=("name",)),
    "label_events": TableRule("project", {"id": "label_event_ids", "project_id": P, "item_id": I, "annotator_id": A,
                                          "supersedes": "label_event_ids"}),
    "judges": TableRule("judge", {"id": J}, key=("config_hash",)),
    "judge_runs": TableRule("project", {"id": "judge_run_ids", "judge_id": J, "project_id": P}),
    "judgments": TableRule("item", {"id": "judgment_ids", "judge_id": J, "run_id": "judge_run_ids", "item_id": I}),
    "routing_runs": TableRule("project", {"id": "routing_run_ids", "project_id": P, "judge_id": J}),
    "routing_decisions": TableRule("project", {"id": "routing_ids", "project_id": P, "item_id": I, "judge_id": J,
                                               "run_id": "routing_run_ids"}),
    "leases": TableRule("project", {"project_id": P, "item_id": I, "annotator_id": A}),
    "review_actions": TableRule("project", {"id": "review_action_ids", "project_id": P, "item_id": I,
                                            "researcher_id": A, "last_event_id": "label_event_ids"}),
    "study_links": TableRule("project", {"id": "study_link_ids", "project_id": P}),
    "study_participants": TableRule("project", {"annotator_id": A, "project_id": P, "link_id": "study_link_ids",
                                                "current_item_id": I}),
    "study_check_items": TableRule("project", {"item_id": I, "project_id": P}),
    "study_check_answers": TableRule("project", {"id": "study_check_answer_ids", "project_id": P, "annotator_id": A,
                                                 "item_id": I}),
    "sessions": TableRule("global", {"annotator_id": A}),
    "login_failures": TableRule("global"),
    "text_embeddings": TableRule("global", key=("text_hash", "model")),
    "job_leases": TableRule("none"),  # which server runs a background job right now: the source's servers' business
    "schema_migrations": TableRule("none"),
}
# Tables whose rows are copied before the others need them for their ids: people and judges first.
FIRST = ("annotators", "judges")


def scope_where(table: str, rule: TableRule) -> str:
    """The WHERE clause (one `?`: a list of ids) that selects a table's rows of the moved projects
    (for "annotator"/"judge": of the named rows); "" for a table moved whole."""
    if rule.scope in ("self", "annotator", "judge"):
        return "WHERE id = ANY(?)"
    if rule.scope == "project":
        return "WHERE project_id = ANY(?)"
    if rule.scope == "item":
        return "WHERE item_id IN (SELECT id FROM items WHERE project_id = ANY(?))"
    return ""


def referenced_ids(cur, table: str, rule: TableRule, sequence: str, project_ids: list[int]) -> set[int]:
    """The ids from `sequence` that `table`'s rows of the projects name (e.g. the annotators of their labels)."""
    ids: set[int] = set()
    for column, seq in rule.ids.items():
        if seq != sequence or rule.scope not in ("project", "item"):
            continue
        rows = cur.execute(f'SELECT DISTINCT "{column}" FROM "{table}" {scope_where(table, rule)}',
                           [project_ids]).fetchall()
        ids.update(int(row[0]) for row in rows if row[0] is not None)
    return ids


def key_matches(cur, table: str, key: str, values: list) -> dict:
    """{key value: id} of the target's rows of `table` whose `key` column is one of `values`."""
    if not values:
        return {}
    rows = cur.execute(f'SELECT "{key}", id FROM "{table}" WHERE "{key}" = ANY(?)', [values]).fetchall()
    return {value: int(row_id) for value, row_id in rows}


def existing_keys(cur, table: str, key: tuple[str, ...]) -> set[tuple]:
    """The key tuples the target's `table` already has (a cache's rows are not copied twice)."""
    columns = ", ".join(f'"{column}"' for column in key)
    return {tuple(row) for row in cur.execute(f'SELECT {columns} FROM "{table}"').fetchall()}


def project_ids(cur) -> dict[str, int]:
    """{project name: id} of every project, in id order."""
    return {name: int(pid) for name, pid in cur.execute("SELECT name, id FROM projects ORDER BY id").fetchall()}


def all_ids(cur, table: str) -> set[int]:
    """Every id of `table` (annotators, judges: what moves with every project)."""
    return {int(row[0]) for row in cur.execute(f'SELECT id FROM "{table}"').fetchall()}


def keys_of(cur, table: str, key: str, ids: list[int]) -> dict[int, object]:
    """{id: natural key} of the rows of `table` with these ids."""
    rows = cur.execute(f'SELECT id, "{key}" FROM "{table}" WHERE id = ANY(?)', [ids]).fetchall()
    return {int(row_id): value for row_id, value in rows}
