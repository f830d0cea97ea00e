"""Reads the export needs beyond the generic frames: routed judges, pair texts, judge lookups.

The export joins final labels with item texts; for a million pairs that join is cheapest here, in
one query that pivots the two responses of each item into columns.
"""
from __future__ import annotations

import duckdb
import pandas as pd


def ai_routes(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """Items whose current route (the latest routing row, highest id) is 'ai': item_id, judge_id.

    judge_id may be NULL when the router routed to AI without naming a judge.
    """
    return cur.execute("""
        SELECT item_id, judge_id FROM (
            SELECT item_id, route, judge_id,
                   row_number() OVER (PARTITION BY item_id ORDER BY id DESC) AS rank
            FROM routing_decisions WHERE project_id = ?)
        WHERE rank = 1 AND route = 'ai' ORDER BY item_id""", [project_id]).df()


def judges_named(cur: duckdb.DuckDBPyConnection, project_id: int, name: str) -> pd.DataFrame:
    """Judges with judgments in the project whose name (or id, written as digits) is `name`:
    id, name, judgments."""
    return cur.execute("""
        SELECT j.id, j.name, count(*) AS judgments
        FROM judges j JOIN judgments g ON g.judge_id = j.id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND (j.name = ? OR CAST(j.id AS TEXT) = ?)
        GROUP BY ALL ORDER BY j.id""", [project_id, name, name]).df()


def judge_judgments(cur: duckdb.DuckDBPyConnection, project_id: int, judge_ids: list[int]) -> pd.DataFrame:
    """The judgments of the given judges on the project's items, with the columns
    annotate.verdicts.combined_verdicts reads (item_id, judge_id, judge, aspect, response_idx,
    presented_order, verdict, score, probs, is_parsed, created_at)."""
    return cur.execute("""
        SELECT g.item_id, g.judge_id, j.name AS judge, g.aspect, g.response_idx, g.presented_order,
               g.verdict, g.score, g.probs, g.is_parsed, g.created_at
        FROM judgments g JOIN judges j ON j.id = g.judge_id JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND list_contains(?, g.judge_id)
        ORDER BY g.item_id, g.judge_id, g.id""", [project_id, [int(j) for j in judge_ids]]).df()


def pair_texts(cur: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """One row per item of a pairwise project: item_id, external_id, prompt, context,
    response_a, response_b, model_a, model_b (responses at index 0 and 1)."""
    return cur.execute("""
        SELECT i.id AS item_id, i.external_id, i.prompt, i.context,
               a.text AS response_a, b.text AS response_b, a.model AS model_a, b.model AS model_b
        FROM items i
        JOIN responses a ON a.item_id = i.id AND a.idx = 0
        JOIN responses b ON b.item_id = i.id AND b.idx = 1
        WHERE i.project_id = ? ORDER BY i.id""", [project_id]).df()


def count_items(cur: duckdb.DuckDBPyConnection, project_id: int) -> int:
    """The number of items in a project."""
    return int(cur.execute("SELECT count(*) FROM items WHERE project_id = ?", [project_id]).fetchone()[0])
