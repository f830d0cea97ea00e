"""An in-memory copy of a project's labeling queue, so that serving an item takes microseconds.

Counting every item's labels in SQL on each request costs ~50-100 ms at 300K labels; instead the
queue keeps, per project, arrays of item ids, priorities, eligibility and completed-label counts,
plus which items each annotator has seen, and applies the rule of storage/assignment.py with numpy.

Staying correct: label events are append-only, so a few counts (`queue_fingerprint`) change
whenever the queue's inputs do. Our own writes update the arrays and the expected fingerprint
together. When the fingerprints differ only by label events from the labeling screens (another
thread, or another app server on PostgreSQL), the queue reads those events (`events_since`) and
applies them as its own, and keeps them only if the fingerprints then agree; any other change (an
import, the router, a review action, an event it cannot place) rebuilds the queue from the store.
A rebuild costs ~0.3 s at 10K items and 20K labels on PostgreSQL; catching up costs one small query.
Callers hold annotate.labeling.assignment's lock, so there is one writer at a time (per process; on
PostgreSQL also the project's advisory lock, so another server's writes only ever show up as a
changed fingerprint).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from storage import assignment as store
from storage.db import Connection, Cursor

@dataclass
class Queue:
    """One project's queue: arrays aligned by position, item ids ascending."""
    fingerprint: tuple
    item_ids: np.ndarray
    priority: np.ndarray
    is_eligible: np.ndarray
    n_done: np.ndarray
    position: dict[int, int]
    seen: dict[int, np.ndarray] = field(default_factory=dict)
    is_exact: bool = True  # False: the store changed while it was built; rebuild instead of catching up
    own_event_ids: set[int] = field(default_factory=set)  # our events above the latest one read (marked)

    def open_mask(self, annotator_id: int, leases: list[tuple[int, int]], k: int) -> np.ndarray:
        """Items the annotator may be served: eligible, unseen, labels + others' leases < k.

        A lease whose holder has since labeled or skipped its item no longer counts (leases are
        replaced, not deleted, when their holder moves on)."""
        taken = self.n_done.copy()
        for holder, item_id in leases:
            position = self.position.get(item_id)
            if position is not None and not self.has_seen(holder, item_id):
                taken[position] += 1
        mask = self.is_eligible & (taken < k)
        if annotator_id in self.seen:
            mask &= ~self.seen[annotator_id]
        return mask

    def has_seen(self, annotator_id: int, item_id: int) -> bool:
        """Whether the annotator labeled or skipped the item."""
        seen = self.seen.get(annotator_id)
        return seen is not None and item_id in self.position and bool(seen[self.position[item_id]])

    def outside(self, item_ids: frozenset[int]) -> np.ndarray:
        """A mask of the items not in `item_ids` (all True when it is empty)."""
        if not item_ids:
            return np.ones(len(self.item_ids), dtype=bool)
        return ~np.isin(self.item_ids, np.fromiter(item_ids, dtype=np.int64, count=len(item_ids)))

    def best(self, mask: np.ndarray) -> int | None:
        """Highest priority, then fewest completed labels, then lowest item id, among `mask`."""
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return None
        priority = self.priority[candidates]
        candidates = candidates[priority == priority.max()]
        done = self.n_done[candidates]
        return int(self.item_ids[candidates[done == done.min()][0]])

    def mark(self, annotator_id: int, item_id: int, kind: str, event_id: int | None = None) -> None:
        """Account for one event of ours: 'label' (a first label), 'skip', or 'other' (flag, edit),
        with its id, so that catching up later does not count it again."""
        self._apply(annotator_id, item_id, kind)
        if event_id is not None and self.is_exact:
            self.own_event_ids.add(int(event_id))
            if len(self.own_event_ids) > MAX_OWN_EVENTS:  # never caught up for long: rebuild when stale
                self.is_exact, self.own_event_ids = False, set()

    def _apply(self, annotator_id: int, item_id: int, kind: str) -> None:
        if kind in ("label", "skip"):
            if annotator_id not in self.seen:
                self.seen[annotator_id] = np.zeros(len(self.item_ids), dtype=bool)
            self.seen[annotator_id][self.position[item_id]] = True
        if kind == "label":
            self.n_done[self.position[item_id]] += 1
        self.fingerprint = (self.fingerprint[0] + 1, *self.fingerprint[1:])

    def is_current(self, fingerprint: tuple) -> bool:
        """Whether the queue holds what the store's `fingerprint` says (the counts; its last item,
        the latest event id, only says where catching up starts)."""
        return self.fingerprint[:4] == fingerprint[:4]

    def catch_up(self, events: list[tuple], fingerprint: tuple) -> bool:
        """Apply label events written elsewhere (storage.assignment.events_since after the latest
        event id the queue read); True when the queue then matches `fingerprint`, False when it
        must be rebuilt instead (it may have been changed halfway)."""
        if not self.is_exact or self.fingerprint[1:4] != fingerprint[1:4]:
            return False
        others = [e for e in events if e[0] not in self.own_event_ids]
        if not others or any(source != "app" or item_id not in self.position for _, _, item_id, _, _, source in others):
            return False  # nothing new we can place, or imports and adjudications (other rules): rebuild
        for _, annotator_id, item_id, kind, supersedes, _ in others:
            first_label = kind == "label" and supersedes is None
            self._apply(int(annotator_id), int(item_id), "label" if first_label else kind if kind == "skip" else "other")
        latest = max(self.fingerprint[4], *(e[0] for e in events))
        self.own_event_ids = {i for i in self.own_event_ids if i > latest}
        self.fingerprint = (*self.fingerprint[:4], latest)
        return self.is_current(fingerprint)


MAX_OWN_EVENTS = 10_000
_QUEUES: "weakref.WeakKeyDictionary[Connection, dict[int, Queue]]" = weakref.WeakKeyDictionary()


def get_queue(conn: Connection, cur: Cursor, project_id: int) -> Queue:
    """The project's queue, rebuilt from the store when someone else changed its inputs."""
    fingerprint = store.queue_fingerprint(cur, project_id)
    queues = _QUEUES.setdefault(conn, {})
    queue = queues.get(project_id)
    if queue is not None and not queue.is_current(fingerprint) and \
            queue.catch_up(store.events_since(cur, project_id, queue.fingerprint[4]), fingerprint):
        return queue
    if queue is None or not queue.is_current(fingerprint):
        queue = queues[project_id] = _build(cur, project_id, fingerprint)
    return queue


def cached_queue(conn: Connection, project_id: int) -> Queue | None:
    """The project's queue as last built, without checking it (for marking our own writes)."""
    return _QUEUES.get(conn, {}).get(project_id)


def forget_queue(conn: Connection, project_id: int) -> None:
    """Drop the project's cached queue, so the next use rebuilds it from the store (for changes the
    fingerprint does not see, e.g. a study participant's labels excluded or included again)."""
    _QUEUES.get(conn, {}).pop(project_id, None)


def _build(cur: Cursor, project_id: int, fingerprint: tuple) -> Queue:
    items = store.queue_items(cur, project_id)
    item_ids = items["item_id"].to_numpy(dtype=np.int64)
    position = {int(i): p for p, i in enumerate(item_ids)}
    # copies: the arrays are updated in place (mark), and a frame's own arrays may be read-only
    queue = Queue(fingerprint, item_ids, items["priority"].to_numpy(dtype=float),
                  items["is_eligible"].to_numpy(dtype=bool), items["n_done"].to_numpy(dtype=np.int64, copy=True),
                  position)
    pairs = store.seen_pairs(cur, project_id)
    for annotator_id, group in pairs.groupby("annotator_id"):
        mask = np.zeros(len(item_ids), dtype=bool)
        mask[[position[int(i)] for i in group["item_id"]]] = True
        queue.seen[int(annotator_id)] = mask
    # Built from several statements: a write that landed in between is in the arrays but not in
    # `fingerprint`, so catching up from it could count that write twice; rebuild next time instead.
    queue.is_exact = queue.is_current(store.queue_fingerprint(cur, project_id))
    return queue
