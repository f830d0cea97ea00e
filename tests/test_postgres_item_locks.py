"""k exact across app servers with per-item locks only, and the queue exact when events commit out of id order.

Assignment locks one ITEM per transaction (storage.assignment.lock_item), not the project, so app
servers write different items at once. Two things must still hold: an expired lease whose holder
submits races with another server leasing the same item, and k must stay exact; and a server's
in-memory queue must account for an event that becomes visible after one with a higher id (its
transaction committed later), without rebuilding.
"""
from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

import storage
from annotate.errors import LabelError
from annotate.labeling import assignment, queue as labeling_queue
from annotate.labeling.annotators import add_annotator
from annotate.projects import get_project
from conftest import postgres_schema_url
from test_postgres_concurrency import (ANNOTATORS_PER_SERVER, ITEMS, K, SERVERS, label_counts, make_project,
                                      run_servers)

LEASE_SECONDS = 0.05  # shorter than the pause before most submits: leases expire mid-run


@pytest.fixture
def pg_url():
    """A URL to a fresh schema on the test server ($ANNOTATE_TEST_PG), dropped afterwards."""
    yield from postgres_schema_url()


def label_with_expiring_leases(url: str, annotator_ids: list[int]) -> tuple[int, int]:
    """One app server: a thread per annotator takes the next item with a lease of LEASE_SECONDS,
    pauses up to twice that, then submits, until no item is left. Returns (submits made after the
    lease had expired, refusals), the refusals being items that got k labels meanwhile."""
    conn = storage.connect(url)
    project = get_project(conn, "p")
    counts = {"late": 0, "refused": 0}
    lock = threading.Lock()

    def annotate(annotator_id: int) -> None:
        rng = random.Random(annotator_id)
        while (item := assignment.next_item(conn, project, annotator_id, lease_seconds=LEASE_SECONDS)) is not None:
            served = time.monotonic()
            time.sleep(rng.uniform(0, 2 * LEASE_SECONDS))
            late = time.monotonic() - served > LEASE_SECONDS  # the lease expired before the submit
            try:
                assignment.submit_label(conn, project, annotator_id, item.item_id, {"overall": 1})
            except LabelError:
                with lock:
                    counts["refused"] += 1
                continue
            if late:
                with lock:
                    counts["late"] += 1

    threads = [threading.Thread(target=annotate, args=(a,)) for a in annotator_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn.close()
    return counts["late"], counts["refused"]


def test_submits_on_expired_leases_racing_other_servers_leases_keep_exactly_k_labels(pg_url):
    make_project(pg_url, overlap=K)
    conn = storage.connect(pg_url)
    annotators = [add_annotator(conn, f"ann{n}")[0]["id"] for n in range(SERVERS * ANNOTATORS_PER_SERVER)]
    conn.close()

    results = run_servers(label_with_expiring_leases, [(pg_url, annotators[s::SERVERS]) for s in range(SERVERS)])

    per_item, twice = label_counts(pg_url)
    assert sum(late for late, _ in results) > 0  # the expired-lease path really ran
    assert len(per_item) == ITEMS
    assert {n for _, n in per_item} == {K}, [row for row in per_item if row[1] != K][:10]
    assert twice == []


def test_a_label_committed_after_a_later_one_is_caught_up_without_a_rebuild(pg_url):
    item_a, item_b = make_project(pg_url, overlap=K)[:2]
    conn = storage.connect(pg_url)
    project = get_project(conn, "p")
    first, second, reader = (add_annotator(conn, name)[0]["id"] for name in ("first", "second", "reader"))
    queue = labeling_queue.get_queue(conn, storage.cursor(conn), project.id)
    builds = labeling_queue.REBUILDS

    # another app server: `first`'s label takes its id, but its transaction commits only after
    # `second`'s label (a higher id) is visible and this server's queue has caught up on that one
    with psycopg.connect(pg_url) as other:
        other.execute("""INSERT INTO label_events (project_id, item_id, annotator_id, kind, source, values_list)
                         VALUES (%s, %s, %s, 'label', 'app', '[]'::jsonb)""", [project.id, item_a, first])
        with psycopg.connect(pg_url, autocommit=True) as third:
            third.execute("""INSERT INTO label_events (project_id, item_id, annotator_id, kind, source, values_list)
                             VALUES (%s, %s, %s, 'label', 'app', '[]'::jsonb)""", [project.id, item_b, second])
        assignment.next_item(conn, project, reader)
        assert queue.n_done[queue.position[item_b]] == 1 and queue.n_done[queue.position[item_a]] == 0
        other.commit()

    assignment.progress(conn, project, reader)
    assert labeling_queue.get_queue(conn, storage.cursor(conn), project.id) is queue
    assert labeling_queue.REBUILDS == builds
    assert queue.n_done[queue.position[item_a]] == 1 and queue.n_done[queue.position[item_b]] == 1
    conn.close()
