"""Routing runs and decisions (item -> human or AI), and the text-embedding cache.

The latest routing_decisions row (highest id) of an item is its current route and priority; the
annotator queue serves items whose current route is 'human' by priority. A re-rank inserts new
rows for pending items only, so the rows of items already labelled stay as they were.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from storage.db import Cursor, is_postgres
from storage.judgments import param_value

DECISION_FIELDS = ["project_id", "item_id", "route", "priority", "strategy", "model_version", "judge_id",
                   "is_calibration", "features", "run_id", "ai_verdict", "ai_source"]


def insert_routing_run(cur: Cursor, project_id: int, kind: str, judge_id: int | None,
                       strategy: str, settings_json: str, model_version: str, n_labels: int,
                       every_n: int | None) -> int:
    """Record one apply or re-rank; return its id."""
    row = cur.execute("""
        INSERT INTO routing_runs (project_id, kind, judge_id, strategy, settings, model_version, n_labels, every_n)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                      [project_id, kind, judge_id, strategy, settings_json, model_version, n_labels,
                       every_n]).fetchone()
    return int(row[0])


def latest_routing_run(cur: Cursor, project_id: int) -> dict | None:
    """The project's most recent routing run as a dict, or None when it was never routed."""
    row = cur.execute("""
        SELECT id, kind, judge_id, strategy, settings, model_version, n_labels, every_n, created_at
        FROM routing_runs WHERE project_id = ? ORDER BY id DESC LIMIT 1""", [project_id]).fetchone()
    if row is None:
        return None
    return dict(zip(["id", "kind", "judge_id", "strategy", "settings", "model_version", "n_labels", "every_n",
                     "created_at"], row))


def insert_routing_decisions(cur: Cursor, decisions: pd.DataFrame) -> int:
    """Bulk-insert decisions (columns DECISION_FIELDS, features as JSON text); return the row count."""
    if decisions.empty:
        return 0
    new_decisions = decisions[DECISION_FIELDS]
    if is_postgres(cur):
        ordered = new_decisions.sort_values("priority", ascending=False, kind="stable")
        cur.executemany(f"""
            INSERT INTO routing_decisions ({', '.join(DECISION_FIELDS)})
            VALUES (?, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ?, ?, ?, CAST(? AS JSON), ?, ?, ?)""",
                        [[param_value(v) for v in row] for row in ordered.itertuples(index=False)])
        return len(decisions)
    cur.execute(f"""
        INSERT INTO routing_decisions ({', '.join(DECISION_FIELDS)})
        SELECT project_id, item_id, route, priority::DOUBLE, strategy, model_version, judge_id,
               is_calibration, features::JSON, run_id, ai_verdict, ai_source
        FROM new_decisions ORDER BY priority DESC""")
    return len(decisions)


def current_routes(cur: Cursor, project_id: int) -> pd.DataFrame:
    """The latest decision per item: decision_id, item_id, external_id, route, priority, strategy,
    model_version, judge_id, judge, is_calibration, run_id, ai_verdict, ai_source, features."""
    return cur.execute("""
        SELECT d.id AS decision_id, d.item_id, i.external_id, d.route, d.priority, d.strategy,
               d.model_version, d.judge_id, j.name AS judge, d.is_calibration, d.run_id, d.ai_verdict,
               d.ai_source, d.features
        FROM routing_decisions d
        JOIN items i ON i.id = d.item_id
        LEFT JOIN judges j ON j.id = d.judge_id
        WHERE d.id IN (SELECT max(id) FROM routing_decisions WHERE project_id = ? GROUP BY item_id)
        ORDER BY d.item_id""", [project_id]).df()


def count_current_labels(cur: Cursor, project_id: int) -> int:
    """Current (not superseded) human label events of the project: the re-rank clock."""
    return int(cur.execute("""
        SELECT count(*) FROM current_label_events WHERE project_id = ?""",
                           [project_id]).fetchone()[0])


def judge_call_count(cur: Cursor, project_id: int, judge_id: int) -> int:
    """Judgments (judge calls) a judge has made on the project's items, for money budgets."""
    return int(cur.execute("""
        SELECT count(*) FROM judgments g JOIN items i ON i.id = g.item_id
        WHERE i.project_id = ? AND g.judge_id = ?""", [project_id, judge_id]).fetchone()[0])


def cached_embeddings(cur: Cursor, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
    """The cached vectors of those `hashes` that are in the cache, as {text_hash: vector}."""
    if is_postgres(cur):
        rows = cur.execute("SELECT text_hash, vector FROM text_embeddings WHERE model = ? AND text_hash = ANY(?)",
                           [model, sorted(set(hashes))]).fetchall()
        return {text_hash: np.asarray(vector, dtype=np.float32) for text_hash, vector in rows}
    wanted = pd.DataFrame({"text_hash": pd.Series(sorted(set(hashes)), dtype="string")})
    table = cur.sql("""
        SELECT e.text_hash, e.vector FROM text_embeddings e JOIN wanted w USING (text_hash)
        WHERE e.model = $model""", params={"model": model}).to_arrow_table()
    if table.num_rows == 0:
        return {}
    vectors = table.column("vector").combine_chunks()
    flat = vectors.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(table.num_rows, -1)
    return dict(zip(table.column("text_hash").to_pylist(), flat))


def insert_embeddings(cur: Cursor, model: str, hashes: list[str],
                      vectors: np.ndarray) -> int:
    """Cache vectors (one row of `vectors` per hash); hashes already cached are left alone."""
    if is_postgres(cur):
        rows = {text_hash: vector for text_hash, vector in zip(hashes, np.asarray(vectors, dtype=np.float32))}
        cur.executemany("""INSERT INTO text_embeddings (text_hash, model, vector) VALUES (?, ?, ?)
                           ON CONFLICT (text_hash, model) DO NOTHING""",
                        [[text_hash, model, vector.tolist()] for text_hash, vector in rows.items()])
        return len(hashes)
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    new_embeddings = pa.table({"text_hash": pa.array(hashes, pa.string()),
                               "vector": pa.ListArray.from_arrays(
                                   pa.array(np.arange(0, len(flat) + 1, max(vectors.shape[1], 1)), pa.int32()),
                                   flat) if len(hashes) else pa.array([], pa.list_(pa.float32()))})
    cur.execute("""
        INSERT INTO text_embeddings (text_hash, model, vector)
        SELECT DISTINCT ON (text_hash) text_hash, ?, vector::FLOAT[] FROM new_embeddings n
        WHERE NOT EXISTS (SELECT 1 FROM text_embeddings e WHERE e.text_hash = n.text_hash AND e.model = ?)""",
                [model, model])
    return len(new_embeddings)
