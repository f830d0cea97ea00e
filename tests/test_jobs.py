"""Job leases: background work (judge runs, re-ranking) runs on one server at a time, on both backends.

On PostgreSQL the race is between real processes (as two app servers would be); DuckDB allows one
process per file, so there the racers are threads of one process, which the lease must keep apart too.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import storage
from storage import jobs as store, judgments as judgment_store
from annotate.config import ProjectConfig
from annotate.data.importers import import_file
from annotate.jobs import JobBusyError, JobLease, judge_job_key
from annotate.judges import JudgeConfig, get_run, list_runs, mark_interrupted_runs, run_judge, start_background_run
from annotate.judges.base import Verdict
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[1]


def test_a_free_job_is_taken_and_a_second_holder_is_told_who_holds_it(db):
    cur = storage.cursor(db)
    assert storage.write(db, lambda c: store.acquire_lease(c, "rerank:1", "web-1:10:1.1", 60_000)) == "web-1:10:1.1"
    assert storage.write(db, lambda c: store.acquire_lease(c, "rerank:1", "web-2:20:1.1", 60_000)) == "web-1:10:1.1"
    assert store.live_lease(cur, "rerank:1")["holder"] == "web-1:10:1.1"
    assert not storage.write(db, lambda c: store.release_lease(c, "rerank:1", "web-2:20:1.1"))
    assert storage.write(db, lambda c: store.release_lease(c, "rerank:1", "web-1:10:1.1"))
    assert store.live_lease(cur, "rerank:1") is None
    assert storage.write(db, lambda c: store.acquire_lease(c, "rerank:1", "web-2:20:1.1", 60_000)) == "web-2:20:1.1"


def test_a_second_lease_on_a_busy_job_says_where_it_runs(db):
    with JobLease(db, "rerank:7", "Re-ranking project 'x'"):
        with pytest.raises(JobBusyError, match=r"Re-ranking project 'x' is already running on \S+ \(process \d+\)"):
            JobLease(db, "rerank:7", "Re-ranking project 'x'").acquire()
    with JobLease(db, "rerank:7", "Re-ranking project 'x'"):  # released: free again
        pass


def test_an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_renew_it(db):
    storage.write(db, lambda c: store.acquire_lease(c, "judge:1:1", "dead-host:99:1.1", 200))
    with pytest.raises(JobBusyError, match="already running on dead-host"):
        JobLease(db, "judge:1:1", "Judge 'j'").acquire()
    time.sleep(0.5)
    with JobLease(db, "judge:1:1", "Judge 'j'") as lease:
        assert store.live_lease(storage.cursor(db), "judge:1:1")["holder"] == lease.holder
        assert not storage.write(db, lambda c: store.renew_lease(c, "judge:1:1", "dead-host:99:1.1", 60_000))
    assert storage.write(db, lambda c: store.renew_lease(c, "x", "nobody", 1)) is False


def test_the_heartbeat_keeps_a_lease_alive_past_its_time_to_live_and_notices_a_takeover(db):
    lease = JobLease(db, "rerank:3", "Re-ranking", ttl_s=0.6).acquire()
    try:
        time.sleep(1.5)  # more than twice the time to live: only the heartbeat keeps it
        with pytest.raises(JobBusyError):
            JobLease(db, "rerank:3", "Re-ranking").acquire()
        assert not lease.is_lost
        storage.write(db, lambda c: c.execute("UPDATE job_leases SET holder = 'thief:1:1.1' WHERE job_key = 'rerank:3'"))
        deadline = time.monotonic() + 5
        while not lease.is_lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lease.is_lost
    finally:
        lease.release()
    assert store.live_lease(storage.cursor(db), "rerank:3")["holder"] == "thief:1:1.1"  # not ours to release


RACER = textwrap.dedent("""
    import sys, time
    import storage
    from annotate.jobs import JobBusyError, JobLease
    conn = storage.connect(sys.argv[1])
    start_at = float(sys.argv[2])
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        with JobLease(conn, "judge:5:5", "Judge 'j' on project 'p'"):
            print("ran", flush=True)
            time.sleep(2.0)
    except JobBusyError as exc:
        print("busy:", exc, flush=True)
    conn.close()
""")


def test_two_servers_racing_for_one_job_run_it_exactly_once(db, db_path, backend):
    if backend == "postgres":  # two processes, as two app servers
        start_at = time.time() + 3
        racers = [subprocess.Popen([sys.executable, "-c", RACER, str(db_path), str(start_at)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outputs = [racer.communicate(timeout=60) for racer in racers]
        assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
        results = [out.strip() for out, _ in outputs]
    else:  # DuckDB: one process per file, so the racers are threads
        barrier, results = threading.Barrier(3), []

        def race() -> None:
            barrier.wait()
            try:
                with JobLease(db, "judge:5:5", "Judge 'j' on project 'p'"):
                    results.append("ran")
                    time.sleep(1.0)
            except JobBusyError as exc:
                results.append(f"busy: {exc}")
        threads = [threading.Thread(target=race) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sorted(r.split(":")[0] for r in results) == ["busy", "busy", "ran"], results
    assert all("is already running on" in r for r in results if r != "ran")


class BlockingJudge:
    """A judge (the interface runs use) that answers 'A' once `go` is set."""

    def __init__(self) -> None:
        self.go, self.asked = threading.Event(), threading.Event()

    def judge_pairwise(self, requests: list) -> list[Verdict]:
        self.asked.set()
        assert self.go.wait(30)
        return [Verdict("A", True, probs=[0.8, 0.1, 0.1]) for _ in requests]

    def close(self) -> None:
        pass


@pytest.fixture
def pairs(db, tmp_path):
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise"))
    rows = [{"id": f"p{i}", "prompt": f"question {i}", "response_a": f"first {i}", "response_b": f"second {i}"}
            for i in range(3)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_file(db, project, path)
    return project


JUDGE = JudgeConfig(name="rm", backend="reward_model", model="/models/none")


def test_a_judge_running_on_one_server_is_refused_on_another_and_not_marked_interrupted(db, db_path, pairs):
    judge = BlockingJudge()
    reports = []
    first = threading.Thread(target=lambda: reports.append(run_judge(db, "pairs", JUDGE, judge=judge)))
    first.start()
    assert judge.asked.wait(30)
    other = storage.connect(db_path) if storage.db.is_postgres(db) else db  # the second server
    try:
        with pytest.raises(JobBusyError, match=r"Judge 'rm' on project 'pairs' is already running on"):
            start_background_run(other, "pairs", JUDGE)
        assert mark_interrupted_runs(other) == 0  # a second server starting leaves the live run alone
        assert list(list_runs(other, "pairs")["status"]) == ["running"]
    finally:
        judge.go.set()
        first.join(30)
        if other is not db:
            other.close()
    assert reports[0].status == "done" and reports[0].n_done == 6
    assert len(judgment_store.judgments_frame(storage.cursor(db), pairs.id)) == 6
    project_id, judge_id = pairs.id, reports[0].judge_id
    assert store.live_lease(storage.cursor(db), judge_job_key(project_id, judge_id)) is None  # released


def test_a_run_whose_server_died_is_interrupted_once_its_lease_expires(db, pairs):
    judge = BlockingJudge()
    judge.go.set()
    report = run_judge(db, "pairs", JUDGE, judge=judge, limit=1)
    key = judge_job_key(pairs.id, report.judge_id)
    storage.write(db, lambda c: c.execute("UPDATE judge_runs SET status = 'running' WHERE id = ?", [report.run_id]))
    storage.write(db, lambda c: store.acquire_lease(c, key, "crashed-host:1:1.1", 300))
    assert list(list_runs(db, "pairs")["status"]) == ["running"]
    time.sleep(0.6)
    assert list(list_runs(db, "pairs")["status"]) == ["interrupted"]
    assert "resume it" in get_run(db, report.run_id)["error"]


def test_a_project_being_reranked_on_another_server_is_left_to_it(db, tmp_path):
    from test_router import _label, _write_project
    from annotate.jobs import rerank_job_key
    from annotate.labeling.annotators import add_annotator
    from annotate.projects import get_project
    from annotate.router.budget import Budget
    from annotate.router.routing import apply_routing, rerank, rerank_if_due
    from storage import routing as routing_store

    _write_project(db, tmp_path)
    project = get_project(db, "synthetic")
    apply_routing(db, "synthetic", "j1", "learned", Budget(fraction=0.5), every_n=2)
    annotator, _ = add_annotator(db, "ann")
    _label(db, project, annotator["id"], routing_store.current_routes(storage.cursor(db), project.id)["item_id"][:3])
    storage.write(db, lambda c: store.acquire_lease(c, rerank_job_key(project.id), "web-2:77:1.1", 60_000))
    assert rerank_if_due(db, "synthetic") is False  # due, but web-2 is on it
    with pytest.raises(JobBusyError, match="Re-ranking project 'synthetic' is already running on web-2 "):
        rerank(db, "synthetic")
    storage.write(db, lambda c: store.release_lease(c, rerank_job_key(project.id), "web-2:77:1.1"))
    assert rerank_if_due(db, "synthetic") is True
    assert rerank_if_due(db, "synthetic") is False  # done: no longer due
    assert store.live_lease(storage.cursor(db), rerank_job_key(project.id)) is None
