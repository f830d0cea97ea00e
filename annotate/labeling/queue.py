"""An in-memory copy of a project's labeling queue, so that serving an item takes microseconds.

Counting every item's labels in SQL on each request costs ~50-100 ms at 300K labels; instead the
queue keeps, per project, arrays of item ids, priorities, eligibility and completed-label counts,
plus which items each annotator has seen, and applies the rule of storage/assignment.py with numpy.

Staying correct: label events are append-only, so a few counts (`queue_fingerprint`) change
whenever the queue's inputs do. Our own writes update the arrays and the expected fingerprint
together. When the fingerprints differ only by label events from the labeling screens (another
thread, or another app server on PostgreSQL), the queue reads those events with the fingerprint in
one statement (`queue_changes`, one snapshot) and applies the ones it does not hold yet, and keeps
them only if the fingerprints then agree; any other change (an import, the router, a review action,
an event it cannot place) rebuilds the queue from the store (`queue_snapshot`: one snapshot too).
A rebuild costs ~0.3 s at 10K items and 20K labels on PostgreSQL; catching up costs one small query.

Why agreeing counts mean an exact queue: every event the queue holds is a distinct committed event
(the build's, the ones caught up, our own marked after their commit) that the snapshot also holds,
so equal counts mean equal sets. App servers write different items at once (only the item's lock is
held), so an event id can become visible after a higher one: the queue re-reads the ids within
storage.assignment.CATCH_UP_WINDOW of the latest it has seen and skips those it holds (`recent_ids`);
a later straggler leaves the counts apart, which rebuilds. Callers hold
annotate.labeling.assignment's lock, so there is one user of a queue at a time per process.
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
    recent_ids: set[int] = field(default_factory=set)  # held events within the catch-up window (and ours)

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
            self.recent_ids.add(int(event_id))
            if len(self.recent_ids) > MAX_OWN_EVENTS:  # never caught up for long: rebuild when stale
                self.is_exact, self.recent_ids = False, set()

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
        """Apply label events written elsewhere (storage.assignment.queue_changes from the catch-up
        window below the latest event id the queue read, with `fingerprint` from the same
        snapshot); True when the queue then matches `fingerprint`, False when it must be rebuilt
        instead (it may have been changed halfway)."""
        if not self.is_exact or self.fingerprint[1:4] != fingerprint[1:4]:
            return False
        others = [e for e in events if e[0] not in self.recent_ids]
        if not others or any(source != "app" or item_id not in self.position for _, _, item_id, _, _, source in others):
            return False  # nothing new we can place, or imports and adjudications (other rules): rebuild
        for _, annotator_id, item_id, kind, supersedes, _ in others:
            first_label = kind == "label" and supersedes is None
            self._apply(int(annotator_id), int(item_id), "label" if first_label else kind if kind == "skip" else "other")
        latest = max(self.fingerprint[4], *(e[0] for e in events))
        self.recent_ids = {i for i in self.recent_ids | {int(e[0]) for e in others}
                           if i > latest - store.CATCH_UP_WINDOW}
        self.fingerprint = (*self.fingerprint[:4], latest)
        return self.is_current(fingerprint)


MAX_OWN_EVENTS = 10_000
REBUILDS = 0  # queues built in this process (bench/bench_scale.py reports it)
_QUEUES: "weakref.WeakKeyDictionary[Connection, dict[int, Queue]]" = weakref.WeakKeyDictionary()


def get_queue(conn: Connection, cur: Cursor, project_id: int) -> Queue:
    """The project's queue, rebuilt from the store when someone else changed its inputs."""
    fingerprint = store.queue_fingerprint(cur, project_id)
    queues = _QUEUES.setdefault(conn, {})
    queue = queues.get(project_id)
    if queue is not None and queue.is_current(fingerprint):
        return queue
    if queue is not None:
        fingerprint, events = store.queue_changes(cur, project_id, queue.fingerprint[4] - store.CATCH_UP_WINDOW)
        if queue.is_current(fingerprint) or queue.catch_up(events, fingerprint):
            return queue
    queue = queues[project_id] = _build(conn, cur, project_id)
    global REBUILDS
    REBUILDS += 1
    return queue


def cached_queue(conn: Connection, project_id: int) -> Queue | None:
    """The project's queue as last built, without checking it (for marking our own writes)."""
    return _QUEUES.get(conn, {}).get(project_id)


def forget_queue(conn: Connection, project_id: int) -> None:
    """Drop the project's cached queue, so the next use rebuilds it from the store (for changes the
    fingerprint does not see, e.g. a study participant's labels excluded or included again)."""
    _QUEUES.get(conn, {}).pop(project_id, None)


def _build(conn: Connection, cur: Cursor, project_id: int) -> Queue:
    snapshot = store.queue_snapshot(conn, cur, project_id)
    items = snapshot.items
    item_ids = items["item_id"].to_numpy(dtype=np.int64)
    position = {int(i): p for p, i in enumerate(item_ids)}
    # copies: the arrays are updated in place (mark), and a frame's own arrays may be read-only
    queue = Queue(snapshot.fingerprint, item_ids, items["priority"].to_numpy(dtype=float),
                  items["is_eligible"].to_numpy(dtype=bool), items["n_done"].to_numpy(dtype=np.int64, copy=True),
                  position, recent_ids=snapshot.recent_ids)
    for annotator_id, group in snapshot.seen.groupby("annotator_id"):
        mask = np.zeros(len(item_ids), dtype=bool)
        mask[[position[int(i)] for i in group["item_id"]]] = True
        queue.seen[int(annotator_id)] = mask
    # DuckDB reads the parts one by one: a write that landed in between is in the arrays but not in
    # the fingerprint, so catching up from it could count that write twice; rebuild next time instead.
    queue.is_exact = snapshot.exact
    return queue
