"""Crowd studies: study links, participants, check items and participants' check answers.

- `study_links`: one open link per project at a time (the app refuses a second); only the SHA-256
  of the link's secret is stored. Revoking sets `revoked_at`; the row stays for the record.
- `study_participants`: one row per participant, keyed by their annotators row (kind
  'participant'); `participant_id` is the platform's id (PROLIFIC_PID, MTurk workerId or a generic
  pid), unique per project, so one id cannot take two places and the same id comes back to the
  same annotator. `status` is 'active', 'completed', 'failed_qualification', 'stopped_attention'
  or 'excluded' (a researcher stopped them); `excluded` (with reason and time, reversible) keeps
  their labels out of k, reports and exports. `current_*` is the check or training item on their
  screen (real items are held by a lease, see storage/assignment.py).
- `study_check_items`: items with a known answer, for attention checks or training; `expected`
  is the canonical label as JSON (pairwise {aspect: signed value}; rubric {response_idx:
  {criterion: score}}).
- `study_check_answers`: a participant's answers to check and training items. They are not label
  events, so they never count toward k and never reach reports or exports as labels.

All SQL is portable between DuckDB and PostgreSQL (see /work/notes/common.md): JSON is written as
text cast `?::JSON` and read back as text with CAST(... AS TEXT).
"""
from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from storage.db import Cursor, is_postgres

PARTICIPANT_COLUMNS = ["annotator_id", "project_id", "participant_id", "platform", "study_id", "session_id",
                       "assignment_id", "hit_id", "link_id", "status", "started_at", "last_seen_at",
                       "consented_at", "instructions_at", "finished_at", "completion_code", "code_issued_at",
                       "redirect_url", "excluded", "excluded_reason", "excluded_at", "excluded_by",
                       "current_item_id", "current_purpose", "current_shown_at"]
PLACE_TAKING = ("active", "completed", "failed_qualification")


# Links -------------------------------------------------------------------------------------------

def open_link_of(cur: Cursor, project_id: int) -> dict | None:
    """The project's unrevoked link: {id, created_at}, or None."""
    row = cur.execute("""SELECT id, created_at FROM study_links
                         WHERE project_id = ? AND revoked_at IS NULL ORDER BY id DESC LIMIT 1""",
                      [project_id]).fetchone()
    return {"id": int(row[0]), "created_at": row[1]} if row else None


def insert_link(cur: Cursor, project_id: int, secret_hash: str, now: datetime) -> int:
    """Record a new link (its secret's hash) and return its id."""
    row = cur.execute("""INSERT INTO study_links (project_id, secret_hash, created_at) VALUES (?, ?, ?)
                         RETURNING id""", [project_id, secret_hash, now]).fetchone()
    return int(row[0])


def revoke_links(cur: Cursor, project_id: int, now: datetime) -> int:
    """Revoke every open link of the project; return how many were open."""
    rows = cur.execute("""UPDATE study_links SET revoked_at = ? WHERE project_id = ? AND revoked_at IS NULL
                          RETURNING id""", [now, project_id]).fetchall()
    return len(rows)


def link_by_hash(cur: Cursor, secret_hash: str) -> dict | None:
    """The link with this secret hash: {id, project_id, revoked_at}, or None."""
    row = cur.execute("SELECT id, project_id, revoked_at FROM study_links WHERE secret_hash = ?",
                      [secret_hash]).fetchone()
    return dict(zip(["id", "project_id", "revoked_at"], row)) if row else None


def link_revoked(cur: Cursor, link_id: int) -> bool:
    """Whether the link was revoked (True for an unknown id)."""
    row = cur.execute("SELECT revoked_at FROM study_links WHERE id = ?", [int(link_id)]).fetchone()
    return row is None or row[0] is not None


# Participants ------------------------------------------------------------------------------------

def get_participant(cur: Cursor, *, annotator_id: int | None = None, project_id: int | None = None,
                    participant_id: str | None = None) -> dict | None:
    """A participant by annotator id, or by (project_id, participant_id); None if there is none."""
    if annotator_id is not None:
        where, params = "annotator_id = ?", [int(annotator_id)]
    else:
        where, params = "project_id = ? AND participant_id = ?", [int(project_id), participant_id]
    row = cur.execute(f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM study_participants WHERE {where}",
                      params).fetchone()
    return dict(zip(PARTICIPANT_COLUMNS, row)) if row else None


def count_places(cur: Cursor, project_id: int) -> int:
    """Participants who hold a place in the study (active, completed, or ended after training)."""
    return int(cur.execute("SELECT count(*) FROM study_participants WHERE project_id = ? AND status = ANY(?)",
                           [project_id, list(PLACE_TAKING)]).fetchone()[0])


def count_participants(cur: Cursor, project_id: int) -> int:
    """Every participant the project ever had (numbers the next participant's name)."""
    return int(cur.execute("SELECT count(*) FROM study_participants WHERE project_id = ?",
                           [project_id]).fetchone()[0])


def insert_participant(cur: Cursor, name: str, fields: dict) -> int:
    """Create the participant's annotators row (kind 'participant', no token) and study row; return the id."""
    annotator_id = int(cur.execute("""INSERT INTO annotators (name, role, token_hash, is_active, kind)
                                      VALUES (?, 'annotator', NULL, true, 'participant') RETURNING id""",
                                   [name]).fetchone()[0])
    row = {**fields, "annotator_id": annotator_id}
    names = [c for c in PARTICIPANT_COLUMNS if c in row]
    cur.execute(f"INSERT INTO study_participants ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                [row[c] for c in names])
    return annotator_id


_UPDATABLE = {"last_seen_at", "consented_at", "instructions_at", "status", "finished_at", "completion_code",
              "code_issued_at", "redirect_url", "excluded", "excluded_reason", "excluded_at", "excluded_by",
              "current_item_id",
              "current_purpose", "current_shown_at", "session_id", "assignment_id"}


def update_participant(cur: Cursor, annotator_id: int, changes: dict) -> None:
    """Set the given columns of a participant's row (names from a fixed list)."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return
    names = sorted(changes)
    cur.execute(f"UPDATE study_participants SET {', '.join(f'{n} = ?' for n in names)} WHERE annotator_id = ?",
                [changes[n] for n in names] + [int(annotator_id)])


def participants_frame(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every participant of a project with their counts, oldest first.

    Columns: PARTICIPANT_COLUMNS, annotator (the opaque name), labels (items labeled: label events
    of the participant in the project, distinct items), attention_answers, attention_failed,
    training_answers, training_passed, median_seconds (of their current labels), first_label_at,
    last_label_at.
    """
    return cur.execute(f"""
        WITH labels AS (
            SELECT annotator_id, count(DISTINCT item_id) AS labels,
                   min(created_at) AS first_label_at, max(created_at) AS last_label_at
            FROM label_events WHERE project_id = $p AND kind = 'label' GROUP BY annotator_id),
        times AS (
            SELECT annotator_id,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_seconds
            FROM current_label_events WHERE project_id = $p AND seconds IS NOT NULL GROUP BY annotator_id),
        checks AS (
            SELECT annotator_id,
                   count(*) FILTER (WHERE purpose = 'attention') AS attention_answers,
                   count(*) FILTER (WHERE purpose = 'attention' AND NOT passed) AS attention_failed,
                   count(*) FILTER (WHERE purpose = 'training') AS training_answers,
                   count(*) FILTER (WHERE purpose = 'training' AND passed) AS training_passed
            FROM study_check_answers WHERE project_id = $p GROUP BY annotator_id)
        SELECT {', '.join('s.' + c for c in PARTICIPANT_COLUMNS)}, a.name AS annotator,
               coalesce(l.labels, 0) AS labels,
               coalesce(c.attention_answers, 0) AS attention_answers,
               coalesce(c.attention_failed, 0) AS attention_failed,
               coalesce(c.training_answers, 0) AS training_answers,
               coalesce(c.training_passed, 0) AS training_passed,
               t.median_seconds, l.first_label_at, l.last_label_at
        FROM study_participants s JOIN annotators a ON a.id = s.annotator_id
        LEFT JOIN labels l ON l.annotator_id = s.annotator_id
        LEFT JOIN times t ON t.annotator_id = s.annotator_id
        LEFT JOIN checks c ON c.annotator_id = s.annotator_id
        WHERE s.project_id = $p ORDER BY s.started_at, s.annotator_id""", {"p": project_id}).df()


def main_phase_count(cur: Cursor, project_id: int, annotator_id: int) -> int:
    """Items the participant finished after training: items labeled plus attention checks answered."""
    return int(cur.execute("""
        SELECT (SELECT count(DISTINCT item_id) FROM label_events
                WHERE project_id = $p AND annotator_id = $a AND kind = 'label')
             + (SELECT count(*) FROM study_check_answers
                WHERE project_id = $p AND annotator_id = $a AND purpose = 'attention')""",
                           {"p": project_id, "a": annotator_id}).fetchone()[0])


def label_seconds(cur: Cursor, event_id: int) -> float | None:
    """The seconds recorded with a label event."""
    row = cur.execute("SELECT seconds FROM label_events WHERE id = ?", [int(event_id)]).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def excluded_annotator_ids(cur: Cursor, project_id: int) -> list[int]:
    """Annotator ids of the project's excluded participants."""
    rows = cur.execute("""SELECT annotator_id FROM study_participants WHERE project_id = ? AND excluded
                          ORDER BY annotator_id""", [project_id]).fetchall()
    return [int(r[0]) for r in rows]


def participant_times(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Seconds per label of every participant's current labels: annotator_id, seconds."""
    return cur.execute("""
        SELECT e.annotator_id, e.seconds FROM current_label_events e
        JOIN study_participants s ON s.annotator_id = e.annotator_id
        WHERE e.project_id = ? AND e.seconds IS NOT NULL ORDER BY e.id""", [project_id]).df()


def fast_labels(cur: Cursor, project_id: int, min_seconds: float) -> pd.DataFrame:
    """Participants' current labels faster than `min_seconds`: event_id, annotator_id, annotator,
    item_id, external_id, seconds."""
    return cur.execute("""
        SELECT e.id AS event_id, e.annotator_id, a.name AS annotator, e.item_id, i.external_id, e.seconds
        FROM current_label_events e
        JOIN study_participants s ON s.annotator_id = e.annotator_id
        JOIN annotators a ON a.id = e.annotator_id JOIN items i ON i.id = e.item_id
        WHERE e.project_id = ? AND e.seconds IS NOT NULL AND e.seconds < ?
        ORDER BY e.id""", [project_id, float(min_seconds)]).df()


# Check items -------------------------------------------------------------------------------------

def upsert_check_items(cur: Cursor, rows: list[dict], now: datetime) -> int:
    """Mark items as check items (or change their purpose, answer, explanation); return how many.

    rows: {item_id, project_id, purpose, expected (dict), explanation, source}. On DuckDB the rows go
    in as one frame (its executemany runs one statement per row: ~1.7 s per 1,000 rows); a later row
    for the same item wins, as it does row by row on PostgreSQL."""
    values = [[r["item_id"], r["project_id"], r["purpose"], json.dumps(r["expected"]), r.get("explanation"),
               r["source"], now] for r in rows]
    upsert = """ON CONFLICT (item_id) DO UPDATE SET purpose = excluded.purpose, expected = excluded.expected,
            explanation = excluded.explanation, source = excluded.source"""
    if is_postgres(cur):
        cur.executemany(f"""
            INSERT INTO study_check_items (item_id, project_id, purpose, expected, explanation, source, created_at)
            VALUES (?, ?, ?, ?::JSON, ?, ?, ?) {upsert}""", values)
        return len(rows)
    new_checks = pd.DataFrame(values, columns=["item_id", "project_id", "purpose", "expected", "explanation",
                                               "source", "created_at"]).drop_duplicates("item_id", keep="last")
    new_checks["explanation"] = new_checks["explanation"].astype(object)
    cur.execute(f"""
        INSERT INTO study_check_items (item_id, project_id, purpose, expected, explanation, source, created_at)
        SELECT item_id, project_id, purpose, expected::JSON, explanation::VARCHAR, source, created_at::TIMESTAMP
        FROM new_checks {upsert}""")
    return len(rows)


def delete_check_items(cur: Cursor, project_id: int, item_ids: list[int]) -> int:
    """Unmark check items; return how many were marked."""
    rows = cur.execute("DELETE FROM study_check_items WHERE project_id = ? AND item_id = ANY(?) RETURNING item_id",
                       [project_id, [int(i) for i in item_ids]]).fetchall()
    return len(rows)


def check_items(cur: Cursor, project_id: int, purpose: str | None = None) -> pd.DataFrame:
    """The project's check items in the order they were marked: item_id, external_id, purpose,
    expected (JSON text), explanation, source, created_at."""
    return cur.execute("""
        SELECT c.item_id, i.external_id, c.purpose, CAST(c.expected AS TEXT) AS expected, c.explanation,
               c.source, c.created_at
        FROM study_check_items c JOIN items i ON i.id = c.item_id
        WHERE c.project_id = $p AND (CAST($purpose AS TEXT) IS NULL OR c.purpose = CAST($purpose AS TEXT))
        ORDER BY c.created_at, c.item_id""", {"p": project_id, "purpose": purpose}).df()


def get_check_item(cur: Cursor, item_id: int) -> dict | None:
    """One check item: {item_id, project_id, purpose, expected (dict), explanation}, or None."""
    row = cur.execute("""SELECT item_id, project_id, purpose, CAST(expected AS TEXT), explanation
                         FROM study_check_items WHERE item_id = ?""", [int(item_id)]).fetchone()
    if row is None:
        return None
    return {"item_id": int(row[0]), "project_id": int(row[1]), "purpose": row[2], "expected": json.loads(row[3]),
            "explanation": row[4]}


def gold_labels(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Current labels of the project's gold raters (annotators.kind 'gold'), one row per value:
    item_id, external_id, aspect, response_idx, value."""
    return cur.execute("""
        SELECT e.item_id, i.external_id, v.aspect, v.response_idx, v.value
        FROM current_label_events e JOIN annotators a ON a.id = e.annotator_id
        JOIN label_values v ON v.event_id = e.id JOIN items i ON i.id = e.item_id
        WHERE e.project_id = ? AND a.kind = 'gold'
        ORDER BY e.item_id, v.aspect, v.response_idx""", [project_id]).df()


# Check answers -----------------------------------------------------------------------------------

def insert_check_answer(cur: Cursor, row: dict) -> int:
    """Record one answer to a check or training item; return its id.

    row: project_id, annotator_id, item_id, purpose, presented_order, answer (dict), passed,
    seconds, created_at."""
    return int(cur.execute("""
        INSERT INTO study_check_answers (project_id, annotator_id, item_id, purpose, presented_order, answer,
                                         passed, seconds, created_at)
        VALUES (?, ?, ?, ?, ?, ?::JSON, ?, ?, ?) RETURNING id""",
                           [row["project_id"], row["annotator_id"], row["item_id"], row["purpose"],
                            row["presented_order"], json.dumps(row["answer"]), bool(row["passed"]),
                            row["seconds"], row["created_at"]]).fetchone()[0])


def answered_check_items(cur: Cursor, annotator_id: int) -> dict[int, str]:
    """{item_id: purpose} of the check and training items the participant answered."""
    rows = cur.execute("SELECT item_id, purpose FROM study_check_answers WHERE annotator_id = ?",
                       [int(annotator_id)]).fetchall()
    return {int(i): p for i, p in rows}


def check_counts(cur: Cursor, annotator_id: int) -> dict:
    """{training, training_passed, attention, attention_failed} answers of one participant."""
    row = cur.execute("""
        SELECT count(*) FILTER (WHERE purpose = 'training'),
               count(*) FILTER (WHERE purpose = 'training' AND passed),
               count(*) FILTER (WHERE purpose = 'attention'),
               count(*) FILTER (WHERE purpose = 'attention' AND NOT passed)
        FROM study_check_answers WHERE annotator_id = ?""", [int(annotator_id)]).fetchone()
    return dict(zip(["training", "training_passed", "attention", "attention_failed"], map(int, row)))


def check_answers(cur: Cursor, project_id: int) -> pd.DataFrame:
    """Every check and training answer of a project, oldest first: answer_id, annotator_id,
    annotator, item_id, external_id, purpose, presented_order, answer (JSON text), expected (JSON
    text), passed, seconds, created_at, excluded (the participant's flag)."""
    return cur.execute("""
        SELECT k.id AS answer_id, k.annotator_id, a.name AS annotator, k.item_id, i.external_id, k.purpose,
               k.presented_order, CAST(k.answer AS TEXT) AS answer, CAST(c.expected AS TEXT) AS expected,
               k.passed, k.seconds, k.created_at, coalesce(s.excluded, false) AS excluded
        FROM study_check_answers k JOIN annotators a ON a.id = k.annotator_id JOIN items i ON i.id = k.item_id
        LEFT JOIN study_check_items c ON c.item_id = k.item_id
        LEFT JOIN study_participants s ON s.annotator_id = k.annotator_id
        WHERE k.project_id = ? ORDER BY k.id""", [project_id]).df()


def project_name(cur: Cursor, project_id: int) -> str | None:
    """The name of the project with this id, or None."""
    row = cur.execute("SELECT name FROM projects WHERE id = ?", [int(project_id)]).fetchone()
    return row[0] if row else None


def participant_ids(cur: Cursor, project_id: int) -> pd.DataFrame:
    """The platform ids behind the project's participants' opaque names: annotator_id, annotator,
    participant_id, platform (for an export that asks for them; never shown otherwise)."""
    return cur.execute("""
        SELECT s.annotator_id, a.name AS annotator, s.participant_id, s.platform
        FROM study_participants s JOIN annotators a ON a.id = s.annotator_id
        WHERE s.project_id = ? ORDER BY s.annotator_id""", [project_id]).df()


def is_name_taken(cur: Cursor, name: str) -> bool:
    """Whether an annotator of any kind has this name."""
    return cur.execute("SELECT 1 FROM annotators WHERE name = ?", [name]).fetchone() is not None


def annotator_name(cur: Cursor, annotator_id: int) -> str | None:
    """The annotator's name (for a participant: the opaque name pages show)."""
    row = cur.execute("SELECT name FROM annotators WHERE id = ?", [int(annotator_id)]).fetchone()
    return row[0] if row else None


def participant_by_name(cur: Cursor, name: str) -> int | None:
    """The annotator id of the participant with this (opaque) name, or None."""
    row = cur.execute("SELECT id FROM annotators WHERE name = ? AND kind = 'participant'", [name]).fetchone()
    return int(row[0]) if row else None


def check_item_list(cur: Cursor, project_id: int) -> list[tuple[int, str]]:
    """(item_id, purpose) of the project's check items in marking order: the cheap read that serving
    a participant needs on every item."""
    rows = cur.execute("""SELECT item_id, purpose FROM study_check_items WHERE project_id = ?
                          ORDER BY created_at, item_id""", [project_id]).fetchall()
    return [(int(i), p) for i, p in rows]
