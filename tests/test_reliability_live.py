"""The running app under load, killed, and backed up: real servers, real browsers, real files.

Ten browser sessions label at once through `streamlit run app.py` (the harness of bench/soak.py,
with small numbers so that this stays near a minute on two cores). What the browsers saw is
compared with the store afterwards; the server is killed with SIGKILL mid-load in the second test.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from annotate.data import backup
from bench.soak import (CHROMIUM, AppServer, Annotator, check_store, drive, kill_and_restart, make_database,
                        submits_reached)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


async def backup_after(annotators: list[Annotator], submits: int, db_path: Path, out: Path):
    await submits_reached(annotators, submits)
    return await asyncio.to_thread(run_cli, "--db", str(db_path), "backup", "--out", str(out), "--timeout", "120")


def test_ten_annotators_at_once_lose_nothing_and_fill_overlap_exactly_while_backups_run(tmp_path):
    n, items, k = 10, 15, 2
    db_path = tmp_path / "load.duckdb"
    annotators = [Annotator(token) for token in make_database(db_path, items, k, n)]
    server = AppServer(db_path).start()
    try:
        async def scenario():
            return await asyncio.gather(drive(server.url, annotators, seconds=150),
                                        backup_after(annotators, 8, db_path, tmp_path / "during"))
        _, during = asyncio.run(scenario())
        after = run_cli("--db", str(db_path), "backup", "--out", str(tmp_path / "after"), "--timeout", "60")
    finally:
        server.stop()

    figures = check_store(db_path, annotators, [f"soak-{i:02d}" for i in range(n)], k)
    assert not figures["errors"], "\n".join(figures["errors"])
    assert all(a.finished for a in annotators)
    assert figures["client_submits"] == figures["stored_labels"] == items * k
    assert (figures["lost"], figures["unexpected"], figures["duplicates"], figures["over_k"]) == (0, 0, 0, 0)
    assert figures["items_at_k"] == items

    # taken through the running app (it held the file): a consistent snapshot mid-load ...
    assert during.returncode == 0, during.stderr
    restored = run_cli("restore", "--from", str(tmp_path / "during"), "--db", str(tmp_path / "during.duckdb"))
    assert restored.returncode == 0, restored.stderr
    conn = storage.connect(tmp_path / "during.duckdb")
    mid = storage.labels.label_events_frame(storage.cursor(conn), 1)
    conn.close()
    final = storage.connect(db_path)
    every = storage.labels.label_events_frame(storage.cursor(final), 1)
    final.close()
    assert 0 < len(mid) < len(every)
    assert set(mid["event_id"]) <= set(every["event_id"])

    # ... and, once the annotators are done, one identical to the file the app leaves behind
    assert after.returncode == 0, after.stderr
    restored = run_cli("restore", "--from", str(tmp_path / "after"), "--db", str(tmp_path / "after.duckdb"))
    assert restored.returncode == 0, restored.stderr
    assert backup.file_checksums(tmp_path / "after.duckdb") == backup.file_checksums(db_path)


def test_sigkill_mid_load_keeps_every_completed_label_and_annotators_continue(tmp_path):
    n, items, k = 6, 24, 2
    db_path = tmp_path / "crash.duckdb"
    annotators = [Annotator(token) for token in make_database(db_path, items, k, n)]
    server = AppServer(db_path).start()
    try:
        async def scenario():
            restarted = asyncio.Event()
            await asyncio.gather(drive(server.url, annotators, seconds=150, restarted=restarted),
                                 kill_and_restart(server, restarted, annotators, 10))
        asyncio.run(scenario())
    finally:
        server.stop()

    figures = check_store(db_path, annotators, [f"soak-{i:02d}" for i in range(n)], k, crashed=True)
    assert not figures["errors"], "\n".join(figures["errors"])
    assert figures["lost"] == 0  # every submit a browser saw complete survived the SIGKILL
    assert (figures["duplicates"], figures["over_k"]) == (0, 0)
    assert figures["stored_labels"] == items * k and figures["items_at_k"] == items
    for annotator in annotators:
        assert annotator.finished and annotator.restarts
        # they continue: the first item served after the (last) restart is none they labeled before it
        # (a login that the kill interrupted before it showed an item leaves no entry in first_items)
        before = {item for item, _ in annotator.completed[:annotator.restarts[-1]]}
        assert annotator.first_items[-1] not in before
