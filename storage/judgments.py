"""Judges (a config and its hash) and their judgments, stored beside the human labels.

Pairwise judgments are stored in canonical terms: `verdict` is 'A', 'B' or 'tie' for the
responses at index 0 and 1 whatever order the judge saw (`presented_order`), and `probs` is
[P(A better), P(tie), P(B better)]. A reply that could not be parsed has is_parsed = false, a
NULL verdict and its raw output kept. Rubric judgments carry `response_idx`, `score` and `probs`
over the scale points.
"""
from __future__ import annotations

import duckdb
import pandas as pd

JUDGMENT_FIELDS = ["judge_id", "run_id", "item_id", "aspect", "response_idx", "presented_order", "verdict",
                   "score", "probs", "is_parsed", "rationale", "raw_output", "latency_ms", "prompt_tokens",
                   "completion_tokens", "cost", "source"]


def get_or_create_judge(cur: duckdb.DuckDBPyConnection, name: str, backend: str, config_json: str,
                        config_hash: str, template_hash: str | None) -> int:
    """Return the id of the judge with this config hash, creating it if new."""
    row = cur.execute("SELECT id FROM judges WHERE config_hash = ?", [config_hash]).fetchone()
    if row:
        return int(row[0])
    row = cur.execute("""INSERT INTO judges (name, backend, config, config_hash, template_hash)
                         VALUES (?, ?, ?, ?, ?) RETURNING id""",
                      [name, backend, config_json, config_hash, template_hash]).fetchone()
    return int(row[0])


def list_judges(cur: duckdb.DuckDBPyConnection, project_id: int | None = None) -> pd.DataFrame:
    """Judges (all, or those with judgments in a project): id, name, backend, config_hash,
    template_hash, judgments."""
    return cur.execute("""
        SELECT j.id, j.name, j.backend, j.config_hash, j.template_hash, j.config, j.created_at,
               count(g.id) AS judgments
        FROM judges j
        LEFT JOIN judgments g ON g.judge_id = j.id
            AND ($p IS NULL OR g.item_id IN (SELECT id FROM items WHERE project_id = $p))
        GROUP BY ALL HAVING $p IS NULL OR count(g.id) > 0 ORDER BY j.id""", {"p": project_id}).df()


def insert_judgments(cur: duckdb.DuckDBPyConnection, judgments: pd.DataFrame) -> int:
    """Bulk-insert judgments (columns: a subset of JUDGMENT_FIELDS); return the row count."""
    if judgments.empty:
        return 0
    frame = judgments.copy()
    for field in JUDGMENT_FIELDS:
        if field not in frame:
            frame[field] = None
    new_judgments = frame[JUDGMENT_FIELDS]
    cur.execute(f"""INSERT INTO judgments ({', '.join(JUDGMENT_FIELDS)})
                    SELECT judge_id, run_id, item_id, aspect, response_idx::SMALLINT, presented_order,
                           verdict, score::DOUBLE, probs::DOUBLE[], is_parsed, rationale, raw_output,
                           latency_ms::DOUBLE, prompt_tokens::INTEGER, completion_tokens::INTEGER,
                           cost::DOUBLE, source
                    FROM new_judgments""")
    return len(frame)


def judgments_frame(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Every judgment of a project's items with the judge's name and hashes."""
    return cur.execute(f"""
        SELECT g.id AS judgment_id, {', '.join('g.' + f for f in JUDGMENT_FIELDS)}, g.created_at,
               i.external_id, j.name AS judge, j.config_hash, j.template_hash
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? ORDER BY g.item_id, g.judge_id, g.id""", [project_id]).df()
