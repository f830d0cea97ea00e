"""A participant's way through a study: training, then real items with attention checks, then the code.

1. Consent and instructions (when the project's study settings have text for them) must be
   acknowledged first (annotate.study.participants.acknowledge).
2. Training: the first K training items (study setting `training_items`, in the order they were
   marked). Each submit returns feedback: whether the answer was right, the expected answer as the
   participant's screen shows it, and the researcher's explanation. After the K-th, a participant
   who got fewer than `training_pass` (a share) right ends with the qualification code.
3. The main phase: `quota` positions. A position is an attention check (see `is_attention_slot`)
   or a real item from the project's queue (annotate.labeling.assignment.next_item, which keeps k
   exact under concurrency with its lease and lock; check items are never served there). Attention
   checks look exactly like real items: same Assignment, same hashed A/B order, nothing marks them.
   A participant who fails more than `max_attention_failures` checks is stopped (and, with
   `exclude_stopped`, their labels are excluded: out of k, reports and exports).
4. When the quota is done (or the queue has nothing left for someone who did at least one item),
   the participant gets the completion code and the redirect URL, recorded with the time.

Answers to check and training items are stored in study_check_answers, never as label events, so
they never count toward k and never appear as labels of those items in reports. Labels faster
than `min_seconds` are recorded as given and counted (annotate.study.reports.fast_labels).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import storage
from storage.db import Connection
from storage import items as item_store, study as store
from annotate.clock import utc_now
from annotate.errors import LabelError, NotFoundError
from annotate.labeling import assignment
from annotate.labeling import queue as labeling_queue
from annotate.labeling.assignment import Assignment, presented_order
from annotate.labeling.labels import _check_justification, _validate_values, canonical_values
from annotate.projects import Project
from annotate.study import checks
from annotate.study.errors import StudyError
from annotate.study.participants import Participant, participant_lock, participant_of
from annotate.study.settings import StudySettings


@dataclass(frozen=True)
class StudyItem:
    """The item to show a participant. `is_training` items are practice (the page may say so);
    attention checks are NOT marked: they are real-looking items of the main phase."""
    assignment: Assignment
    is_training: bool
    number: int  # 1-based position within its phase
    of: int      # the phase's length: K training items, or the quota


@dataclass(frozen=True)
class Feedback:
    """What a participant sees after submitting a training item."""
    is_correct: bool
    expected: str            # the expected answer in words, as the screen showed the item
    expected_values: dict    # the expected answer as the screen's controls take it (presented terms)
    explanation: str         # the researcher's explanation ('' when there is none)


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of a participant's submit: the label event (real items only), the feedback
    (training items only) and the participant's state afterwards (ended: code, message)."""
    event_id: int | None
    feedback: Feedback | None
    participant: Participant


def is_attention_slot(settings: StudySettings, annotator_id: int, position: int) -> bool:
    """Whether main-phase position `position` (0-based) is an attention check for this participant.

    With `attention_positions`, exactly those (1-based) positions. Otherwise, after the first
    `attention_first_after` positions, the rest is cut into blocks of b = round(1 / attention_rate)
    positions and one position per block, drawn by a hash of (participant, block), is a check: the
    rate holds for everyone while the checks' places differ between participants and cannot be
    guessed from the position.
    """
    if settings.attention_positions:
        return position + 1 in settings.attention_positions
    if settings.attention_rate <= 0 or position < settings.attention_first_after:
        return False
    size = max(1, round(1 / settings.attention_rate))
    block, offset = divmod(position - settings.attention_first_after, size)
    return offset == _hash(f"{annotator_id}:block:{block}") % size


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def next_study_item(conn: Connection, project: Project, annotator_id: int, *, now: datetime | None = None) -> StudyItem | None:
    """The participant's item now: the one on their screen, else the next one of their phase.

    Returns:
        None when the study serves them nothing more: it ended (participant_of gives the code or
        the message), or the queue has nothing for someone who has not labeled anything yet.

    Raises:
        StudyError: consent or instructions are not yet acknowledged.
        NotFoundError: not a participant of this project.
    """
    now = now or utc_now()
    with participant_lock(annotator_id):
        row = _active_row(conn, project, annotator_id)
        if row is None:
            return None
        cur = storage.cursor(conn)
        settings = project.config.study
        answered = store.answered_check_items(cur, annotator_id)
        marked = _CheckItems.read(conn, project)
        current = row["current_item_id"]
        if current is not None and row["current_purpose"] in checks.PURPOSES and current not in answered:
            return _check_item(conn, project, annotator_id, row, answered, marked, current, row["current_shown_at"])
        training = marked.training
        pending = [i for i in training if i not in answered]
        if pending:
            _set_current(conn, annotator_id, pending[0], "training", now)
            return StudyItem(_assignment(cur, project, annotator_id, pending[0], now), True,
                             len(training) - len(pending) + 1, len(training))
        position = store.main_phase_count(cur, project.id, annotator_id)
        if position >= settings.quota:
            _finish(conn, project, annotator_id, "completed", now)
            return None
        if is_attention_slot(settings, annotator_id, position):
            item_id = _attention_item(marked, annotator_id, answered)
            if item_id is not None:
                _set_current(conn, annotator_id, item_id, "attention", now)
                return StudyItem(_assignment(cur, project, annotator_id, item_id, now), False, position + 1,
                                 settings.quota)
        served = assignment.next_item(conn, project, annotator_id, now=now,
                                      exclude=marked.all)
        if served is None:
            if position > 0:
                _finish(conn, project, annotator_id, "completed", now)
            return None
        if row["current_item_id"] != served.item_id or row["current_purpose"] != "real":
            _set_current(conn, annotator_id, served.item_id, "real", now)
        return StudyItem(served, False, position + 1, settings.quota)


@dataclass(frozen=True)
class _CheckItems:
    """The project's check items as serving needs them (one cheap read per call)."""
    training: list[int]      # the first K training items, in the order they were marked
    attention: list[int]
    all: frozenset[int]      # every check item (never served as a real item)

    @classmethod
    def read(cls, conn: Connection, project: Project) -> "_CheckItems":
        rows = store.check_item_list(storage.cursor(conn), project.id)
        training = [i for i, purpose in rows if purpose == "training"][:project.config.study.training_items]
        return cls(training, [i for i, purpose in rows if purpose == "attention"], frozenset(i for i, _ in rows))


def _check_item(conn: Connection, project, annotator_id, row, answered, marked: _CheckItems, item_id, shown_at) -> StudyItem:
    """The check or training item already on the participant's screen (a reload shows it again)."""
    cur = storage.cursor(conn)
    if row["current_purpose"] == "training":
        done = sum(1 for i in marked.training if i in answered)
        return StudyItem(_assignment(cur, project, annotator_id, item_id, shown_at), True, done + 1,
                         len(marked.training))
    position = store.main_phase_count(cur, project.id, annotator_id)
    return StudyItem(_assignment(cur, project, annotator_id, item_id, shown_at), False, position + 1,
                     project.config.study.quota)


def _active_row(conn: Connection, project: Project, annotator_id: int) -> dict | None:
    """The participant's row if the study still serves them; refuse before consent/instructions.

    Raises:
        NotFoundError: not a participant; StudyError: of another project, or acknowledgments missing.
    """
    row = store.get_participant(storage.cursor(conn), annotator_id=annotator_id)
    if row is None:
        raise NotFoundError(f"Annotator {annotator_id} is not a study participant")
    if row["project_id"] != project.id:
        raise StudyError(f"You take part in another study, not '{project.name}'.")
    if row["status"] != "active":
        return None
    settings = project.config.study
    if (settings.consent_text and row["consented_at"] is None) or \
            (settings.instructions_text and row["instructions_at"] is None):
        raise StudyError("Please read and accept the consent form and the instructions before the first item.")
    return row


def _attention_item(marked: _CheckItems, annotator_id: int, answered: dict[int, str]) -> int | None:
    """An attention item this participant has not answered, in an order drawn per participant."""
    left = [i for i in marked.attention if i not in answered]
    return min(left, key=lambda i: _hash(f"{annotator_id}:check:{i}")) if left else None


def _assignment(cur, project: Project, annotator_id: int, item_id: int, shown_at: datetime) -> Assignment:
    """A check or training item laid out exactly like a real one (same hashed A/B order)."""
    item = item_store.get_item(cur, item_id)
    texts = [r["text"] for r in item["responses"]]
    order = None
    if project.task_type == "pairwise":
        order = presented_order(annotator_id, item_id)
        texts = texts if order == "AB" else texts[::-1]
    return Assignment(item_id, item["external_id"], item["prompt"], item["context"], item["reference"], texts,
                      order, shown_at)


def _set_current(conn: Connection, annotator_id: int, item_id: int, purpose: str, now: datetime) -> None:
    changes = {"current_item_id": item_id, "current_purpose": purpose, "current_shown_at": now}
    storage.write(conn, lambda c: store.update_participant(c, annotator_id, changes))


def submit(conn: Connection, project: Project, annotator_id: int, item_id: int, values: Mapping, *, both_bad: bool = False,
           justification: str | None = None, confidence: int | None = None,
           now: datetime | None = None) -> SubmitResult:
    """Record a participant's answer to the item on their screen (values as chosen on screen).

    A real item becomes a label event through annotate.labeling.assignment.submit_label (k stays
    exact); a check or training item becomes a check answer, scored against the expected answer.
    Afterwards the participant may end: quota done (completion code), training under the pass
    mark (qualification code), or too many failed attention checks (stopped).

    Returns:
        SubmitResult: event_id for a real item, feedback for a training item, the new state.

    Raises:
        LabelError: invalid values, or an item that is not on the participant's screen.
        StudyError: the study no longer serves them, or consent/instructions are missing.
    """
    now = now or utc_now()
    with participant_lock(annotator_id):
        row = _active_row(conn, project, annotator_id)
        if row is None:
            raise StudyError(participant_of(conn, annotator_id).message or "This study has ended for you.")
        check = store.get_check_item(storage.cursor(conn), item_id)
        if check is not None and check["project_id"] == project.id:
            return _submit_check(conn, project, annotator_id, row, check, values, justification, now)
        if row["current_purpose"] != "real" or row["current_item_id"] != int(item_id):
            raise LabelError("This item is no longer on your screen; please take the next item.")
        event_id = assignment.submit_label(conn, project, annotator_id, item_id, values, both_bad=both_bad,
                                           justification=justification, confidence=confidence, now=now)
        storage.write(conn, lambda c: store.update_participant(c, annotator_id, {"current_item_id": None,
                                                                                   "current_purpose": None}))
        _after_main_item(conn, project, annotator_id, now)
    return SubmitResult(event_id, None, participant_of(conn, annotator_id))


def _submit_check(conn: Connection, project: Project, annotator_id: int, row: dict, check: dict, values: Mapping,
                  justification: str | None, now: datetime) -> SubmitResult:
    """Score and store an answer to the check or training item on the participant's screen."""
    item_id, purpose = check["item_id"], check["purpose"]
    if row["current_item_id"] != item_id or row["current_purpose"] != purpose:
        raise LabelError("This item is no longer on your screen; please take the next item.")
    order = presented_order(annotator_id, item_id) if project.task_type == "pairwise" else None
    answer = canonical_values(values, order) if order else {int(k): v for k, v in values.items()}
    n_responses = len(item_store.get_item(storage.cursor(conn), item_id)["responses"])
    _validate_values(project, n_responses, answer)  # the one rule of a valid label (annotate.labeling.labels)
    _check_justification(project, justification)
    passed = checks.is_correct(project, check["expected"], answer)
    seconds = (now - row["current_shown_at"]).total_seconds() if row["current_shown_at"] else None
    answer_row = {"project_id": project.id, "annotator_id": annotator_id, "item_id": item_id, "purpose": purpose,
                  "presented_order": order, "answer": {str(k): v for k, v in answer.items()}, "passed": passed,
                  "seconds": seconds, "created_at": now}

    def write(c) -> None:
        store.insert_check_answer(c, answer_row)
        store.update_participant(c, annotator_id, {"current_item_id": None, "current_purpose": None})

    storage.write(conn, write)
    feedback = None
    if purpose == "training":
        feedback = Feedback(passed, checks.describe_expected(project, check["expected"], order),
                            checks.expected_as_presented(project, check["expected"], order),
                            check["explanation"] or "")
        _after_training_item(conn, project, annotator_id, now)
    else:
        _after_attention_check(conn, project, annotator_id, now)
    return SubmitResult(None, feedback, participant_of(conn, annotator_id))


def _after_training_item(conn: Connection, project: Project, annotator_id: int, now: datetime) -> None:
    """After the last training item: end the study for a participant under the pass mark."""
    settings = project.config.study
    training = _CheckItems.read(conn, project).training
    counts = store.check_counts(storage.cursor(conn), annotator_id)
    if not training or counts["training"] < len(training):
        return
    if not passes_training(counts["training_passed"], len(training), settings.training_pass):
        _finish(conn, project, annotator_id, "failed_qualification", now)


def passes_training(passed: int, total: int, pass_mark: float) -> bool:
    """Whether `passed` right of `total` training items reaches the pass mark (a share 0..1).

    The Study page takes the mark in whole percent, so a share within half a percent below it
    passes: 2 of 3 (66.7%) reaches a mark of 0.67 ("67%"), which a plain `2 / 3 >= 0.67` would
    fail. Strictly within, so that a mark of 1.0 still needs every item right (199 of 200 fail).
    """
    return total > 0 and passed / total > pass_mark - 0.005


def _after_attention_check(conn: Connection, project: Project, annotator_id: int, now: datetime) -> None:
    """Stop a participant with more failed checks than allowed; else end them if the quota is done."""
    settings = project.config.study
    counts = store.check_counts(storage.cursor(conn), annotator_id)
    limit = settings.max_attention_failures
    if limit is not None and counts["attention_failed"] > limit:
        _finish(conn, project, annotator_id, "stopped_attention", now,
                reason=f"failed {counts['attention_failed']} of {counts['attention']} attention checks "
                       f"(more than {limit} allowed)" if settings.exclude_stopped else None)
        return
    _after_main_item(conn, project, annotator_id, now)


def _after_main_item(conn: Connection, project: Project, annotator_id: int, now: datetime) -> None:
    if store.main_phase_count(storage.cursor(conn), project.id, annotator_id) >= project.config.study.quota:
        _finish(conn, project, annotator_id, "completed", now)


def _finish(conn: Connection, project: Project, annotator_id: int, status: str, now: datetime, reason: str | None = None) -> None:
    """End the participant's study: completion or qualification code with the redirect, or a stop
    (with `reason`: their labels are excluded, and the queue rebuilt so their items reopen)."""
    settings = project.config.study
    changes: dict = {"status": status, "finished_at": now, "current_item_id": None, "current_purpose": None}
    code = {"completed": settings.completion_code, "failed_qualification": settings.qualification_code}.get(status)
    if code:
        changes |= {"completion_code": code, "code_issued_at": now,
                    "redirect_url": settings.redirect_url.replace("{code}", code) or None}
    if reason:
        changes |= {"excluded": True, "excluded_reason": reason, "excluded_at": now}
    storage.write(conn, lambda c: store.update_participant(c, annotator_id, changes))
    if reason:
        labeling_queue.forget_queue(conn, project.id)
