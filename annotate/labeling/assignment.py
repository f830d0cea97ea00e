"""Which item an annotator labels next, and the actions of the labeling screens.

An annotator is served the eligible item with the highest routing priority, then the fewest
completed labels (see storage/assignment.py for the exact rule). Serving an item takes a short
lease on it so that concurrent annotators do not over-fill k (project config `overlap`): other
annotators' unexpired leases count toward k, and an expired lease frees the item again.

DuckDB allows one read-write process per file, so every annotator's session runs in this process;
one lock serializes "choose + lease" and "check + record", which makes the k limit exact without
relying on write-conflict detection between inserts (DuckDB does not detect those), and guards the
in-memory queue (annotate/labeling/queue.py) that makes choosing fast. On PostgreSQL several app
servers share the database, so each write runs in one transaction holding the ITEM's advisory lock
(`_with_item_lock`): "check + record" re-checks the item's count toward k, and "choose + lease"
takes the queue's choice only after the database confirms it is below k (else the next candidate).
Every change to an item's count happens under its lock, so k stays exact across servers while
different items are written in parallel; each server's queue catches up on the others' events.

The pages show responses in a presented order ('AB' or 'BA') fixed per (annotator, item) by a hash,
so a rerun shows the same order; values arrive as chosen on screen and are stored canonically.
Nothing returned here names a model: the screens are blind.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, TypeVar

import pandas as pd

import storage
from storage.db import Connection, Cursor
from storage import assignment as store, items as item_store, labels as label_store, routing as routing_store
from annotate.clock import utc_now
from annotate.errors import LabelError, NotFoundError
from annotate.labeling.labels import canonical_values, edit_label, record_flag, record_label, record_skip
from annotate.projects import Project
from annotate.labeling.queue import cached_queue, get_queue

DEFAULT_LEASE_SECONDS = 600
HISTORY_LIMIT = 20
_LOCK = threading.Lock()
_RERANKING = threading.Lock()
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Assignment:
    """An item as one annotator sees it: responses in presented order, no model names."""
    item_id: int
    external_id: str
    prompt: str
    context: str | None
    reference: str | None
    responses: list[str]
    presented_order: str | None
    shown_at: datetime
    event_id: int | None = None
    previous: dict = field(default_factory=dict)


def presented_order(annotator_id: int, item_id: int) -> str:
    """'AB' or 'BA' for this (annotator, item), stable across reruns and sessions (a hash bit)."""
    digest = hashlib.sha256(f"{annotator_id}:{item_id}".encode()).digest()
    return "AB" if digest[0] % 2 == 0 else "BA"


def next_item(conn: Connection, project: Project, annotator_id: int, *,
              lease_seconds: float = DEFAULT_LEASE_SECONDS, now: datetime | None = None,
              exclude: frozenset[int] = frozenset()) -> Assignment | None:
    """Return the annotator's current item (renewing its lease) or lease the next one; None if done.

    `exclude`: item ids never to serve (a study's check items, served apart by annotate.study.flow).

    The queue (read outside any transaction) proposes; the database decides under the item's lock.
    A candidate that another server filled meanwhile is set aside and the next one tried: at most
    once per item, so the loop ends."""
    clock = _clock(now)

    def renew(item_id: int) -> Callable[[Cursor], datetime | None]:
        def run(cur: Cursor) -> datetime | None:
            moment = clock()
            lease = store.get_lease(cur, annotator_id, item_id)
            if lease is None or lease["expires_at"] <= moment:
                return None  # expired meanwhile: the item may be someone else's now
            storage.write(conn, lambda c: store.extend_lease(c, annotator_id, item_id,
                                                             moment + timedelta(seconds=lease_seconds)))
            return lease["shown_at"]
        return run

    def lease(item_id: int) -> Callable[[Cursor], datetime | None]:
        def run(cur: Cursor) -> datetime | None:
            moment = clock()
            # DuckDB: one process whose queue is exact under _LOCK, so the queue's word is final there
            if storage.db.is_postgres(cur) and \
                    store.completed_count(cur, item_id, annotator_id, moment) >= project.config.overlap:
                return None
            storage.write(conn, lambda c: store.replace_lease(c, project.id, annotator_id, item_id, moment,
                                                              moment + timedelta(seconds=lease_seconds)))
            return moment
        return run

    with _LOCK:
        cur = storage.cursor(conn)
        queue = get_queue(conn, cur, project.id)
        current = store.active_lease(cur, project.id, annotator_id, clock())
        if current is not None and not queue.has_seen(annotator_id, current["item_id"]) \
                and current["item_id"] not in exclude:
            shown_at = _with_item_lock(conn, current["item_id"], renew(current["item_id"]))
            if shown_at is not None:
                return _chosen(conn, project, annotator_id, current["item_id"], shown_at)
        full: set[int] = set()
        while True:
            leases = store.others_leases(cur, project.id, annotator_id, clock())
            item_id = queue.best(queue.open_mask(annotator_id, leases, project.config.overlap)
                                 & queue.outside(exclude | full))
            if item_id is None:
                return None
            shown_at = _with_item_lock(conn, item_id, lease(item_id))
            if shown_at is not None:
                return _chosen(conn, project, annotator_id, item_id, shown_at)
            full.add(item_id)
            queue = get_queue(conn, cur, project.id)  # catches up on what filled the candidate


def _chosen(conn: Connection, project: Project, annotator_id: int, item_id: int,
            shown_at: datetime) -> Assignment:
    return _assignment(storage.cursor(conn), project, annotator_id, item_id, shown_at)


def _clock(now: datetime | None) -> Callable[[], datetime]:
    """The time to check leases against: `now` when the caller fixed it (tests), else the time read
    once the item's lock is held, so that a wait for the lock cannot make an expired lease look
    valid (another server may have leased the item at the later time)."""
    return (lambda: now) if now is not None else utc_now


def _with_item_lock(conn: Connection, item_id: int, fn: Callable[[Cursor], T]) -> T:
    """Run `fn(cur)` with the item to itself; the caller holds `_LOCK`.

    DuckDB: one process, so `_LOCK` suffices and `fn`'s writes commit one by one, as before.
    PostgreSQL: several app servers share the database, so `fn` runs in one transaction that first
    takes the item's advisory lock (storage.assignment.lock_item): the k check and the lease or
    label commit before another server's check can see the item. Writes that insert a label
    then take the annotator's lock (item before annotator, always; deadlocks are retried anyway).
    Mark the in-memory queue only after this returns (committed): a mark for a rolled-back write
    would let the queue's fingerprint match a store it does not hold.
    """
    if not storage.db.is_postgres(conn):
        return fn(storage.cursor(conn))

    def locked(cur: Cursor) -> T:
        store.lock_item(cur, item_id)
        return fn(cur)
    return storage.write(conn, locked)


def _assignment(cur: Cursor, project: Project, annotator_id: int, item_id: int,
                shown_at: datetime, order: str | None = None) -> Assignment:
    """The item as this annotator sees it: in `order`, else in their hashed order (pairwise)."""
    item = item_store.get_item(cur, item_id)
    if item is None or item["project_id"] != project.id:
        raise NotFoundError(f"No item {item_id} in project '{project.name}'")
    texts = [r["text"] for r in item["responses"]]
    if project.task_type == "pairwise":
        order = order or presented_order(annotator_id, item_id)
        texts = texts if order == "AB" else texts[::-1]
    return Assignment(item_id, item["external_id"], item["prompt"], item["context"], item["reference"],
                      texts, order, shown_at)


def submit_label(conn: Connection, project: Project, annotator_id: int, item_id: int,
                 values: Mapping, *, both_bad: bool = False, justification: str | None = None,
                 confidence: int | None = None, now: datetime | None = None) -> int:
    """Record the annotator's label on the item they were served.

    Args:
        values: as chosen on screen. Pairwise: {aspect: value} with negative = left response
            better; rubric: {response_idx: {criterion: score}}.

    Returns:
        The new label event's id. `seconds` is the time since the item was first shown.

    Raises:
        LabelError: the lease expired and meanwhile the item got its k labels, or the label is
            invalid (see annotate.labeling.labels.record_label).
    """
    clock = _clock(now)
    order = presented_order(annotator_id, item_id) if project.task_type == "pairwise" else None
    canonical = canonical_values(values, order) if order else values

    def check_and_record(cur: Cursor) -> int:
        now = clock()
        lease = store.get_lease(cur, annotator_id, item_id)
        if (lease is None or lease["expires_at"] <= now) and \
                store.completed_count(cur, item_id, annotator_id, now) >= project.config.overlap:
            raise LabelError(f"Item {item_id} of project '{project.name}' got its {project.config.overlap} "
                             f"labels while your lease had expired; please take the next item")
        seconds = (now - lease["shown_at"]).total_seconds() if lease else None
        return record_label(conn, project, annotator_id, item_id, canonical, presented_order=order,
                            both_bad=both_bad, justification=justification, confidence=confidence,
                            seconds=seconds)

    with _LOCK:
        event_id = _with_item_lock(conn, item_id, check_and_record)
        _mark(conn, project, annotator_id, item_id, "label", event_id)
    _rerank_in_background(conn, project)
    return event_id


def _rerank_in_background(conn: Connection, project: Project) -> None:
    """Let the router re-rank pending items if enough new labels arrived (online mode).

    A re-rank refits the router (seconds on a large project), so it runs in a thread and never
    delays the annotator's next item; at most one runs at a time, and a label arriving meanwhile
    is counted by the next check.
    """
    if routing_store.latest_routing_run(storage.cursor(conn), project.id) is None:
        return  # never routed: nothing to re-rank, and no thread left running
    if not _RERANKING.acquire(blocking=False):
        return

    def run() -> None:
        from annotate.router.routing import rerank_if_due  # the ML stack loads only for routed projects
        try:
            rerank_if_due(conn, project.name)
        except Exception:  # a failed re-rank must not lose the label; the next submit retries
            log.exception("Re-ranking project '%s' failed", project.name)
        finally:
            _RERANKING.release()

    threading.Thread(target=run, name="rerank", daemon=True).start()


def _mark(conn: Connection, project: Project, annotator_id: int, item_id: int, kind: str, event_id: int) -> None:
    """Tell the in-memory queue about our own event (its lease is replaced on the next item)."""
    queue = cached_queue(conn, project.id)
    if queue is not None:
        queue.mark(annotator_id, item_id, kind, event_id)


def skip_item(conn: Connection, project: Project, annotator_id: int, item_id: int,
              reason: str, now: datetime | None = None) -> int:
    """Skip the item with a reason; it leaves this annotator's queue."""
    now = now or utc_now()

    def skip(cur: Cursor) -> int:
        lease = store.get_lease(cur, annotator_id, item_id)
        seconds = (now - lease["shown_at"]).total_seconds() if lease else None
        return record_skip(conn, project, annotator_id, item_id, reason, seconds=seconds)

    with _LOCK:
        event_id = _with_item_lock(conn, item_id, skip)
        _mark(conn, project, annotator_id, item_id, "skip", event_id)
    return event_id


def flag_item(conn: Connection, project: Project, annotator_id: int, item_id: int,
              comment: str) -> int:
    """Flag the item for the researchers; it stays on screen to be labeled or skipped."""
    with _LOCK:
        event_id = _with_item_lock(conn, item_id,
                                   lambda cur: record_flag(conn, project, annotator_id, item_id, comment))
        _mark(conn, project, annotator_id, item_id, "other", event_id)
    return event_id


def load_for_edit(conn: Connection, project: Project, annotator_id: int,
                  event_id: int) -> Assignment:
    """The item of one of the annotator's current labels, with that label's values as presented."""
    cur = storage.cursor(conn)
    event = label_store.get_event(cur, event_id)
    if event is None or event["annotator_id"] != annotator_id or event["project_id"] != project.id \
            or event["kind"] != "label" \
            or label_store.label_context(cur, annotator_id, event["item_id"])["current_event_id"] != event_id:
        raise NotFoundError(f"No current label {event_id} of yours in project '{project.name}'")
    assignment = _assignment(cur, project, annotator_id, event["item_id"], utc_now(), event["presented_order"])
    assignment.event_id = event_id
    assignment.previous = {"values": presented_values(project, event["values"], assignment.presented_order),
                           "both_bad": event["both_bad"], "justification": event["justification"],
                           "confidence": event["confidence"]}
    return assignment


def presented_values(project: Project, rows: list, order: str | None) -> dict:
    """Stored canonical rows [(aspect, response_idx, value)] as the annotator chose them on screen."""
    if project.task_type == "pairwise":
        canonical = {aspect: int(value) for aspect, _, value in rows}
        return canonical_values(canonical, order) if order else canonical
    scores: dict[int, dict[str, int]] = {}
    for aspect, idx, value in rows:
        scores.setdefault(int(idx), {})[aspect] = int(value)
    return scores


def edit_from_history(conn: Connection, project: Project, annotator_id: int, event_id: int,
                      values: Mapping, *, seconds: float | None = None, both_bad: bool = False,
                      justification: str | None = None, confidence: int | None = None) -> int:
    """Replace one of the annotator's labels (values as on screen); the old event stays.

    The screen showed the item in the label's stored order, or (for a label imported without one)
    in the annotator's hashed order, exactly as load_for_edit laid it out; the new event records it.
    """
    event = label_store.get_event(storage.cursor(conn), event_id)
    if event is None:
        raise NotFoundError(f"No label event {event_id} by this annotator")
    order = None
    if project.task_type == "pairwise":
        order = event["presented_order"] or presented_order(annotator_id, event["item_id"])
    canonical = canonical_values(values, order) if order else values
    with _LOCK:
        new_id = _with_item_lock(conn, event["item_id"], lambda cur: edit_label(
            conn, project, annotator_id, event_id, canonical, seconds=seconds, presented_order=order,
            both_bad=both_bad, justification=justification, confidence=confidence))
        _mark(conn, project, annotator_id, event["item_id"], "other", new_id)
    return new_id


def progress(conn: Connection, project: Project, annotator_id: int,
             now: datetime | None = None) -> dict:
    """{done, assigned, today}: assigned = done + items this annotator could still be served."""
    now = now or utc_now()
    cur = storage.cursor(conn)
    counts = store.progress_counts(cur, project.id, annotator_id, now.replace(hour=0, minute=0, second=0,
                                                                              microsecond=0))
    with _LOCK:
        queue = get_queue(conn, cur, project.id)
        leases = store.others_leases(cur, project.id, annotator_id, now)
        remaining = int(queue.open_mask(annotator_id, leases, project.config.overlap).sum())
    return {**counts, "assigned": counts["done"] + remaining}


def history(conn: Connection, project: Project, annotator_id: int,
            limit: int = HISTORY_LIMIT) -> pd.DataFrame:
    """The annotator's recent current labels, newest first: event_id, ordinal (the item's number
    in their history, shown instead of the dataset's id, which can name models), prompt, label (a
    readable summary as it was chosen on screen), created_at."""
    frame = store.label_history(storage.cursor(conn), project.id, annotator_id, limit)
    frame["label"] = [describe_label(project, [(v["aspect"], v["response_idx"], v["value"]) for v in rows],
                                     order if isinstance(order, str) else None)
                      for rows, order in zip(frame["label_values"], frame["presented_order"])]
    return frame[["event_id", "ordinal", "prompt", "label", "created_at"]]


def describe_label(project: Project, rows: list, order: str | None) -> str:
    """A one-line summary of a label as shown on screen, e.g. 'overall: A is much better'."""
    values = presented_values(project, rows, order)
    if project.task_type == "pairwise":
        names = {p.value: p.label for p in project.config.scale}
        return "; ".join(f"{aspect}: {names.get(v, v)}" for aspect, v in values.items())
    return "; ".join(f"response {idx + 1}: " + ", ".join(f"{c} {s}" for c, s in scores.items())
                     for idx, scores in sorted(values.items()))


def annotator_progress(conn: Connection, now: datetime | None = None) -> pd.DataFrame:
    """Per annotator and project: labels, today, skips, flags, median_seconds, last_event_at."""
    now = now or utc_now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return store.annotator_progress(storage.cursor(conn), day_start)
