"""End to end in Debian chromium: invite link, keyboard-only labeling, history edit, hostile text.

The app runs as `streamlit run app.py` on a free port against a temporary database; the test
drives it with Playwright. Screenshots go to the test's tmp_path (kept by pytest) and, when
$ANNOTATE_TEST_OUTPUT is set, also to that folder (e.g. test-output/, which git ignores).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import storage
from annotate.labeling.annotators import add_annotator
from annotate.config import ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE_PROMPT = "Explain this tag: <script>window.__xss = 1; alert('script ran')</script>"
HOSTILE_RESPONSE = 'An image: <img src=x onerror="window.__xss = 2; alert(\'onerror ran\')"> done'
ITEMS = [
    {"id": "x0", "prompt": HOSTILE_PROMPT, "response_a": HOSTILE_RESPONSE,
     "response_b": "A **bold** answer with a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```"},
    *({"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "response_a": f"It is {2 * i}.",
       "response_b": f"The sum of {i} and {i} is {2 * i}, because adding a number to itself doubles it.",
       "model_a": "model-alpha", "model_b": "model-beta"} for i in range(1, 4)),
]

def _output(proc: subprocess.Popen) -> str:
    """What the server printed (its stdout is a temporary file, never a pipe that could fill)."""
    proc.stdout.seek(0)
    return proc.stdout.read().decode(errors="replace")[-4000:]



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {_output(proc)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not start at {url}")


def start_app(db_path: Path):
    """Start `streamlit run app.py` on a free port against db_path; return (url, stop)."""
    port = free_port()
    env = {**os.environ, storage.db.DB_ENV_VAR: str(db_path), "ANNOTATE_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=tempfile.TemporaryFile(), stderr=subprocess.STDOUT)  # a pipe nobody reads would fill and stall the server

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)

    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return url, stop


@pytest.fixture
def server(tmp_path):
    """A running app with a pairwise project and one annotator; yields (url, token, db_path, stop)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path / "e2e.duckdb"
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(json.dumps(item) for item in ITEMS))
    conn = storage.connect(db_path)
    project = create_project(conn, "e2e", ProjectConfig(task_type="pairwise", overlap=1, highlight_diff=True))
    import_file(conn, project, data, mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    _, token = add_annotator(conn, "ann")
    conn.close()
    url, stop = start_app(db_path)
    yield url, token, db_path, stop
    stop()


def settle(page, controls: bool = False) -> None:
    """Wait until the script run finished and no stale element is left (keys go to live widgets).
    With `controls`, also wait until the label controls are mounted: they draw in the browser a
    moment after the script run ends, and a key pressed before that is lost."""
    from playwright.sync_api import expect
    expect(page.locator("[data-test-script-state='notRunning']")).to_have_count(1, timeout=15_000)
    expect(page.locator("[data-stale='true']")).to_have_count(0)
    if controls or page.locator(".lk-root").count():  # the label controls: mounted and not waiting for an answer
        expect(page.locator(".lk-root[data-state='ready']")).to_have_count(1)


def log_in(page, url: str, token: str) -> None:
    """Open the invite link and wait until the login has settled: the token is gone from the address
    bar (the browser ran the login's scripts) and the first item's controls accept keys."""
    page.goto(f"{url}/?token={token}")
    page.wait_for_function("!new URL(window.location.href).searchParams.has('token')", timeout=30_000)
    settle(page)


def save_screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if folder := os.environ.get("ANNOTATE_TEST_OUTPUT"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)


def test_keyboard_labeling_history_edit_and_hostile_text(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly

    url, token, db_path, stop = server
    dialogs, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        log_in(page, url, token)

        expect(page.get_by_text("Response A", exact=True)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("<script>window.__xss = 1; alert('script ran')</script>")).to_be_visible()
        expect(page.get_by_text('<img src=x onerror="window.__xss = 2;', exact=False)).to_be_visible()
        assert page.evaluate("window.__xss") is None
        assert page.locator("main img[src='x']").count() == 0 and "token=" not in page.url
        assert "model-alpha" not in page.content()
        save_screenshot(page, tmp_path, "pairwise.png")
        settle(page, controls=True)
        page.keyboard.press("d")  # these two answers differ almost everywhere: said, not painted
        expect(page.get_by_text("differ almost everywhere")).to_be_visible()
        expect(page.get_by_text('<img src=x onerror="window.__xss = 2;', exact=False)).to_be_visible()
        assert page.evaluate("window.__xss") is None and page.locator("main img[src='x']").count() == 0
        save_screenshot(page, tmp_path, "pairwise-diff.png")

        chosen = {"1": "A is much better", "3": "Tie", "5": "B is much better"}
        for done, key in enumerate(chosen, start=1):
            settle(page, controls=True)
            page.keyboard.press(key)
            expect(page.locator(".lk-option.lk-selected")).to_have_text(f"{key}{chosen[key]}")
            page.keyboard.press("Control+Enter")
            expect(page.get_by_text(f"{done} done", exact=False)).to_be_visible(timeout=15_000)
        expect(page.get_by_text("What is 3 plus 3?")).to_be_visible()

        page.get_by_role("link", name="My history").click()
        expect(page.get_by_text("My recent labels")).to_be_visible()
        expect(page.get_by_role("button", name="Edit")).to_have_count(3)
        assert "x0" not in page.locator("body").inner_text() and "q1" not in page.locator("body").inner_text()
        save_screenshot(page, tmp_path, "history.png")
        page.get_by_role("button", name="Edit").last.click()
        expect(page.get_by_text("Editing your label of item 1 of your history")).to_be_visible()
        settle(page, controls=True)
        page.keyboard.press("2")
        expect(page.locator(".lk-option.lk-selected")).to_have_text("2A is slightly better")
        page.locator(".lk-submit").click()
        expect(page.get_by_text("Editing your label")).to_have_count(0)
        assert dialogs == [] and errors == []
        browser.close()

    stop()
    conn = storage.connect(db_path)
    events = storage.labels.label_events_frame(storage.cursor(conn), 1)
    conn.close()
    assert events["kind"].tolist() == ["label"] * 4
    assert events["supersedes"].iloc[3] == events["event_id"].iloc[0]
    assert events["external_id"].tolist() == ["x0", "q1", "q2", "x0"]


@pytest.fixture
def rubric_server(tmp_path):
    """A running app with a rubric project (2 criteria, 1-3) and one annotator; yields
    (url, token, db_path, stop)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    from annotate.config import Criterion
    db_path = tmp_path / "rubric.duckdb"
    data = tmp_path / "rubric.jsonl"
    data.write_text(json.dumps({"id": "r1", "prompt": "Name a prime number.", "response": "Seven."}))
    conn = storage.connect(db_path)
    criteria = [Criterion(name="correctness", scores={1: "Wrong", 2: "Partly right", 3: "Right"}),
                Criterion(name="clarity", scores={1: "Confusing", 2: "Readable", 3: "Clear"})]
    project = create_project(conn, "rubric-e2e", ProjectConfig(task_type="rubric", overlap=1, criteria=criteria,
                                                               ask_confidence=False))
    import_file(conn, project, data)
    _, token = add_annotator(conn, "rater")
    conn.close()
    url, stop = start_app(db_path)
    yield url, token, db_path, stop
    stop()


def test_rubric_item_is_labeled_with_the_keyboard_only(rubric_server, tmp_path):
    """A digit scores the current criterion and moves on; Ctrl+Enter submits from anywhere."""
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly

    url, token, db_path, stop = rubric_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, url, token)
        expect(page.get_by_text("Seven.")).to_be_visible(timeout=30_000)
        settle(page, controls=True)
        page.keyboard.press("3")
        page.keyboard.press("3")
        expect(page.locator(".lk-option.lk-selected")).to_have_count(2)
        save_screenshot(page, tmp_path, "rubric.png")
        page.keyboard.press("Control+Enter")
        expect(page.get_by_text("Nothing left for you to label")).to_be_visible(timeout=15_000)
        browser.close()
    stop()
    conn = storage.connect(db_path)
    labels = storage.labels.current_label_values(storage.cursor(conn), 1)
    conn.close()
    assert sorted(zip(labels["aspect"], labels["value"])) == [("clarity", 3.0), ("correctness", 3.0)]
