"""The label keys after the controls are mounted again, in Debian chromium.

Streamlit loads the controls' module asynchronously, so when the component is re-mounted the old
mount's call can land after the new mount's, on a container that has left the page (and Streamlit
then runs that call's cleanup at once). The digit keys must still reach the controls on screen:
a late call into a detached container must neither take the keys nor switch them off.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import storage
from annotate.config import ProjectConfig
from annotate.data.importers import import_file
from annotate.labeling.annotators import add_annotator
from annotate.projects import create_project
from conftest import free_port
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, wait_healthy
from test_label_screen_browser import pairwise_rows, screen_state, stored_labels, wait_ready

pytestmark = pytest.mark.browser

PORTS = range(8771, 8776)  # this area's ports
MODULE = ROOT / "pages" / "components" / "label_keys" / "label_keys.js"

# Load the controls' module again (a new evaluation in the same tab, as after a re-mount) and call
# it the way Streamlit calls an old mount whose call arrives late, with data for the form on screen:
# 'detached': on a container no longer in the page; 'cancelled': the same, and its cleanup runs right
# after, as Streamlit does for a call it had already cancelled; 'removed-after': the old container is
# still in the page (a stale element during a run) when the call lands, and is removed afterwards,
# which runs the cleanup. Messages it would send land in window.__staleSent.
LATE_CALL = """async ([source, how]) => {
    const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
    const module = await import(url);
    const live = document.querySelector('.lk-root');
    const gone = document.createElement('div');  // the old mount's container
    document.body.appendChild(gone);
    if (how !== 'removed-after') gone.remove();  // detached before its call lands
    window.__staleSent = [];
    const options = [-2, -1, 0, 1, 2].map((value, i) => ({value, label: 'point ' + (i + 1), digit: String(i + 1)}));
    const data = {nonce: live.dataset.nonce, item_id: Number(live.dataset.item), rev: 0, mode: 'label',
                  submit_label: 'Submit', skip_default: 'skip', confidence: null, justification: null,
                  both_bad: null, diff: null,
                  rows: [{key: 'overall', title: 'Overall', group: null, options, value: null}]};
    const cleanup = module.default({name: 'stale', key: 'stale', data, parentElement: gone,
                                    setStateValue: () => {},
                                    setTriggerValue: (name, value) => window.__staleSent.push(value)});
    if (how === 'removed-after') gone.remove();
    if (how !== 'detached') await Promise.resolve(cleanup).then((fn) => fn && fn());
    return document.querySelectorAll('.lk-root').length;
}"""


@pytest.fixture
def app(tmp_path):
    """The app on a pairwise project with one annotator: yields (url, token, db_path, stop); stop the
    app before reading the database (DuckDB allows one process per file)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path / "remount.duckdb"
    data = tmp_path / "remount.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in pairwise_rows(6)))
    conn = storage.connect(db_path)
    import_file(conn, create_project(conn, "remount", ProjectConfig(task_type="pairwise", overlap=1)), data)
    _, token = add_annotator(conn, "ann")
    conn.close()
    port = free_port(PORTS)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, storage.db.DB_ENV_VAR: str(db_path), "ANNOTATE_BASE_URL": url}
    with tempfile.TemporaryFile() as log:  # a file, never a pipe nobody reads
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)

        try:
            wait_healthy(url, proc)
            yield url, token, db_path, stop
        finally:
            stop()


def _open(p, url: str, token: str):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/?token={token}")
    return browser, page


def _choose_and_submit(page, digit: str, value: float, expected: dict[int, float]) -> str:
    """Press a digit and Ctrl+Enter on the form on screen; checks the digit showed; the next nonce."""
    before = screen_state(page)
    assert before["state"] == "ready" and page.evaluate("document.activeElement === document.body")
    page.keyboard.press(digit)
    page.wait_for_function("""(v) => { const s = document.querySelector('.lk-root .lk-row[data-row="overall"] .lk-selected');
                                       return s && Number(s.dataset.value) === v; }""", arg=value, timeout=5_000)
    page.keyboard.press("Control+Enter")
    expected[before["item"]] = value
    return wait_ready(page, before["nonce"])


@pytest.mark.parametrize("how", ["detached", "cancelled", "removed-after"])
def test_digit_keys_reach_the_screen_when_an_old_mounts_call_lands_after_the_new_one(app, how):
    """One `.lk-root` on screen, ready, focus on the page body; an old mount's call lands late (see
    LATE_CALL): 2 still chooses and Ctrl+Enter still stores the label, and the old copy sends
    nothing. Checked in the database."""
    from playwright.sync_api import sync_playwright
    url, token, db_path, stop = app
    expected: dict[int, float] = {}
    source = MODULE.read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser, page = _open(p, url, token)
        wait_ready(page)
        assert page.evaluate(LATE_CALL, [source, how]) == 1
        _choose_and_submit(page, "2", -1.0, expected)
        assert page.evaluate(LATE_CALL, [source, how]) == 1  # again, on the next form
        _choose_and_submit(page, "4", 1.0, expected)
        assert page.evaluate("window.__staleSent") == []
        browser.close()
    stop()
    assert stored_labels(db_path) == expected


def test_digit_keys_work_after_the_screen_is_mounted_again_by_a_page_switch_or_a_reload(app):
    """Away to "My history" and back, twice, then a reload: each time a new `.lk-root` replaces the
    old one in the same tab, and a digit plus Ctrl+Enter stores that label."""
    from playwright.sync_api import sync_playwright
    url, token, db_path, stop = app
    expected: dict[int, float] = {}
    with sync_playwright() as p:
        browser, page = _open(p, url, token)
        wait_ready(page)
        for step, (digit, value) in enumerate((("1", -2.0), ("5", 2.0), ("3", 0.0))):
            page.evaluate("document.querySelector('.lk-root').dataset.old = 'yes'")
            if step < 2:
                page.get_by_role("link", name="My history").click()
                page.wait_for_function("!document.querySelector('.lk-root')", timeout=20_000)
                page.get_by_role("link", name="Label").click()
            else:
                page.reload()
            page.wait_for_function("""() => { const r = document.querySelectorAll('.lk-root');
                return r.length === 1 && !r[0].dataset.old && r[0].dataset.state === 'ready'; }""", timeout=20_000)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            _choose_and_submit(page, digit, value, expected)
        browser.close()
    stop()
    assert stored_labels(db_path) == expected
