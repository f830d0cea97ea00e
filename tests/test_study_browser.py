"""A crowd study in Debian chromium: a participant enters through the study link with PROLIFIC_PID,
accepts the consent form and the instructions, does the practice items (and sees the feedback as
their screen laid the item out), answers an attention check wrong and still finishes, gets the
completion code and the link back to Prolific; a second visit with the same id continues where it
left and, once done, shows the code again. A participant who fails too many attention checks is
stopped with a polite message. Ten participants at once keep k exact.

The study is tests/study_setup.py's: practice items t1 (expects the answer naming Paris) and t2
(expects "Red is a primary colour"), attention checks c1 (BANANA) and c2 (CHERRY).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import storage
from conftest import free_port
from study_setup import CODE, TRAINING_EXPLANATION, make_study
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, save_screenshot, settle, wait_healthy

pytestmark = pytest.mark.browser

PORTS = range(8741, 8750)  # this area's ports for the servers these tests start; any free port otherwise
PID = "5f0c1d2e3a4b5c6d7e8f9a0b"
# The right answer of each practice and attention item: the response that says this.
RIGHT = {"capital of France": "Paris", "primary colour": "Red is a primary", "BANANA": "BANANA", "CHERRY": "CHERRY"}
WRONG = {"capital of France": "trains", "primary colour": "Bananas", "BANANA": "APPLE", "CHERRY": "GRAPE"}


def start_app(db_path: Path):
    """`streamlit run app.py` on a port of this area against db_path; return (url, stop)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    port = free_port(PORTS)
    env = {**os.environ, storage.db.DB_ENV_VAR: str(db_path), "ANNOTATE_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=tempfile.TemporaryFile(), stderr=subprocess.STDOUT)  # never an unread pipe

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)

    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except Exception:
        stop()
        raise
    return url, stop


def enter(page, url: str, query: str) -> None:
    """Open the study link and wait until its parameters left the address bar and the page settled."""
    page.goto(f"{url}/?{query}")
    page.wait_for_function("!new URL(window.location.href).searchParams.has('study')", timeout=30_000)
    settle(page)


def response_side(page, text: str) -> str:
    """'A' or 'B': which response on screen contains `text`."""
    return page.evaluate("""(text) => {
        const boxes = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')];
        const box = boxes.find((b) => /^Response [AB]/.test(b.innerText.trim()) && b.innerText.includes(text));
        return box ? box.innerText.trim().charAt(9) : null; }""", text)


def answer(page, choose: dict[str, str]) -> None:
    """Answer the item on screen: for a known item the response named in `choose`, else a tie."""
    from playwright.sync_api import expect
    settle(page)
    # The script run can be over before the controls mount (they draw a moment later, in the browser):
    # wait for them, or for the end of the study (its page always says so in a message box).
    page.wait_for_function("() => document.querySelector('.lk-root[data-state=ready]') !== null || "
                           "document.querySelector('[data-testid=stAlert]') !== null", timeout=30_000)
    if not page.locator(".lk-root").count():  # the study ended for this participant meanwhile
        return
    prompt = page.locator("[data-testid='stMarkdownContainer']", has_text="Prompt").first.inner_text()
    key = next((choose[k] for k in choose if k in prompt), None)
    digit = "3" if key is None else ("1" if response_side(page, key) == "A" else "5")
    nonce = page.evaluate("() => document.querySelector('.lk-root').dataset.nonce")
    page.keyboard.press(digit)
    expect(page.locator(".lk-option.lk-selected")).to_have_count(1)
    page.keyboard.press("Control+Enter")
    # Submitted: this form is gone (a new item, the feedback or the end page replaced it).
    page.wait_for_function("(old) => { const r = document.querySelector('.lk-root'); "
                           "return !r || r.dataset.nonce !== old || r.dataset.state === 'sending'; }",
                           arg=nonce, timeout=30_000)


def test_participant_enters_with_prolific_pid_trains_and_gets_the_completion_code(tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=20_000)  # a loaded machine redraws slowly
    db_path, secret = make_study(tmp_path, quota=4, attention_positions=(2,), max_failures=1)
    url, stop = start_app(db_path)
    link = f"study={secret}&PROLIFIC_PID={PID}&STUDY_ID=65aa&SESSION_ID=s-1"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            enter(page, url, link)
            assert PID not in page.url and "study=" not in page.url
            expect(page.get_by_role("heading", name="Consent").first).to_be_visible()
            expect(page.locator("[data-testid='stSidebar']")).to_have_count(0)  # no project list, no other page
            save_screenshot(page, tmp_path, "study-consent-1280.png")
            page.get_by_role("button", name="I agree to take part").click()
            expect(page.get_by_text("Choose the answer that is")).to_be_visible()
            page.get_by_role("button", name="I have read the instructions").click()

            expect(page.get_by_text("Practice item 1 of 2")).to_be_visible()
            paris = response_side(page, "Paris")
            answer(page, RIGHT)
            expect(page.get_by_text("Your answer matches the expected answer.")).to_be_visible()
            expect(page.get_by_text(f"response {paris} is better", exact=False)).to_be_visible()  # as shown
            expect(page.get_by_text(TRAINING_EXPLANATION)).to_be_visible()
            expect(page.get_by_text("Keys:")).to_have_count(0)  # no controls here, so no key hints
            save_screenshot(page, tmp_path, "study-feedback-1280.png")
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_text("Practice item 2 of 2")).to_be_visible()
            answer(page, WRONG)
            expect(page.get_by_text("Your answer differs from the expected answer.")).to_be_visible()
            page.get_by_role("button", name="Continue").click()

            expect(page.get_by_text("Item 1 of 4")).to_be_visible()
            expect(page.get_by_role("button", name="Skip")).to_have_count(0)  # participants have no skip
            expect(page.locator(".lk-root")).to_have_attribute("data-item", "on-screen")  # no database id in the page
            answer(page, RIGHT)
            expect(page.get_by_text("Item 2 of 4")).to_be_visible()  # the attention check, like any item

            second = browser.new_context(viewport={"width": 390, "height": 844})  # another browser, same id
            other = second.new_page()
            enter(other, url, link)
            expect(other.get_by_text("Item 2 of 4")).to_be_visible()  # continues; no consent again
            save_screenshot(other, tmp_path, "study-item-390.png")
            second.close()

            answer(page, WRONG)  # one failed check is allowed (max 1)
            expect(page.get_by_text("Item 3 of 4")).to_be_visible()
            answer(page, RIGHT)
            expect(page.get_by_text("Item 4 of 4")).to_be_visible()
            answer(page, RIGHT)
            expect(page.get_by_text("You have finished the study")).to_be_visible()
            expect(page.get_by_text(CODE, exact=True)).to_be_visible()
            back = page.get_by_role("link", name="Return to the study platform")
            assert back.get_attribute("href") == f"https://app.prolific.com/submissions/complete?cc={CODE}"
            save_screenshot(page, tmp_path, "study-done-1280.png")

            later = browser.new_context(viewport={"width": 390, "height": 844})
            again = later.new_page()
            enter(again, url, link)
            expect(again.get_by_text(CODE, exact=True)).to_be_visible()  # the code on every later visit
            save_screenshot(again, tmp_path, "study-done-390.png")
            again.reload()
            settle(again)
            expect(again.get_by_text(CODE, exact=True)).to_be_visible()  # the session cookie resumes it
            for other_page in ("history", "analysis", "study"):  # no other page, even by its address
                again.goto(f"{url}/{other_page}")
                settle(again)
                expect(again.get_by_text(CODE, exact=True)).to_be_visible()
                assert "My recent labels" not in again.content() and "Study link" not in again.content()
            browser.close()
    finally:
        stop()
    conn = storage.connect(db_path)
    row = conn.execute("SELECT status, completion_code, platform, study_id, session_id, code_issued_at IS NOT NULL "
                       "FROM study_participants").fetchall()
    labels = conn.execute("SELECT count(*) FROM label_events WHERE kind = 'label'").fetchone()[0]
    conn.close()
    assert row == [("completed", CODE, "prolific", "65aa", "s-1", True)]
    assert labels == 3  # the real items; practice and check answers are not labels


def test_participant_who_fails_too_many_attention_checks_is_stopped_politely(tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=20_000)
    db_path, secret = make_study(tmp_path, quota=4, training=0, consent=False, attention_positions=(1, 2),
                                 max_failures=0)
    url, stop = start_app(db_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 390, "height": 844})
            enter(page, url, f"study={secret}&workerId=A1B2C3D4E5&assignmentId=3XYZ&hitId=H9")
            expect(page.get_by_text("Item 1 of 4")).to_be_visible()
            answer(page, WRONG)
            expect(page.get_by_text("Thank you for your time")).to_be_visible()
            settle(page)
            expect(page.locator(".lk-root")).to_have_count(0)  # no item any more, no controls
            text = page.locator("[data-testid='stMain']").inner_text()
            assert "fail" not in text.lower() and "Item 2" not in text
            save_screenshot(page, tmp_path, "study-stopped-390.png")
            browser.close()
    finally:
        stop()
    conn = storage.connect(db_path)
    assert conn.execute("SELECT status, excluded FROM study_participants").fetchall() == [("stopped_attention", True)]
    conn.close()


def test_ten_participants_at_once_keep_k_exact(tmp_path):
    """Ten browser contexts enter at once and label until the study has nothing left: every item
    ends with exactly k = 2 labels, and nobody labels an item twice."""
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=60_000)  # ten sessions on a loaded machine
    db_path, secret = make_study(tmp_path, n_real=6, quota=3, training=0, consent=False, attention_positions=(),
                                 overlap=2)
    url, stop = start_app(db_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [browser.new_context(viewport={"width": 1000, "height": 800}).new_page() for _ in range(10)]
            for n, page in enumerate(pages):
                page.set_default_timeout(60_000)
                page.goto(f"{url}/?study={secret}&pid=worker{n}")
            for _ in range(3):  # up to the quota, in turns: the server sees the sessions interleaved
                for page in pages:
                    if page.get_by_text("You have finished the study").count() or \
                            page.get_by_text("no item for you").count():
                        continue
                    page.wait_for_function("document.querySelector('.lk-root[data-state=ready]') !== null || "
                                           "document.body.innerText.includes('no item for you') || "
                                           "document.body.innerText.includes('finished the study')")
                    if page.locator(".lk-root").count():
                        answer(page, RIGHT)
            for page in pages:
                settle(page)
            browser.close()
    finally:
        stop()
    conn = storage.connect(db_path)
    per_item = dict(conn.execute("""SELECT i.external_id, count(*) FROM current_label_events e
                                    JOIN items i ON i.id = e.item_id WHERE e.kind = 'label' GROUP BY i.external_id
                                 """).fetchall())
    repeats = conn.execute("""SELECT count(*) FROM (SELECT annotator_id, item_id FROM label_events
                              WHERE kind = 'label' GROUP BY annotator_id, item_id HAVING count(*) > 1) t""").fetchone()[0]
    conn.close()
    assert per_item == {f"q{i}": 2 for i in range(6)} and repeats == 0
