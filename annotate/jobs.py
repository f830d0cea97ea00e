"""Background work that never runs twice: a lease in the database per job (storage/jobs.py).

With several app servers on one database, two of them may be asked to run the same judge on the
same project, or to re-rank the same project after a submit. Before such work starts, its server
takes the job's lease (one atomic upsert); a second server asked for the same job gets
JobBusyError, "... is already running on HOST". While the work runs, a heartbeat thread renews the
lease every third of its time to live; when the work ends the lease is released. A server that dies
stops renewing, and once the lease expires (LEASE_TTL_S after its last heartbeat) the job may be
taken over. A lease that was lost anyway (the holder stalled longer than its time to live and
someone else took over) sets `is_lost`, which the work checks between steps to stop.

Holder names are host:pid:thread, with a per-process lease number after the thread id
(`web-1:4242:1402.3`), so two leases taken by one thread (a page that starts two runs) differ too.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import threading

from storage import jobs as store
from storage.db import Connection
from annotate.errors import AnnotateError

LEASE_TTL_S = 30.0
_NUMBERS = itertools.count(1)
log = logging.getLogger(__name__)


class JobBusyError(AnnotateError):
    """The job's lease is held by another server (or another run in this one)."""

    def __init__(self, what: str, holder: str) -> None:
        self.holder = holder
        host, pid = (holder.split(":") + ["", ""])[:2]
        super().__init__(f"{what} is already running on {host} (process {pid}); wait for it to finish, "
                         f"or cancel it there")


def holder_id() -> str:
    """A name for a new lease holder: host:pid:thread.N, unique among this process's leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}.{next(_NUMBERS)}"


def judge_job_key(project_id: int, judge_id: int) -> str:
    """The job of running one judge on one project (storage.judgments.mark_interrupted builds the same key in SQL)."""
    return f"judge:{int(project_id)}:{int(judge_id)}"


def rerank_job_key(project_id: int) -> str:
    """The job of re-ranking one project's pending items."""
    return f"rerank:{int(project_id)}"


class JobLease:
    """The lease on one job while this process runs it: `acquire()` (or `with`), then `release()`.

    Acquire and release may happen on different threads (a page takes the lease so it can say at
    once that the job is busy, a background thread does the work and releases it).
    """

    def __init__(self, conn: Connection, job_key: str, what: str, ttl_s: float = LEASE_TTL_S) -> None:
        self.conn, self.job_key, self.what, self.ttl_s = conn, job_key, what, ttl_s
        self.holder = holder_id()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def is_lost(self) -> bool:
        """Whether another holder took the job over (the work should stop)."""
        return self._lost.is_set()

    def acquire(self) -> "JobLease":
        """Take the lease and start its heartbeat.

        Raises:
            JobBusyError: another holder's lease on the job has not expired.
        """
        ttl_ms = round(self.ttl_s * 1000)
        got = store.acquire(self.conn, self.job_key, self.holder, ttl_ms)
        if got != self.holder:
            raise JobBusyError(self.what, got)
        self._heartbeat = threading.Thread(target=self._beat, name=f"lease-{self.job_key}", daemon=True)
        self._heartbeat.start()
        return self

    def release(self) -> None:
        """Stop the heartbeat and give the lease up (nothing happens when it was lost meanwhile)."""
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        store.release(self.conn, self.job_key, self.holder)

    def _beat(self) -> None:
        ttl_ms = round(self.ttl_s * 1000)
        while not self._stop.wait(self.ttl_s / 3):
            try:
                kept = store.renew(self.conn, self.job_key, self.holder, ttl_ms)
            except Exception:  # a database hiccup: the next beat tries again before the lease expires
                log.exception("Renewing the lease on job '%s' failed", self.job_key)
                continue
            if not kept:
                log.warning("Lost the lease on job '%s' to another server; stopping it here", self.job_key)
                self._lost.set()
                return

    def __enter__(self) -> "JobLease":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
