"""An in-memory copy of a project's labeling queue, so that serving an item takes microseconds.

Counting every item's labels in SQL on each request costs ~50-100 ms at 300K labels; instead the
queue keeps, per project, arrays of item ids, priorities, eligibility and completed-label counts,
plus which items each annotator has seen, and applies the rule of storage/assignment.py with numpy.

Staying correct: label events are append-only, so a few counts (`queue_fingerprint`) change
whenever the queue's inputs do. Our own writes update the arrays and the expected fingerprint
together; any other writer (an import, the router) makes the fingerprints differ, and the queue is
rebuilt from the store. Callers hold annotate.labeling.assignment's lock, so there is one writer at a time.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import duckdb
import numpy as np

from storage import assignment as store

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

    def best(self, mask: np.ndarray) -> int | None:
        """Highest priority, then fewest completed labels, then lowest item id, among `mask`."""
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return None
        priority = self.priority[candidates]
        candidates = candidates[priority == priority.max()]
        done = self.n_done[candidates]
        return int(self.item_ids[candidates[done == done.min()][0]])

    def mark(self, annotator_id: int, item_id: int, kind: str) -> None:
        """Account for one event of ours: 'label' (a first label), 'skip', or 'other' (flag, edit)."""
        if kind in ("label", "skip"):
            if annotator_id not in self.seen:
                self.seen[annotator_id] = np.zeros(len(self.item_ids), dtype=bool)
            self.seen[annotator_id][self.position[item_id]] = True
        if kind == "label":
            self.n_done[self.position[item_id]] += 1
        self.fingerprint = (self.fingerprint[0] + 1, *self.fingerprint[1:])


_QUEUES: "weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[int, Queue]]" = weakref.WeakKeyDictionary()


def get_queue(conn: duckdb.DuckDBPyConnection, cur: duckdb.DuckDBPyConnection, project_id: int) -> Queue:
    """The project's queue, rebuilt from the store when someone else changed its inputs."""
    fingerprint = store.queue_fingerprint(cur, project_id)
    queues = _QUEUES.setdefault(conn, {})
    queue = queues.get(project_id)
    if queue is None or queue.fingerprint != fingerprint:
        queue = queues[project_id] = _build(cur, project_id, fingerprint)
    return queue


def cached_queue(conn: duckdb.DuckDBPyConnection, project_id: int) -> Queue | None:
    """The project's queue as last built, without checking it (for marking our own writes)."""
    return _QUEUES.get(conn, {}).get(project_id)


def _build(cur: duckdb.DuckDBPyConnection, project_id: int, fingerprint: tuple) -> Queue:
    items = store.queue_items(cur, project_id)
    item_ids = items["item_id"].to_numpy(dtype=np.int64)
    position = {int(i): p for p, i in enumerate(item_ids)}
    queue = Queue(fingerprint, item_ids, items["priority"].to_numpy(dtype=float),
                  items["is_eligible"].to_numpy(dtype=bool), items["n_done"].to_numpy(dtype=np.int64), position)
    pairs = store.seen_pairs(cur, project_id)
    for annotator_id, group in pairs.groupby("annotator_id"):
        mask = np.zeros(len(item_ids), dtype=bool)
        mask[[position[int(i)] for i in group["item_id"]]] = True
        queue.seen[int(annotator_id)] = mask
    return queue
