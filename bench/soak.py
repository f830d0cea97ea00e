"""Soak: N real browser sessions label through the running app at once; nothing may be lost.

Starts `streamlit run app.py` on a free loopback port against a fresh database with one pairwise
project (overlap k), invites N annotators and drives each with its own Playwright context in
Debian chromium (all in one browser). Every annotator loops: read the item shown, choose a
random point of the scale, submit, wait until the next item is on screen. The submit-to-next-item
latency is the time from the click to the end of the rerun that shows the next item.

Checked afterwards against the store: no error was shown to any annotator, every submit that
completed on the client is a label in the store (and, without a crash, nothing more), no annotator
labeled an item twice, and no item has more than k current labels (exactly k when the run ends
with everything labeled). Optionally the server is killed with SIGKILL part-way and restarted.

Run: python bench/soak.py [--annotators 30] [--items 300] [--overlap 3] [--seconds 180] [--kill-after 100]
The tests (tests/test_reliability_live.py) import the harness from here with smaller numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import storage  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from annotate.config import ProjectConfig  # noqa: E402
from annotate.data.importers import import_file  # noqa: E402
from annotate.projects import create_project  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PROJECT = "soak"
PROMPT = re.compile(r"^Item (s\d+):")
PROGRESS = re.compile(r"· (\d+) done")
SCALE = ["A is much better", "A is slightly better", "Tie", "B is slightly better", "B is much better"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"
STEP_TIMEOUT_MS = 90_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_database(db_path: Path, n_items: int, overlap: int, n_annotators: int) -> list[str]:
    """A fresh database with the soak project and N annotators; return their tokens."""
    data = db_path.with_suffix(".jsonl")
    data.write_text("\n".join(json.dumps({
        "id": f"s{i}", "prompt": f"Item s{i}: which answer explains number {i} better?",
        "response_a": f"Number {i} is a number. " * 5, "response_b": f"{i} is {i}; that is all there is to it."})
        for i in range(n_items)))
    conn = storage.connect(db_path)
    try:
        project = create_project(conn, PROJECT, ProjectConfig(task_type="pairwise", overlap=overlap))
        import_file(conn, project, data)
        return [add_annotator(conn, f"soak-{i:02d}")[1] for i in range(n_annotators)]
    finally:
        conn.close()


class AppServer:
    """`streamlit run app.py` on a loopback port against one database file."""

    def __init__(self, db_path: Path, port: int | None = None, log_path: Path | None = None):
        self.db_path, self.port = db_path, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or db_path.with_suffix(".server.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "AppServer":
        env = {**os.environ, storage.db.DB_ENV_VAR: str(self.db_path), "ANNOTATE_BASE_URL": self.url}
        with self.log_path.open("a") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
                 "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats",
                 "false", "--server.fileWatcherType", "none"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"streamlit did not start at {self.url}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no checkpoint; what was committed must survive."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Annotator:
    """What one browser session saw: completed submits (item, latency), errors, the item shown at each login."""
    token: str
    completed: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_items: list[str | None] = field(default_factory=list)
    restarts: list[int] = field(default_factory=list)
    reclicks: int = 0
    finished: bool = False


async def _shown_item(page, annotator: Annotator) -> str | None:
    """The external id of the item on screen once the run has ended, or None when nothing is left."""
    from playwright.async_api import expect
    item = page.get_by_text(PROMPT).or_(page.get_by_text("Nothing left for you to label"))
    await expect(item.first).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await page.wait_for_selector(IDLE, timeout=STEP_TIMEOUT_MS)
    annotator.errors += [f"shown: {text}" for text in await page.locator(ERRORS).all_inner_texts()]
    match = PROMPT.match(await item.first.inner_text())
    return match.group(1) if match else None


async def choose(page, annotator: Annotator, choice: str, tries: int = 3) -> None:
    """Click a point of the scale (in the label controls) until it shows as chosen; count the
    clicks that had to be repeated (reported as `reclicks`, not hidden)."""
    from playwright.async_api import expect
    chosen = page.locator(".lk-option.lk-selected").filter(has_text=choice)
    for attempt in range(tries):
        await page.locator(".lk-root[data-state='ready'] .lk-option").filter(has_text=choice).click()
        try:
            await expect(chosen).to_have_count(1, timeout=STEP_TIMEOUT_MS // tries)
            break
        except AssertionError:
            if attempt == tries - 1:
                raise
            annotator.reclicks += 1


async def label_until(page, annotator: Annotator, url: str, deadline: float) -> None:
    """Log in with the invite link (again after a restart) and label until `deadline` or the end."""
    from playwright.async_api import expect
    # "commit", not "load": 30 tabs fetching Streamlit's bundle at once can take a while to fire load
    await page.goto(f"{url}/?token={annotator.token}", wait_until="commit", timeout=STEP_TIMEOUT_MS)
    item = await _shown_item(page, annotator)
    annotator.first_items.append(item)
    # the server's count: after a crash it may include a submit whose answer never reached us
    progress = await page.get_by_text(PROGRESS).first.inner_text() if item is not None else "· 0 done"
    offset = int(PROGRESS.search(progress).group(1)) - len(annotator.completed)
    while item is not None and time.monotonic() < deadline:
        await choose(page, annotator, random.choice(SCALE))
        done = len(annotator.completed) + offset
        started = time.monotonic()
        await page.locator(".lk-submit").click()
        await expect(page.get_by_text(re.compile(rf"· {done + 1} done"))).to_be_visible(
            timeout=STEP_TIMEOUT_MS)
        next_item = await _shown_item(page, annotator)
        annotator.completed.append((item, time.monotonic() - started))
        item = next_item
    annotator.finished = item is None


async def _until_restart(work, restarted: asyncio.Event | None) -> bool:
    """Run `work`; True if it finished, False if the server restarted first (the work is cancelled).

    A step that fails while the server is down is retried after the restart, not reported.
    """
    task = asyncio.create_task(work)
    if restarted is None or restarted.is_set():
        await task
        return True
    waiter = asyncio.create_task(restarted.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done() and task.exception() is None:
        waiter.cancel()
        return True
    task.cancel()
    await waiter
    return False


async def _session(browser, annotator: Annotator, url: str, deadline: float,
                   restarted: asyncio.Event | None) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda exc: annotator.errors.append(f"page error: {exc}"))
    page.on("dialog", lambda dialog: annotator.errors.append(f"dialog: {dialog.message}"))
    try:
        while not await _until_restart(label_until(page, annotator, url, deadline), restarted):
            annotator.restarts.append(len(annotator.completed))  # the server is back: log in again
    except Exception as exc:
        screen = await page.locator("body").inner_text(timeout=5_000)
        raise RuntimeError(f"{type(exc).__name__}: {str(exc)[:300]}\n--- on screen:\n{screen[:1500]}") from exc
    finally:
        await context.close()


async def drive(url: str, annotators: list[Annotator], seconds: float, restarted: asyncio.Event | None = None,
                stagger: float = 1.0) -> None:
    """Run every annotator's session at once for up to `seconds` (logins staggered a little).

    With `restarted`, the sessions expect the server to be killed: when the event is set they log in
    again (a restart loses the server's sessions) and continue.
    """
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        deadline = time.monotonic() + seconds

        async def one(i: int, annotator: Annotator) -> None:
            await asyncio.sleep(i * stagger)
            try:
                await _session(browser, annotator, url, deadline, restarted)
            except Exception as exc:  # a broken session is a finding, reported with the others
                annotator.errors.append(f"session failed: {exc}")
        await asyncio.gather(*(one(i, a) for i, a in enumerate(annotators)))
        await browser.close()


async def submits_reached(annotators: list[Annotator], n: int) -> None:
    """Return once the browsers have seen `n` submits complete in all."""
    while sum(len(a.completed) for a in annotators) < n:
        await asyncio.sleep(0.2)


async def kill_and_restart(server: AppServer, restarted: asyncio.Event, annotators: list[Annotator],
                           after_submits: int) -> float:
    """SIGKILL the server once `after_submits` submits completed, start it again, set `restarted`;
    return the downtime in seconds."""
    await submits_reached(annotators, after_submits)
    killed_at = time.monotonic()
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)
    restarted.set()
    return time.monotonic() - killed_at


def store_labels(db_path: Path) -> list[tuple[str, str, int]]:
    """Current labels as (annotator name, item external id, events of that pair) from a closed file."""
    conn = storage.connect(db_path)
    try:
        frame = storage.labels.label_events_frame(storage.cursor(conn), 1)
    finally:
        conn.close()
    labels = frame[frame["kind"] == "label"]
    counts = labels.groupby(["annotator", "external_id"]).size()
    return [(a, e, int(n)) for (a, e), n in counts.items()]


def check_store(db_path: Path, annotators: list[Annotator], names: list[str], overlap: int,
                crashed: bool = False) -> dict:
    """Compare what the browsers saw with the store; return the figures (see the module docstring)."""
    pairs = store_labels(db_path)
    stored = {(a, e) for a, e, _ in pairs}
    client = {(name, item) for name, ann in zip(names, annotators) for item, _ in ann.completed}
    per_item: dict[str, int] = {}
    for _, item, _ in pairs:
        per_item[item] = per_item.get(item, 0) + 1
    return {"client_submits": sum(len(a.completed) for a in annotators), "stored_labels": len(pairs),
            "lost": len(client - stored), "unexpected": 0 if crashed else len(stored - client),
            "duplicates": sum(1 for *_, n in pairs if n > 1),
            "over_k": sum(1 for n in per_item.values() if n > overlap),
            "items_at_k": sum(1 for n in per_item.values() if n == overlap),
            "reclicks": sum(a.reclicks for a in annotators), "errors": [e for a in annotators for e in a.errors]}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


async def soak(args: argparse.Namespace, folder: Path) -> dict:
    db_path = folder / "soak.duckdb"
    tokens = make_database(db_path, args.items, args.overlap, args.annotators)
    names = [f"soak-{i:02d}" for i in range(args.annotators)]
    annotators = [Annotator(token) for token in tokens]
    server = AppServer(db_path).start()
    started = time.monotonic()
    restarted = asyncio.Event() if args.kill_after else None
    try:
        jobs = [drive(server.url, annotators, args.seconds, restarted)]
        if restarted:
            jobs.append(kill_and_restart(server, restarted, annotators, args.kill_after))
        downtime = (await asyncio.gather(*jobs) + [0.0])[1]
    finally:
        elapsed = time.monotonic() - started
        server.stop()
    figures = check_store(db_path, annotators, names, args.overlap, crashed=bool(args.kill_after))
    latencies = [latency for a in annotators for _, latency in a.completed]
    return {**figures, "annotators": args.annotators, "seconds": round(elapsed, 1),
            "labels_per_s": round(figures["client_submits"] / elapsed, 2),
            "p50_s": round(sorted(latencies)[len(latencies) // 2], 2) if latencies else None,
            "p95_s": round(p95(latencies), 2), "restart_s": round(downtime or 0.0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotators", type=int, default=30)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--kill-after", type=int, default=0, help="SIGKILL the server after this many labels")
    parser.add_argument("--verbose", action="store_true", help="Print errors in full (with the page's state)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(soak(args, Path(folder)))
    errors = result.pop("errors")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"{'errors':<{width}}  {len(errors)}")
    for error in errors[:20]:
        print(f"  {error[:3000] if args.verbose else error[:300]}")


if __name__ == "__main__":
    main()
