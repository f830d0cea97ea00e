"""Participants of a crowd study: entering through the study link, sessions, consent, exclusion.

A participant is an annotators row of kind 'participant', role 'annotator' (so the app shows them
only the labeling pages), with an opaque name ("participant-7-12": project 7, twelfth to enter).
The platform's id (PROLIFIC_PID, MTurk workerId or a generic pid) is kept only in
study_participants, unique per project: the same id always comes back to the same annotator (and
continues where it left), and one id cannot take two places. Names, not platform ids, are what
every page, report and export shows; `annotate.study.reports.participant_ids` maps them back for the
researchers' payment CSV.

"Find the id, count places, then insert" runs in one write transaction under the study's entry
lock: a thread lock in this process (DuckDB serves every session from one process) and, on
PostgreSQL, an advisory lock in that transaction too, so the cap stays exact and one id gets one
participant however many app servers admit people at once.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import storage
from storage.db import Connection
from storage import locks, sessions as session_store, study as store
from annotate.clock import utc_now
from annotate.errors import NotFoundError
from annotate.labeling import queue as labeling_queue
from annotate.labeling.annotators import hash_token
from annotate.labeling.auth import SESSION_TTL, resume_session
from annotate.projects import Project, get_project
from annotate.study.errors import ParticipantIdError, StudyError, StudyFullError, StudyLinkError
from annotate.study.links import CLOSED_MESSAGE, LINK_PARAM, is_revoked, project_for_link

# The URL parameters each platform sends: (participant id, study / HIT, session / assignment).
PLATFORM_PARAMS = {"prolific": ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
                   "mturk": ("workerId", "hitId", "assignmentId"),
                   "generic": ("pid", None, None)}
ID_PATTERN = re.compile(r"[A-Za-z0-9._@:-]{1,128}")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
STATUSES = ("active", "completed", "failed_qualification", "stopped_attention", "excluded")
CONSENT, INSTRUCTIONS = "consent", "instructions"
_ENTER_LOCK = threading.Lock()
_LOCKS = [threading.RLock() for _ in range(64)]


def participant_lock(annotator_id: int) -> threading.RLock:
    """The lock that serializes one participant's study actions (striped by annotator id)."""
    return _LOCKS[int(annotator_id) % len(_LOCKS)]


@dataclass(frozen=True)
class Participant:
    """A participant's state, as the study pages need it (no platform id: researchers only)."""
    annotator_id: int
    name: str
    project_name: str
    status: str
    needs_consent: bool
    needs_instructions: bool
    completion_code: str | None
    redirect_url: str | None
    is_excluded: bool
    is_new: bool = False

    @property
    def is_active(self) -> bool:
        """Whether the study still serves this participant items."""
        return self.status == "active"

    @property
    def message(self) -> str | None:
        """The polite text for a participant the study no longer serves (None while active)."""
        return END_MESSAGES.get(self.status, "").format(code=self.completion_code or "") or None


END_MESSAGES = {
    "completed": "Thank you! You have finished the study. Your completion code is {code}.",
    "failed_qualification": ("Thank you for doing the practice items. Your answers did not reach the score this "
                             "study needs, so the study ends here for you; you will be paid for the practice "
                             "part with the completion code {code}."),
    "stopped_attention": ("Thank you for your time. Several of your answers did not match items whose answer is "
                          "known, so this study has ended for you. Please return your submission on the "
                          "platform; contact the researchers if you think this is a mistake."),
    "excluded": ("Thank you for your time. The researchers have ended this study for you. Please contact them "
                 "through the platform if you have questions."),
}


def platform_ids(params: Mapping[str, object]) -> dict:
    """The participant's platform and ids from the URL's query parameters.

    Returns:
        {platform, participant_id, study_id, session_id} (study_id: Prolific STUDY_ID or MTurk
        hitId; session_id: Prolific SESSION_ID or MTurk assignmentId).

    Raises:
        ParticipantIdError: no participant id, an unfilled placeholder, an MTurk preview, or an
            id with characters no platform uses.
    """
    def value(name: str | None) -> str | None:
        raw = params.get(name) if name else None
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        return str(raw).strip() if raw not in (None, "") else None

    for platform, (id_name, study_name, session_name) in PLATFORM_PARAMS.items():
        participant_id = value(id_name)
        if participant_id is None:
            continue
        if "{" in participant_id or "%" in participant_id:
            raise ParticipantIdError("The study link was opened without your participant id (the platform did not "
                                     "fill it in). Please open the study from its page on the platform.")
        if not ID_PATTERN.fullmatch(participant_id):
            raise ParticipantIdError("The participant id in this link is not one a study platform uses. Please open "
                                     "the study from its page on the platform.")
        session = value(session_name)
        if platform == "mturk" and session == MTURK_PREVIEW:
            raise ParticipantIdError("This is a preview of the task. Please accept the HIT first, then start.")
        return {"platform": platform, "participant_id": participant_id, "study_id": value(study_name),
                "session_id": session}
    raise ParticipantIdError("This study link needs your participant id. Please open the study from its page on "
                             "Prolific or Mechanical Turk (the platform adds your id to the link).")


def enter(conn: Connection, project: Project | None, link_secret: str, params: Mapping[str, object],
          now: datetime | None = None) -> Participant:
    """Let a participant in through the study link: their annotator, created on the first visit.

    Args:
        project: the project the caller expects, or None to take the link's project.
        params: the URL's query parameters (PROLIFIC_PID / STUDY_ID / SESSION_ID, workerId /
            assignmentId / hitId, or pid); `study` (the secret) may be among them.

    Returns:
        The participant; `is_new` says whether this visit created them. The same id always
        returns the same annotator, whatever its status (a finished participant sees their code).

    Raises:
        StudyLinkError: unknown link (or one of another project), or a revoked one for a new id
            (participants who entered before the link was closed come back to finish).
        ParticipantIdError: see `platform_ids`.
        StudyFullError: a new participant when every place is taken.
    """
    now = now or utc_now()
    link_project, link_id = project_for_link(conn, link_secret, allow_revoked=True)
    if project is not None and project.id != link_project.id:
        raise StudyLinkError("This study link belongs to another study. Please open the study again from the "
                             "platform's study page.")
    ids = platform_ids(params)
    with _ENTER_LOCK:
        row = store.get_participant(storage.cursor(conn), project_id=link_project.id,
                                    participant_id=ids["participant_id"])
        if row is None and is_revoked(conn, link_id):
            raise StudyLinkError(CLOSED_MESSAGE)
        annotator_id, is_new = storage.write(conn, lambda c: _admit(c, link_project, link_id, ids, now))
    person = participant_of(conn, annotator_id)
    return dataclasses.replace(person, is_new=True) if is_new else person


def _admit(cur, project: Project, link_id: int, ids: dict, now: datetime) -> tuple[int, bool]:
    """In one write transaction, under the study's entry lock (held across app servers on
    PostgreSQL): the id's participant if it has one (seen now), else a new one if a place is free.
    Returns (annotator id, whether it is new)."""
    locks.hold_until_commit(cur, locks.STUDY_ENTRY_LOCK, project.id)
    row = store.get_participant(cur, project_id=project.id, participant_id=ids["participant_id"])
    if row is not None:
        store.update_participant(cur, row["annotator_id"], {"last_seen_at": now})
        return row["annotator_id"], False
    cap = project.config.study.max_participants
    if cap is not None and store.count_places(cur, project.id) >= cap:
        raise StudyFullError(f"This study is full: all {cap} places are taken. Thank you for your interest; "
                             f"please return the study on the platform.")
    fields = {**ids, "project_id": project.id, "link_id": link_id, "status": "active", "started_at": now,
              "last_seen_at": now, "excluded": False}
    return store.insert_participant(cur, _new_name(cur, project.id), fields), True


def _new_name(cur, project_id: int) -> str:
    """An opaque, unused annotator name for the project's next participant."""
    number = store.count_participants(cur, project_id) + 1
    while store.is_name_taken(cur, f"participant-{project_id}-{number}"):
        number += 1
    return f"participant-{project_id}-{number}"


def enter_from_params(conn: Connection, params: Mapping[str, object], now: datetime | None = None) -> Participant:
    """`enter` with the link's secret taken from the `study` parameter (what the entry page has)."""
    secret = params.get(LINK_PARAM)
    if isinstance(secret, (list, tuple)):
        secret = secret[-1] if secret else None
    return enter(conn, None, str(secret or ""), params, now)


def start_session(conn: Connection, participant: Participant, client: str, now: datetime | None = None) -> dict:
    """Log the participant in: a new session like annotate.labeling.auth.login's.

    Returns:
        The user dict of auth.resume_session (id, name, role 'annotator', ...) with SESSION_KEY, so
        the app's cookie, resume and check_session work unchanged for participants.
    """
    now = now or utc_now()
    key = secrets.token_urlsafe(32)

    def start(cur) -> None:
        session_store.delete_expired(cur, now)
        session_store.insert_session(cur, hash_token(key), participant.annotator_id, now, now + SESSION_TTL, client)

    storage.write(conn, start)
    return resume_session(conn, key, now)


def participant_of(conn: Connection, annotator_id: int) -> Participant | None:
    """The participant with this annotator id and their state, or None for anyone else."""
    cur = storage.cursor(conn)
    row = store.get_participant(cur, annotator_id=int(annotator_id))
    if row is None:
        return None
    project = _project(conn, row["project_id"])
    settings = project.config.study
    name = store.annotator_name(cur, annotator_id)
    return Participant(int(annotator_id), name, project.name, row["status"],
                       needs_consent=bool(settings.consent_text) and row["consented_at"] is None,
                       needs_instructions=bool(settings.instructions_text) and row["instructions_at"] is None,
                       completion_code=row["completion_code"], redirect_url=row["redirect_url"],
                       is_excluded=bool(row["excluded"]))


def _project(conn: Connection, project_id: int) -> Project:
    return get_project(conn, store.project_name(storage.cursor(conn), project_id))


def acknowledge(conn: Connection, annotator_id: int, what: str, now: datetime | None = None) -> Participant:
    """Record the participant's consent ('consent') or acknowledgment of the instructions
    ('instructions') with its time; the first one stays (a repeat changes nothing).

    Raises:
        StudyError: `what` is neither, or consent is still missing for the instructions.
        NotFoundError: not a participant.
    """
    now = now or utc_now()
    if what not in (CONSENT, INSTRUCTIONS):
        raise StudyError(f"Unknown acknowledgment '{what}' (expected '{CONSENT}' or '{INSTRUCTIONS}')")
    with participant_lock(annotator_id):
        participant = require(conn, annotator_id)
        if what == INSTRUCTIONS and participant.needs_consent:
            raise StudyError("Please read and accept the consent form first.")
        column = "consented_at" if what == CONSENT else "instructions_at"
        row = store.get_participant(storage.cursor(conn), annotator_id=annotator_id)
        if row[column] is None:
            storage.write(conn, lambda c: store.update_participant(c, annotator_id, {column: now}))
    return participant_of(conn, annotator_id)


def require(conn: Connection, annotator_id: int) -> Participant:
    """The participant, or NotFoundError (an account is not a study participant)."""
    participant = participant_of(conn, annotator_id)
    if participant is None:
        raise NotFoundError(f"Annotator {annotator_id} is not a study participant")
    return participant


def find_participant(conn: Connection, project: Project, who: str) -> dict:
    """A participant of the project by their name (participant-P-N) or platform id (researchers).

    Raises:
        NotFoundError: no such participant in the project.
    """
    cur = storage.cursor(conn)
    row = store.get_participant(cur, project_id=project.id, participant_id=who)
    if row is None:
        found = store.participant_by_name(cur, who)
        row = store.get_participant(cur, annotator_id=found) if found is not None else None
    if row is None or row["project_id"] != project.id:
        raise NotFoundError(f"No participant '{who}' in project '{project.name}' (give the name shown on the "
                            f"researcher pages, e.g. participant-{project.id}-1, or the platform's id)")
    return row


def set_excluded(conn: Connection, project: Project, annotator_id: int, is_excluded: bool, reason: str | None = None,
                 by: str | None = None, now: datetime | None = None) -> None:
    """Exclude a participant's labels from k, reports and exports (with a reason and who decided,
    `by`: a researcher's name), or include them again (the reason and name are cleared).

    Excluding an active participant also stops serving them (status 'excluded'); including them
    again puts such a participant back to 'active'. A participant stopped for failed attention
    checks stays stopped (only their labels come back). The queue is rebuilt, since the items of
    excluded labels are open again for others.

    Raises:
        NotFoundError: not a participant of the project.
        StudyError: excluding without a reason.
    """
    now = now or utc_now()
    if is_excluded and not (reason or "").strip():
        raise StudyError("Excluding a participant needs a reason (kept with the exclusion)")
    with participant_lock(annotator_id):
        row = store.get_participant(storage.cursor(conn), annotator_id=annotator_id)
        if row is None or row["project_id"] != project.id:
            raise NotFoundError(f"No participant {annotator_id} in project '{project.name}'")
        changes: dict = {"excluded": is_excluded, "excluded_reason": reason.strip() if is_excluded else None,
                         "excluded_at": now if is_excluded else None, "excluded_by": by if is_excluded else None}
        if is_excluded and row["status"] == "active":
            changes |= {"status": "excluded", "finished_at": now}
        elif not is_excluded and row["status"] == "excluded":
            changes |= {"status": "active", "finished_at": None}
        storage.write(conn, lambda c: store.update_participant(c, annotator_id, changes))
    labeling_queue.forget_queue(conn, project.id)
