"""What researchers read about a study: status for pay, the participants CSV for bulk approval, and
the frames other parts of the app filter with (excluded participants, check answers, fast labels).

For other modules (reports, exports, the review page, the quality table):
- `excluded_annotator_ids` / `excluded_participants`: whose labels to leave out by default (their
  labels already do not count toward k: see the labels_toward_k view, migration 81).
- Check and training answers are NOT label events (table study_check_answers), so no report or
  export sees them as labels; `check_answers` gives them for the quality table.
- `fast_labels`: participants' current labels faster than the project's `min_seconds` (marked,
  never hidden).
- `participant_ids`: the platform ids behind participants' opaque names, for an export that asks
  for them. Nothing else shows them.
"""
from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd

import storage
from storage.db import Connection
from storage import study as store
from annotate.clock import utc_now
from annotate.data.export_files import csv_bytes
from annotate.projects import Project
from annotate.study.links import link_state

CSV_COLUMNS = ["participant_id", "platform", "study_id", "session_id", "status", "completion_code",
               "code_issued_at", "started_at", "finished_at", "items_done", "attention_checks", "attention_failed",
               "training_items", "training_passed", "fast_labels", "median_seconds_per_item", "minutes_in_study",
               "is_excluded", "exclusion_reason", "annotator"]


def participants_table(conn: Connection, project: Project, now: datetime | None = None) -> pd.DataFrame:
    """One row per participant, for payment and approval (CSV_COLUMNS; platform ids included).

    items_done counts the main phase (labels plus attention checks); minutes_in_study runs from
    the first visit to the code (or the end, or now for those still active); session_id is
    Prolific's SESSION_ID or MTurk's assignmentId, study_id Prolific's STUDY_ID or MTurk's hitId.
    """
    now = now or utc_now()
    cur = storage.cursor(conn)
    frame = store.participants_frame(cur, project.id)
    fast = fast_labels(conn, project)
    fast_counts = fast.groupby("annotator_id").size() if not fast.empty else pd.Series(dtype=int)
    end = frame["finished_at"].where(frame["finished_at"].notna(), now) if len(frame) else frame["finished_at"]
    out = pd.DataFrame({
        "participant_id": frame["participant_id"], "platform": frame["platform"], "study_id": frame["study_id"],
        "session_id": frame["session_id"], "status": frame["status"], "completion_code": frame["completion_code"],
        "code_issued_at": frame["code_issued_at"], "started_at": frame["started_at"],
        "finished_at": frame["finished_at"],
        "items_done": (frame["labels"] + frame["attention_answers"]).astype(int),
        "attention_checks": frame["attention_answers"].astype(int),
        "attention_failed": frame["attention_failed"].astype(int),
        "training_items": frame["training_answers"].astype(int),
        "training_passed": frame["training_passed"].astype(int),
        "fast_labels": [int(fast_counts.get(a, 0)) for a in frame["annotator_id"]],
        "median_seconds_per_item": frame["median_seconds"].astype(float),
        "minutes_in_study": ((pd.to_datetime(end) - pd.to_datetime(frame["started_at"])).dt.total_seconds() / 60
                             if len(frame) else pd.Series(dtype=float)),
        "is_excluded": frame["excluded"].astype(bool), "exclusion_reason": frame["excluded_reason"],
        "annotator": frame["annotator"]})
    return out[CSV_COLUMNS]


def participants_csv_table(conn: Connection, project: Project) -> pd.DataFrame:
    """The participants table as the CSV for bulk approval has it: times as ISO 8601 UTC text,
    seconds and minutes to one decimal."""
    table = participants_table(conn, project)
    for column in ("code_issued_at", "started_at", "finished_at"):
        table[column] = [t.isoformat(sep=" ", timespec="seconds") if pd.notna(t) else "" for t in table[column]]
    return table.round({"median_seconds_per_item": 1, "minutes_in_study": 1})


def write_participants_csv(conn: Connection, project: Project, path: str | Path) -> int:
    """Write the participants CSV (UTF-8; a cell that a spreadsheet would run as a formula, e.g. a
    researcher's exclusion reason starting with '=', is escaped); return the row count."""
    table = participants_csv_table(conn, project)
    Path(path).write_bytes(csv_bytes(table))
    return len(table)


def study_status(conn: Connection, project: Project, now: datetime | None = None) -> dict:
    """A study's numbers: participants by status, codes issued, times for fair pay.

    Returns:
        {project, link_open, quota, max_participants, participants: {started, active, completed,
        failed_qualification, stopped_attention, excluded_by_researcher, excluded (the flag, any
        status)}, completion_codes_issued: {completion, qualification}, fast_labels,
        median_seconds_per_item (over participants' current labels), median_minutes_per_participant
        (first visit to completion code, over completed participants), median_minutes_all
        (first visit to code or end, every participant who ended), items_labeled}.
        Medians are None when there is nothing to take them over.
    """
    table = participants_table(conn, project, now)
    cur = storage.cursor(conn)
    statuses = table["status"].value_counts()
    times = store.participant_times(cur, project.id)["seconds"]
    ended = table[table["finished_at"].notna()]
    completed = table[table["status"] == "completed"]
    return {
        "project": project.name,
        "link_open": link_state(conn, project)["is_open"],
        "quota": project.config.study.quota,
        "max_participants": project.config.study.max_participants,
        "participants": {
            "started": int(len(table)),
            "active": int(statuses.get("active", 0)),
            "completed": int(statuses.get("completed", 0)),
            "failed_qualification": int(statuses.get("failed_qualification", 0)),
            "stopped_attention": int(statuses.get("stopped_attention", 0)),
            "excluded_by_researcher": int(statuses.get("excluded", 0)),
            "excluded": int(table["is_excluded"].sum())},
        "completion_codes_issued": {
            "completion": int(((table["status"] == "completed") & table["completion_code"].notna()).sum()),
            "qualification": int(((table["status"] == "failed_qualification")
                                  & table["completion_code"].notna()).sum())},
        "items_labeled": int(table["items_done"].sum() - table["attention_checks"].sum()),
        "fast_labels": int(table["fast_labels"].sum()),
        "min_seconds": project.config.study.min_seconds,
        "median_seconds_per_item": _median(times),
        "median_minutes_per_participant": _median(completed["minutes_in_study"]),
        "median_minutes_all": _median(ended["minutes_in_study"]),
    }


def _median(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return None
    median = float(values.median())
    return None if math.isnan(median) else round(median, 2)


def excluded_annotator_ids(conn: Connection, project: Project) -> list[int]:
    """Annotator ids of the participants whose labels are excluded (by default) from reports and exports."""
    return store.excluded_annotator_ids(storage.cursor(conn), project.id)


PARTICIPANT_COLUMNS = ["annotator_id", "annotator", "participant_id", "platform", "status", "is_excluded",
                       "exclusion_reason", "excluded_at", "excluded_by"]


def participants_frame(conn: Connection, project: Project) -> pd.DataFrame:
    """Every participant of the project (PARTICIPANT_COLUMNS): the opaque annotator name beside the
    platform id, status and the exclusion (reason, time, the researcher who decided; excluded_by is
    None when the study itself stopped them)."""
    frame = store.participants_frame(storage.cursor(conn), project.id)
    frame = frame.rename(columns={"excluded_reason": "exclusion_reason", "excluded": "is_excluded"})
    frame["is_excluded"] = frame["is_excluded"].astype(bool)
    return frame[PARTICIPANT_COLUMNS].reset_index(drop=True)


def excluded_participants(conn: Connection, project: Project) -> pd.DataFrame:
    """The excluded rows of `participants_frame`."""
    frame = participants_frame(conn, project)
    return frame[frame["is_excluded"]].reset_index(drop=True)


def check_answers(conn: Connection, project: Project) -> pd.DataFrame:
    """Every answer to a check or training item: answer_id, annotator_id, annotator, item_id,
    external_id, kind ('attention' | 'training'), presented_order, answer, expected (JSON text,
    canonical), passed, seconds, created_at, excluded."""
    frame = store.check_answers(storage.cursor(conn), project.id)
    return frame.rename(columns={"purpose": "kind"})


def fast_labels(conn: Connection, project: Project) -> pd.DataFrame:
    """Participants' current labels faster than the study's `min_seconds` (none when it is 0):
    event_id, annotator_id, annotator, item_id, external_id, seconds."""
    return store.fast_labels(storage.cursor(conn), project.id, project.config.study.min_seconds)


def participant_ids(conn: Connection, project: Project) -> pd.DataFrame:
    """annotator_id, annotator (the opaque name), participant_id, platform: for an export that asks."""
    return store.participant_ids(storage.cursor(conn), project.id)
