"""Assignment queries: the queue's inputs, leases, progress, history (login failures: storage.sessions).

Eligibility (shared with the router): an item is eligible for human labels when its project has no
routing_decisions rows at all, or the item's latest row (highest id) has route 'human'. Among
eligible items an annotator is served those they have not labeled (current or superseded) or
skipped, whose completed current labels plus other annotators' unexpired leases are below k;
ordered by routing priority (absent = 0) descending, then fewest completed labels, then item id.
`queue_items` and `seen_pairs` give annotate/labeling/queue.py what it needs to apply that rule in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from storage.db import Connection, Cursor, is_postgres

ITEM_LOCK = 7243_1005  # first key of pg_advisory_xact_lock(key, item_id): one item's k count
CATCH_UP_WINDOW = 64  # event ids below the latest one read again when catching up (see queue_changes)


def lock_item(cur: Cursor, item_id: int) -> None:
    """PostgreSQL: hold the item's lock until this transaction ends, so that "check the item's count
    toward k, then lease or label it" runs one at a time per item across every app server (k
    exact) while other items proceed in parallel. Take it before the annotator's lock
    (storage.labels.lock_annotator), never after, so that two transactions cannot deadlock. DuckDB
    has one process per file, where annotate.labeling.assignment's in-process lock does the same."""
    if is_postgres(cur):
        cur.execute("SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))", [ITEM_LOCK, int(item_id)])


def queue_items(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every item of a project with what assignment orders and filters by, in item id order.

    Columns: item_id, priority (latest routing row's, absent = 0), is_eligible (no routing rows in
    the project, or the latest row routes the item to 'human'), n_done (current labels).
    """
    return cur.execute("""
        WITH routed AS (
            SELECT item_id, route, priority FROM (
                SELECT item_id, route, priority, row_number() OVER (PARTITION BY item_id ORDER BY id DESC) AS nth
                FROM routing_decisions WHERE project_id = $p) latest
            WHERE nth = 1),
        done AS (
            SELECT item_id, n FROM labels_toward_k WHERE project_id = $p)
        SELECT i.id AS item_id, coalesce(r.priority, 0)::DOUBLE PRECISION AS priority,
               ((SELECT count(*) FROM routed) = 0 OR coalesce(r.route = 'human', false)) AS is_eligible,
               coalesce(d.n, 0)::INTEGER AS n_done
        FROM items i LEFT JOIN routed r ON r.item_id = i.id LEFT JOIN done d ON d.item_id = i.id
        WHERE i.project_id = $p ORDER BY i.id""", {"p": project_id}).df()


def seen_pairs(cur: Cursor, project_id: int) -> pd.DataFrame:
    """(annotator_id, item_id) pairs where the annotator labeled (current or superseded) or skipped."""
    return cur.execute("""SELECT DISTINCT annotator_id, item_id FROM label_events
                          WHERE project_id = ? AND kind IN ('label', 'skip')""", [project_id]).df()


_FINGERPRINT = """
    SELECT (SELECT count(*) FROM label_events WHERE project_id = $p) + (SELECT count(*) FROM review_actions WHERE project_id = $p) AS n_events,
           (SELECT count(*) FROM items WHERE project_id = $p) AS n_items,
           count(*) AS n_routing, max(id) AS last_routing,
           (SELECT coalesce(max(id), 0) FROM label_events WHERE project_id = $p) AS last_event
    FROM routing_decisions WHERE project_id = $p"""


def queue_fingerprint(cur: Cursor, project_id: int) -> tuple:
    """Counts that change whenever queue_items or seen_pairs would (events are append-only):
    (label events of any kind plus review actions, items, routing rows, latest routing id, latest
    label event id), read in one statement (one snapshot on PostgreSQL)."""
    return tuple(cur.execute(_FINGERPRINT, {"p": project_id}).fetchone())


def queue_changes(cur: Cursor, project_id: int, after_id: int) -> tuple[tuple, list[tuple]]:
    """The fingerprint and the project's label events with an id above `after_id` (in id order:
    id, annotator_id, item_id, kind, supersedes, source), read in ONE statement, so that on
    PostgreSQL both come from one snapshot: every event the fingerprint counts is in the list.

    Event ids are handed out when a transaction inserts, not when it commits, so with several
    app servers writing at once an event can become visible after one with a higher id; callers
    therefore read again from CATCH_UP_WINDOW ids below the latest id they have seen and skip the
    events they already hold (annotate.labeling.queue)."""
    rows = cur.execute(f"""
        WITH f AS ({_FINGERPRINT})
        SELECT f.n_events, f.n_items, f.n_routing, f.last_routing, f.last_event,
               e.id, e.annotator_id, e.item_id, e.kind, e.supersedes, e.source
        FROM f LEFT JOIN label_events e ON e.project_id = $p AND e.id > $after
        ORDER BY e.id""", {"p": project_id, "after": after_id}).fetchall()
    return tuple(rows[0][:5]), [tuple(row[5:]) for row in rows if row[5] is not None]


def queue_snapshot(conn: Connection, cur: Cursor, project_id: int) -> QueueSnapshot:
    """What the in-memory queue is built from, all from one snapshot where the engine allows it.

    PostgreSQL: a REPEATABLE READ, read-only transaction on a connection of its own (`cur` may be
    inside another transaction), so that other app servers' writes during the build are either
    wholly in it or wholly after it. DuckDB: the statements run one by one on `cur`; a write landing
    in between shows up as `exact` = False (the fingerprint read before and after differ).
    """
    if not is_postgres(cur):
        return _snapshot(cur, project_id)
    from storage.pg import PgCursor
    with conn.pool.connection() as pg_conn:
        snap_cur = PgCursor(conn)
        snap_cur.bound = pg_conn
        with pg_conn.transaction():
            snap_cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _snapshot(snap_cur, project_id)


@dataclass
class QueueSnapshot:
    """queue_items and seen_pairs with the fingerprint they match; `recent_ids`: the ids of the
    project's events within CATCH_UP_WINDOW of the latest one (those a catch-up reads again)."""
    fingerprint: tuple
    items: pd.DataFrame
    seen: pd.DataFrame
    recent_ids: set[int]
    exact: bool


def _snapshot(cur: Cursor, project_id: int) -> QueueSnapshot:
    fingerprint = queue_fingerprint(cur, project_id)
    items, seen = queue_items(cur, project_id), seen_pairs(cur, project_id)
    recent = cur.execute("SELECT id FROM label_events WHERE project_id = ? AND id > ?",
                         [project_id, fingerprint[4] - CATCH_UP_WINDOW]).fetchall()
    return QueueSnapshot(fingerprint, items, seen, {int(r[0]) for r in recent},
                         queue_fingerprint(cur, project_id) == fingerprint)


def others_leases(cur: Cursor, project_id: int, annotator_id: int,
                  now: datetime) -> list[tuple[int, int]]:
    """(annotator_id, item_id) of other annotators' unexpired leases in the project."""
    return cur.execute("""SELECT annotator_id, item_id FROM leases
                          WHERE project_id = ? AND annotator_id <> ? AND expires_at > ?""",
                       [project_id, annotator_id, now]).fetchall()


def completed_count(cur: Cursor, item_id: int, annotator_id: int, now: datetime) -> int:
    """Current labels of an item plus unexpired leases on it held by others who have not yet
    labeled or skipped it."""
    return int(cur.execute("""
        SELECT (SELECT coalesce(max(n), 0) FROM labels_toward_k WHERE item_id = $i)
             + (SELECT count(*) FROM leases l WHERE l.item_id = $i AND l.annotator_id <> $a
                  AND l.expires_at > $now
                  AND NOT EXISTS (SELECT 1 FROM label_events e WHERE e.item_id = $i
                                  AND e.annotator_id = l.annotator_id AND e.kind IN ('label', 'skip')))
        """, {"i": item_id, "a": annotator_id, "now": now}).fetchone()[0])


def active_lease(cur: Cursor, project_id: int, annotator_id: int,
                 now: datetime) -> dict | None:
    """The annotator's unexpired lease in the project: {item_id, shown_at, expires_at}, or None."""
    row = cur.execute("""
        SELECT item_id, shown_at, expires_at FROM leases
        WHERE project_id = ? AND annotator_id = ? AND expires_at > ?
        ORDER BY shown_at DESC LIMIT 1""", [project_id, annotator_id, now]).fetchone()
    return dict(zip(["item_id", "shown_at", "expires_at"], row)) if row else None


def get_lease(cur: Cursor, annotator_id: int, item_id: int) -> dict | None:
    """The annotator's lease on an item, expired or not: {shown_at, expires_at}, or None."""
    row = cur.execute("SELECT shown_at, expires_at FROM leases WHERE annotator_id = ? AND item_id = ?",
                      [annotator_id, item_id]).fetchone()
    return dict(zip(["shown_at", "expires_at"], row)) if row else None


def replace_lease(cur: Cursor, project_id: int, annotator_id: int, item_id: int,
                  shown_at: datetime, expires_at: datetime) -> None:
    """Make this the annotator's only lease in the project."""
    cur.execute("DELETE FROM leases WHERE project_id = ? AND annotator_id = ?", [project_id, annotator_id])
    cur.execute("INSERT INTO leases VALUES (?, ?, ?, ?, ?)",
                [project_id, item_id, annotator_id, shown_at, expires_at])


def extend_lease(cur: Cursor, annotator_id: int, item_id: int, expires_at: datetime) -> None:
    """Push back the expiry of the annotator's lease on an item (it is still on their screen)."""
    cur.execute("UPDATE leases SET expires_at = ? WHERE annotator_id = ? AND item_id = ?",
                [expires_at, annotator_id, item_id])


def progress_counts(cur: Cursor, project_id: int, annotator_id: int,
                    day_start: datetime) -> dict:
    """The annotator's current labels in a project: {done, today}."""
    row = cur.execute("""
        SELECT count(*), count(*) FILTER (WHERE e.created_at >= ?)
        FROM current_label_events e WHERE e.project_id = ? AND e.annotator_id = ?""",
                      [day_start, project_id, annotator_id]).fetchone()
    return {"done": int(row[0]), "today": int(row[1])}


def label_history(cur: Cursor, project_id: int, annotator_id: int, limit: int) -> pd.DataFrame:
    """The annotator's current labels, newest first.

    Columns: event_id, item_id, ordinal (see history_ordinal), external_id, prompt, presented_order,
    both_bad, justification, confidence, created_at, label_values (list of {aspect, response_idx,
    value}, canonical).
    """
    return cur.execute(f"""
        WITH ordinals AS ({_ORDINALS})
        SELECT e.id AS event_id, e.item_id, o.ordinal, i.external_id, i.prompt, e.presented_order,
               e.both_bad, e.justification, e.confidence, e.created_at, e.values_list AS label_values
        FROM current_label_events e JOIN items i ON i.id = e.item_id JOIN ordinals o ON o.item_id = e.item_id
        WHERE e.project_id = $p AND e.annotator_id = $a
        ORDER BY e.id DESC LIMIT $limit""", {"p": project_id, "a": annotator_id, "limit": limit}).df()


# The annotator's labeled items numbered by their first label (1 = the first): the ordinal that
# annotators see instead of the dataset's ids (which can name models). Stable across edits.
_ORDINALS = """SELECT item_id, row_number() OVER (ORDER BY min(id)) AS ordinal FROM label_events
               WHERE project_id = $p AND annotator_id = $a AND kind = 'label' GROUP BY item_id"""


def history_ordinal(cur: Cursor, project_id: int, annotator_id: int, item_id: int) -> int | None:
    """The item's number in the annotator's labels of the project (1 = first labeled), or None."""
    row = cur.execute(f"WITH ordinals AS ({_ORDINALS}) SELECT ordinal FROM ordinals WHERE item_id = $i",
                      {"p": project_id, "a": annotator_id, "i": item_id}).fetchone()
    return int(row[0]) if row else None


def annotator_progress(cur: Cursor, day_start: datetime) -> pd.DataFrame:
    """Per annotator and project: labels (current), today, skips, flags, median seconds, last label.

    Annotators without any event appear once with project NULL and zero counts.
    """
    return cur.execute("""
        SELECT a.name AS annotator, a.role, a.is_active, p.name AS project,
               count(e.id) FILTER (WHERE c.id IS NOT NULL) AS labels,
               count(e.id) FILTER (WHERE c.id IS NOT NULL AND e.created_at >= ?) AS today,
               count(e.id) FILTER (WHERE e.kind = 'skip') AS skips,
               count(e.id) FILTER (WHERE e.kind = 'flag') AS flags,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY e.seconds) FILTER (WHERE e.kind = 'label') AS median_seconds,
               max(e.created_at) AS last_event_at
        FROM annotators a
        LEFT JOIN label_events e ON e.annotator_id = a.id AND e.source = 'app'
        LEFT JOIN current_label_events c ON c.id = e.id
        LEFT JOIN projects p ON p.id = e.project_id
        GROUP BY a.name, a.role, a.is_active, p.name ORDER BY a.name, p.name""", [day_start]).df()
