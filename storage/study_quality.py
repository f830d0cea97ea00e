"""Read-only queries for the quality control of crowd studies (annotate.study.quality, exclusion).

Portable SQL (DuckDB and PostgreSQL): plain joins on the view current_label_events, no
DuckDB-only functions.
"""
from __future__ import annotations

import pandas as pd

from storage.db import Cursor


def label_times(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every current label event of a project with its time: event_id, item_id, annotator_id,
    annotator (annotators.name), kind (annotators.kind), source, presented_order, seconds (NULL
    where no time was recorded, e.g. imported labels)."""
    return cur.execute("""
        SELECT e.id AS event_id, e.item_id, e.annotator_id, a.name AS annotator,
               coalesce(a.kind, 'account') AS kind, e.source, e.presented_order, e.seconds
        FROM current_label_events e JOIN annotators a ON a.id = e.annotator_id
        WHERE e.project_id = ? ORDER BY e.item_id, e.id""", [int(project_id)]).df()


def study_version(cur: Cursor, project_id: int) -> tuple:
    """Counts that change when a project's participants, exclusions or check answers do:
    participants, excluded participants, the sum of their ids, check answers."""
    return tuple(cur.execute("""
        SELECT (SELECT count(*) FROM study_participants WHERE project_id = $p),
               (SELECT count(*) FROM study_participants WHERE project_id = $p AND excluded),
               (SELECT coalesce(sum(annotator_id), 0) FROM study_participants WHERE project_id = $p AND excluded),
               (SELECT count(*) FROM study_check_answers WHERE project_id = $p)""", {"p": int(project_id)}).fetchone())
