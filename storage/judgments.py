"""Judges (a config and its hash) and their judgments, stored beside the human labels.

Pairwise judgments are stored in canonical terms: `verdict` is 'A', 'B' or 'tie' for the
responses at index 0 and 1 whatever order the judge saw (`presented_order`), and `probs` is
[P(A better), P(tie), P(B better)]. A reply that could not be parsed has is_parsed = false, a
NULL verdict and its raw output kept. Rubric judgments carry `response_idx`, `score` and `probs`
over the scale points.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from storage import bulk
from storage.db import Cursor, is_postgres

JUDGMENT_FIELDS = ["judge_id", "run_id", "item_id", "aspect", "response_idx", "presented_order", "verdict",
                   "score", "probs", "is_parsed", "rationale", "raw_output", "latency_ms", "prompt_tokens",
                   "completion_tokens", "cost", "source"]


def get_or_create_judge(cur: Cursor, name: str, backend: str, config_json: str,
                        config_hash: str, template_hash: str | None) -> int:
    """Return the id of the judge with this config hash, creating it if new.

    Judge names stay unique, because reports, the router and exports name judges: a new version
    of a judge (same name, another config or template) is stored as 'NAME v2', 'NAME v3', ...
    """
    row = cur.execute("SELECT id FROM judges WHERE config_hash = ?", [config_hash]).fetchone()
    if row:
        return int(row[0])
    versions = cur.execute("SELECT count(*) FROM judges WHERE name = ? OR starts_with(name, ?)",
                           [name, f"{name} v"]).fetchone()[0]
    if versions:
        name = f"{name} v{versions + 1}"
    row = cur.execute("""INSERT INTO judges (name, backend, config, config_hash, template_hash)
                         VALUES (?, ?, ?, ?, ?) RETURNING id""",
                      [name, backend, config_json, config_hash, template_hash]).fetchone()
    return int(row[0])


def external_judge(cur: Cursor, project_id: int, name: str, config_json: str,
                   config_hash: str) -> tuple[int, str]:
    """(id, stored name) of an imported judge, one per project and name (`config_hash` hashes both).

    A second import into the same project finds the same judge (and can add the other presented
    order). The name is kept unless another judge of that name already has judgments or runs in
    this project; then it becomes 'NAME v2', ... (the caller reports it). Other projects'
    judges never change the name.
    """
    row = cur.execute("SELECT id, name FROM judges WHERE config_hash = ?", [config_hash]).fetchone()
    if row:
        return int(row[0]), row[1]
    taken = cur.execute("""
        SELECT count(*) FROM judges j WHERE (j.name = $n OR starts_with(j.name, $v))
          AND (j.id IN (SELECT g.judge_id FROM judgments g JOIN items i ON i.id = g.item_id WHERE i.project_id = $p)
               OR j.id IN (SELECT judge_id FROM judge_runs WHERE project_id = $p))""",
                        {"n": name, "v": f"{name} v", "p": int(project_id)}).fetchone()[0]
    stored = f"{name} v{taken + 1}" if taken else name
    row = cur.execute("""INSERT INTO judges (name, backend, config, config_hash, template_hash)
                         VALUES (?, 'external', ?, ?, NULL) RETURNING id""",
                      [stored, config_json, config_hash]).fetchone()
    return int(row[0]), stored


def judged_units_of(cur: Cursor, project_id: int, judge_ids: list[int]) -> pd.DataFrame:
    """Units the given judges already answered in a project (for an import that adds only new
    ones): judge_id, item_id, aspect, response_idx (-1 for none), presented_order ('' for none)."""
    return cur.execute("""
        SELECT DISTINCT g.judge_id, g.item_id, g.aspect, coalesce(g.response_idx, -1) AS response_idx,
               coalesce(g.presented_order, '') AS presented_order
        FROM judgments g JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND g.judge_id = ANY(?)""", [int(project_id), [int(j) for j in judge_ids]]).df()


def list_judges(cur: Cursor, project_id: int | None = None) -> pd.DataFrame:
    """Judges (all, or those with judgments in a project): id, name, backend, config_hash,
    template_hash, judgments."""
    return cur.execute("""
        SELECT j.id, j.name, j.backend, j.config_hash, j.template_hash, j.config, j.created_at,
               coalesce(g.n, 0) AS judgments
        FROM judges j
        LEFT JOIN (SELECT judge_id, count(*) AS n FROM judgments
                   WHERE CAST($p AS BIGINT) IS NULL OR item_id IN (SELECT id FROM items WHERE project_id = $p)
                   GROUP BY judge_id) g ON g.judge_id = j.id
        WHERE CAST($p AS BIGINT) IS NULL OR g.n > 0 ORDER BY j.id""", {"p": project_id}).df()


def insert_judgments(cur: Cursor, judgments: pd.DataFrame) -> int:
    """Bulk-insert judgments (columns: a subset of JUDGMENT_FIELDS); return the row count."""
    if judgments.empty:
        return 0
    frame = judgments.copy()
    for field in JUDGMENT_FIELDS:
        if field not in frame:
            frame[field] = None
    new_judgments = frame[JUDGMENT_FIELDS]
    if is_postgres(cur):
        _copy_judgments(cur, new_judgments)
        return len(frame)
    cur.execute(f"""INSERT INTO judgments ({', '.join(JUDGMENT_FIELDS)})
                    SELECT judge_id, run_id, item_id, aspect, response_idx::SMALLINT, presented_order,
                           verdict, score::DOUBLE, probs::DOUBLE[], is_parsed, rationale, raw_output,
                           latency_ms::DOUBLE, prompt_tokens::INTEGER, completion_tokens::INTEGER,
                           cost::DOUBLE, source
                    FROM new_judgments""")
    return len(frame)


_INT_FIELDS = {"judge_id", "run_id", "item_id", "response_idx", "prompt_tokens", "completion_tokens"}


def _copy_judgments(cur: Cursor, frame: pd.DataFrame) -> None:
    """PostgreSQL: COPY the rows (storage.bulk) on the write's transaction."""
    rows = zip(*(_column_params(frame[field], field in _INT_FIELDS) for field in JUDGMENT_FIELDS))
    bulk.copy_rows(cur, "judgments", JUDGMENT_FIELDS, rows)


def _column_params(column: pd.Series, is_int: bool) -> list:
    """A frame column as PostgreSQL parameters, converted column-wise (a cell at a time is several
    times slower): NULL for NaN/NA, ints for integer columns, lists of floats for arrays."""
    if column.dtype == object and column.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return [param_value(v) for v in column]
    if is_int:
        column = pd.to_numeric(column, errors="raise").astype("Int64")
    return column.astype(object).where(column.notna(), None).tolist()


def param_value(value: object) -> object:
    """A frame cell as a PostgreSQL parameter: NaN/NA as NULL, numpy scalars and arrays as Python
    numbers and lists (probs, a float8[])."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    return value


def judgments_frame(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every judgment of a project's items with the judge's name and hashes."""
    return cur.execute(f"""
        SELECT g.id AS judgment_id, {', '.join('g.' + f for f in JUDGMENT_FIELDS)}, g.created_at,
               i.external_id, j.name AS judge, j.config_hash, j.template_hash
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? ORDER BY g.item_id, g.judge_id, g.id""", [project_id]).df()


# ---------------------------------------------------------------- judge runs (migration 20)

RUN_COLUMNS = ["id", "judge_id", "judge", "project_id", "status", "n_total", "n_done", "n_unparsed", "n_errors",
               "cancel_requested", "options", "error", "common_error", "common_error_count", "created_at",
               "finished_at"]
ACTIVE_STATUSES = ("queued", "running")


def get_judge(cur: Cursor, judge_id: int) -> dict | None:
    """{id, name, backend, config (JSON text), config_hash, template_hash} or None."""
    row = cur.execute("""SELECT id, name, backend, config, config_hash, template_hash FROM judges
                         WHERE id = ?""", [int(judge_id)]).fetchone()
    return dict(zip(["id", "name", "backend", "config", "config_hash", "template_hash"], row)) if row else None


def project_judges(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Judges with judgments or runs in a project (imported 'external' judges included): id, name,
    backend, config_hash, template_hash, judgments (every stored answer, unparsed ones included: what
    `status` counts as judge labels), parsed, items (items with at least one parsed answer: the items
    that have a verdict in the Analysis page's overview), runs."""
    return cur.execute("""
        WITH g AS (SELECT g.judge_id, count(*) AS judgments, count(*) FILTER (WHERE g.is_parsed) AS parsed,
                          count(DISTINCT g.item_id) FILTER (WHERE g.is_parsed) AS items
                   FROM judgments g JOIN items i ON i.id = g.item_id WHERE i.project_id = $p GROUP BY g.judge_id),
             r AS (SELECT judge_id, count(*) AS runs FROM judge_runs WHERE project_id = $p GROUP BY judge_id)
        SELECT j.id, j.name, j.backend, j.config_hash, j.template_hash,
               coalesce(g.judgments, 0) AS judgments, coalesce(g.parsed, 0) AS parsed,
               coalesce(g.items, 0) AS items, coalesce(r.runs, 0) AS runs
        FROM judges j LEFT JOIN g ON g.judge_id = j.id LEFT JOIN r ON r.judge_id = j.id
        WHERE g.judge_id IS NOT NULL OR r.judge_id IS NOT NULL ORDER BY j.id""", {"p": project_id}).df()


def judged_units(cur: Cursor, judge_id: int, project_id: int,
                 include_unparsed: bool = True) -> pd.DataFrame:
    """What a judge has already answered in a project: item_id, presented_order, aspect, response_idx
    (distinct); with include_unparsed False only units with a parsed judgment count."""
    return cur.execute("""
        SELECT DISTINCT g.item_id, g.presented_order, g.aspect, g.response_idx
        FROM judgments g JOIN items i ON i.id = g.item_id
        WHERE g.judge_id = $j AND i.project_id = $p AND ($all OR g.is_parsed)""",
                       {"j": int(judge_id), "p": int(project_id), "all": include_unparsed}).df()


def insert_run(cur: Cursor, judge_id: int, project_id: int, options_json: str) -> int:
    """Create a run in status 'queued' and return its id."""
    row = cur.execute("""INSERT INTO judge_runs (judge_id, project_id, status, options)
                         VALUES (?, ?, 'queued', ?) RETURNING id""",
                      [int(judge_id), int(project_id), options_json]).fetchone()
    return int(row[0])


def update_run(cur: Cursor, run_id: int, *, status: str | None = None,
               n_total: int | None = None, n_done: int | None = None, n_unparsed: int | None = None,
               n_errors: int | None = None, error: str | None = None, common_error: str | None = None,
               common_error_count: int | None = None, is_finished: bool = False) -> None:
    """Set the given fields of a run (None leaves a field as it is); stamp finished_at when finished."""
    cur.execute("""
        UPDATE judge_runs SET status = coalesce($status, status), n_total = coalesce($n_total, n_total),
            n_done = coalesce($n_done, n_done), n_unparsed = coalesce($n_unparsed, n_unparsed),
            n_errors = coalesce($n_errors, n_errors), error = coalesce($error, error),
            common_error = coalesce($common, common_error),
            common_error_count = coalesce($common_n, common_error_count),
            finished_at = CASE WHEN $finished THEN current_timestamp ELSE finished_at END
        WHERE id = $id""", {"status": status, "n_total": n_total, "n_done": n_done, "n_unparsed": n_unparsed,
                            "n_errors": n_errors, "error": error, "common": common_error,
                            "common_n": common_error_count, "finished": is_finished, "id": int(run_id)})


# A run is carried out under the lease of its job (annotate.jobs.judge_job_key: 'judge:PROJECT:JUDGE');
# a queued or running run without a live lease lost the server that ran it.
_ORPHANED = """status IN ('queued', 'running') AND NOT EXISTS (
    SELECT 1 FROM job_leases l
    WHERE l.job_key = 'judge:' || CAST(judge_runs.project_id AS TEXT) || ':' || CAST(judge_runs.judge_id AS TEXT)
      AND l.expires_at > current_timestamp)"""


def mark_interrupted(cur: Cursor, message: str) -> int:
    """Mark every queued or running run whose job lease is not live as 'interrupted' with `message`;
    return how many. (A run with a live lease is running on some server: this one or another one
    on the same database.)"""
    rows = cur.execute(f"""
        UPDATE judge_runs SET status = 'interrupted', error = coalesce(error, $m), finished_at = current_timestamp
        WHERE {_ORPHANED} RETURNING id""", {"m": message}).fetchall()
    return len(rows)


def has_orphaned_runs(cur: Cursor, project_id: int) -> bool:
    """Whether a project has a queued or running run whose job lease is not live (a cheap read
    before mark_interrupted's write)."""
    return cur.execute(f"SELECT count(*) FROM judge_runs WHERE project_id = ? AND {_ORPHANED}",
                       [int(project_id)]).fetchone()[0] > 0


def request_cancel(cur: Cursor, run_id: int) -> None:
    """Ask a run to stop after its current batch."""
    cur.execute("UPDATE judge_runs SET cancel_requested = true WHERE id = ?", [int(run_id)])


def is_cancel_requested(cur: Cursor, run_id: int) -> bool:
    """Whether someone asked the run to stop (the cheap check a run makes before each batch)."""
    row = cur.execute("SELECT cancel_requested FROM judge_runs WHERE id = ?", [int(run_id)]).fetchone()
    return bool(row and row[0])


def get_run(cur: Cursor, run_id: int) -> dict | None:
    """One run as a dict with RUN_COLUMNS, or None."""
    frame = _runs(cur, "r.id = $x", int(run_id))
    return frame.iloc[0].to_dict() if len(frame) else None


def list_runs(cur: Cursor, project_id: int) -> pd.DataFrame:
    """A project's runs, newest first, with RUN_COLUMNS."""
    return _runs(cur, "r.project_id = $x", int(project_id))


def _runs(cur: Cursor, where: str, value: int) -> pd.DataFrame:
    return cur.execute(f"""
        SELECT r.id, r.judge_id, j.name AS judge, r.project_id, r.status, r.n_total, r.n_done, r.n_unparsed,
               r.n_errors, r.cancel_requested, r.options, r.error, r.common_error,
               coalesce(r.common_error_count, 0) AS common_error_count, r.created_at, r.finished_at
        FROM judge_runs r JOIN judges j ON j.id = r.judge_id WHERE {where} ORDER BY r.id DESC""",
                       {"x": value}).df()
