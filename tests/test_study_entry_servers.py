"""Entering a crowd study on several app servers at once (PostgreSQL): the cap and "one id, one
participant" hold across processes, whose in-process locks cannot see each other.

Only the database's entry lock (storage.locks.hold_until_commit, taken in the transaction that
counts places and inserts) keeps them exact; without it both tests fail (checked by hand: 9-12
participants for 8 places, and a unique-constraint error or two participants for one id).
"""
from __future__ import annotations

import multiprocessing
import threading

import pytest

import storage
from annotate.projects import get_project
from annotate.study import links, participants
from annotate.study.errors import StudyFullError
from conftest import postgres_schema_url
from study_fixtures import make_study_project, mark_checks

SERVERS = 4
THREADS = 5
CAP = 8
WAIT = 120  # seconds: how long a server waits for the others to start


@pytest.fixture
def pg_url():
    """A URL to a fresh schema on the test server ($ANNOTATE_TEST_PG), dropped afterwards."""
    yield from postgres_schema_url()


@pytest.fixture
def study(pg_url, tmp_path) -> tuple[str, str]:
    """A study project with an open link and a cap of CAP participants; (url, link secret)."""
    conn = storage.connect(pg_url)
    try:
        project = make_study_project(conn, tmp_path, max_participants=CAP)
        mark_checks(conn, project, training=0, attention=0)
        return pg_url, links.open_link(conn, get_project(conn, "crowd"))
    finally:
        conn.close()


def enter_many(url: str, secret: str, pids: list[str], start) -> list[tuple[int | None, bool]]:
    """One app server: a thread per id enters the study once all servers are ready (`start`, a
    barrier). Returns (annotator id, is_new) per id, with None for a refusal (the study is full)."""
    conn = storage.connect(url)
    results: list[tuple[int | None, bool]] = []
    ready = threading.Barrier(len(pids))

    def arrive(pid: str) -> None:
        ready.wait()
        try:
            person = participants.enter(conn, None, secret, {"pid": pid})
            results.append((person.annotator_id, person.is_new))
        except StudyFullError:
            results.append((None, False))

    threads = [threading.Thread(target=arrive, args=(pid,)) for pid in pids]
    start.wait(timeout=WAIT)  # a server that failed to start breaks the barrier instead of hanging the rest
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn.close()
    return results


def run_servers(args: list[tuple]) -> list:
    """Run `enter_many` once per argument tuple, each in a spawned process of its own."""
    with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
        return pool.starmap_async(enter_many, args, chunksize=1).get(timeout=4 * WAIT)  # a dead worker: fail


def participant_rows(url: str) -> list[tuple]:
    conn = storage.connect(url)
    try:
        return storage.cursor(conn).execute("SELECT annotator_id, participant_id FROM study_participants").fetchall()
    finally:
        conn.close()


def test_four_servers_admitting_twenty_new_ids_keep_the_cap_of_eight(study):
    url, secret = study
    pids = [f"crowd{n}" for n in range(SERVERS * THREADS)]
    with multiprocessing.get_context("spawn").Manager() as manager:
        start = manager.Barrier(SERVERS)
        servers = run_servers([(url, secret, pids[s::SERVERS], start) for s in range(SERVERS)])

    results = [r for server in servers for r in server]
    admitted = [a for a, _ in results if a is not None]
    assert (len(admitted), len(set(admitted)), len(results) - len(admitted)) == (CAP, CAP, 12)
    rows = participant_rows(url)
    assert len(rows) == CAP and {a for a, _ in rows} == set(admitted)


def test_the_same_id_arriving_on_four_servers_at_once_becomes_one_participant(study):
    url, secret = study
    with multiprocessing.get_context("spawn").Manager() as manager:
        start = manager.Barrier(SERVERS)
        servers = run_servers([(url, secret, ["same-person"] * THREADS, start)] * SERVERS)

    results = [r for server in servers for r in server]
    assert len(results) == SERVERS * THREADS
    assert len({a for a, _ in results}) == 1 and None not in {a for a, _ in results}
    assert sum(is_new for _, is_new in results) == 1
    assert participant_rows(url) == [(results[0][0], "same-person")]
