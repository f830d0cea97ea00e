"""k exact across app servers: several processes, each with its own pool on one PostgreSQL schema.

Each process stands for an app server (`storage.connect` of its own, threads for its annotators'
sessions). Their in-process locks cannot see each other, so only the database's locks keep k exact
(storage.assignment.lock_item) and keep one annotator from labeling an item twice when
their session moves between servers (storage.labels.lock_annotator). Removing either lock makes the
matching test fail (checked by hand: an item gets a third label / an annotator a second one).
"""
from __future__ import annotations

import multiprocessing
import threading

import pytest

import storage
from annotate.config import ProjectConfig
from annotate.data.importers import ImportBatch, Record, write_batch
from annotate.errors import LabelError
from annotate.labeling import assignment, auth
from annotate.labeling.annotators import add_annotator
from annotate.labeling.labels import record_label
from annotate.projects import create_project, get_project
from conftest import postgres_schema_url

SERVERS = 4
ANNOTATORS_PER_SERVER = 8
ITEMS = 100
K = 2


@pytest.fixture
def pg_url():
    """A URL to a fresh schema on the test server ($ANNOTATE_TEST_PG), dropped afterwards."""
    yield from postgres_schema_url()


def make_project(url: str, overlap: int) -> list[int]:
    """Project 'p' with ITEMS pairwise items; return the item ids."""
    conn = storage.connect(url)
    try:
        project = create_project(conn, "p", ProjectConfig(task_type="pairwise", overlap=overlap))
        batch = ImportBatch()
        for i in range(ITEMS):
            batch.add_item(Record(f"item {i}", {}), f"i{i}", f"prompt {i}", [("left", None), ("right", None)])
        write_batch(conn, project, batch)
        return [r[0] for r in storage.cursor(conn).execute("SELECT id FROM items ORDER BY id").fetchall()]
    finally:
        conn.close()


def label_until_done(url: str, annotator_ids: list[int]) -> list[str]:
    """One app server: a thread per annotator takes the next item and labels it until none is left.
    Returns the refusals (LabelError messages), which must not happen to leased items."""
    conn = storage.connect(url)
    project = get_project(conn, "p")
    refusals: list[str] = []

    def annotate(annotator_id: int) -> None:
        while (item := assignment.next_item(conn, project, annotator_id)) is not None:
            try:
                assignment.submit_label(conn, project, annotator_id, item.item_id, {"overall": 1})
            except LabelError as exc:
                refusals.append(str(exc))
                return

    threads = [threading.Thread(target=annotate, args=(a,)) for a in annotator_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn.close()
    return refusals


def label_every_item(url: str, annotator_id: int, item_ids: list[int], start) -> int:
    """One app server where the same annotator's session submits a first label on every item,
    starting with the other servers (`start`, a barrier), so that they race on each item; return
    how many were stored (the others are refused: already labeled)."""
    conn = storage.connect(url)
    project = get_project(conn, "p")
    stored = 0
    start.wait()
    for item_id in item_ids:
        try:
            record_label(conn, project, annotator_id, item_id, {"overall": -1}, presented_order="AB")
            stored += 1
        except LabelError:
            pass
    conn.close()
    return stored


def resume_session(url: str, key: str) -> str:
    """Another app server: the name of the session's user, or why the session has ended."""
    conn = storage.connect(url)
    try:
        return auth.resume_session(conn, key)["name"]
    except auth.SessionEndedError as exc:
        return str(exc)
    finally:
        conn.close()


def run_servers(target, args: list[tuple]) -> list:
    """Run `target` once per argument tuple, each in a process of its own (spawned: no pool or
    thread carried over from this one)."""
    with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
        return pool.starmap(target, args, chunksize=1)


def label_counts(url: str) -> tuple[list[tuple], list[tuple]]:
    """(current labels per item as (item_id, n) for every item, (annotator, item, n) labeled more than once)."""
    conn = storage.connect(url)
    cur = storage.cursor(conn)
    per_item = cur.execute("""SELECT i.id, count(e.id) FROM items i
                              LEFT JOIN current_label_events e ON e.item_id = i.id
                              GROUP BY i.id ORDER BY i.id""").fetchall()
    twice = cur.execute("""SELECT annotator_id, item_id, count(*) FROM label_events WHERE kind = 'label'
                           GROUP BY annotator_id, item_id HAVING count(*) > 1""").fetchall()
    conn.close()
    return per_item, twice


def test_four_servers_of_eight_annotators_give_every_item_exactly_k_labels(pg_url):
    make_project(pg_url, overlap=K)
    conn = storage.connect(pg_url)
    annotators = [add_annotator(conn, f"ann{n}")[0]["id"] for n in range(SERVERS * ANNOTATORS_PER_SERVER)]
    conn.close()
    groups = [(pg_url, annotators[s::SERVERS]) for s in range(SERVERS)]

    refusals = run_servers(label_until_done, groups)

    assert [r for server in refusals for r in server] == []
    per_item, twice = label_counts(pg_url)
    conn = storage.connect(pg_url)
    labelers = storage.cursor(conn).execute("SELECT count(DISTINCT annotator_id) FROM label_events").fetchone()[0]
    conn.close()
    assert len(per_item) == ITEMS
    assert {n for _, n in per_item} == {K}, [row for row in per_item if row[1] != K][:10]
    assert twice == []
    assert labelers > SERVERS  # the work really was spread over the servers' annotators


def test_one_annotator_on_four_servers_labels_each_item_once(pg_url):
    item_ids = make_project(pg_url, overlap=K)
    conn = storage.connect(pg_url)
    annotator_id = add_annotator(conn, "ann")[0]["id"]
    conn.close()

    with multiprocessing.get_context("spawn").Manager() as manager:
        start = manager.Barrier(SERVERS)
        stored = run_servers(label_every_item, [(pg_url, annotator_id, item_ids, start)] * SERVERS)

    conn = storage.connect(pg_url)
    rows = storage.cursor(conn).execute("""SELECT item_id, count(*) FROM label_events
                                           WHERE annotator_id = ? GROUP BY item_id""", [annotator_id]).fetchall()
    conn.close()
    assert sum(stored) == ITEMS
    assert len(rows) == ITEMS and {n for _, n in rows} == {1}


def test_a_session_started_on_one_server_works_on_another_until_logged_out(pg_url):
    conn = storage.connect(pg_url)
    _, token = add_annotator(conn, "ann")
    key = auth.login(conn, token, "10.0.0.1")[auth.SESSION_KEY]

    assert run_servers(resume_session, [(pg_url, key)] * 2) == ["ann", "ann"]
    auth.logout(conn, key)
    conn.close()
    assert all(r.startswith("Your session has ended") for r in run_servers(resume_session, [(pg_url, key)] * 2))
