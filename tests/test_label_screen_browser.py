"""The label screen in Debian chromium, keys only: fast key sequences store exactly the intended
labels, rubric items take one key per criterion, and item text loads nothing from other hosts.

Helpers (start_app, settle, screenshots) come from tests/test_browser.py.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import storage
from annotate.config import Criterion, ProjectConfig
from annotate.data.importers import import_file
from annotate.labeling.annotators import add_annotator
from annotate.projects import create_project
from test_browser import CHROMIUM, CHROMIUM_ARGS, save_screenshot, start_app

pytestmark = pytest.mark.browser

GAPS_MS = (0, 50, 100, 300, 1000)
ROOT_SELECTOR = ".lk-root"


def make_server(tmp_path: Path, name: str, config: ProjectConfig, rows: list[dict], annotator: str = "ann"):
    """A database with one project and one annotator, and the app running on it: (url, token, db, stop)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path / f"{name}.duckdb"
    data = tmp_path / f"{name}.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in rows))
    conn = storage.connect(db_path)
    import_file(conn, create_project(conn, name, config), data)
    _, token = add_annotator(conn, annotator)
    conn.close()
    url, stop = start_app(db_path)
    return url, token, db_path, stop


def open_screen(p, url: str, token: str, width: int = 1280):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{url}/?token={token}")
    wait_ready(page)
    return browser, page


def wait_ready(page, other_than: str | None = None) -> str:
    """Wait until the controls show a form (another than `other_than`) and accept keys; its nonce."""
    page.wait_for_function(
        """(old) => { const r = document.querySelector('.lk-root');
                      return r && r.dataset.state === 'ready' && r.dataset.nonce !== old; }""",
        arg=other_than or "", timeout=20_000)
    return page.get_attribute(ROOT_SELECTOR, "data-nonce")


def screen_state(page) -> dict:
    return page.evaluate("""() => { const r = document.querySelector('.lk-root');
        const s = r.querySelector('.lk-row[data-row="overall"] .lk-selected');
        return {item: Number(r.dataset.item), nonce: r.dataset.nonce, state: r.dataset.state,
                selected: s ? Number(s.dataset.value) : null}; }""")


def stored_labels(db_path: Path) -> dict[int, float]:
    """Current labels by item, as chosen on screen (the stored canonical value un-flipped)."""
    conn = storage.connect(db_path)
    events = storage.labels.label_events_frame(storage.cursor(conn), 1)
    conn.close()
    labels = events[events["kind"] == "label"]
    return {int(e.item_id): e.label_values[0]["value"] * (1 if e.presented_order == "AB" else -1)
            for e in labels.itertuples()}


def pairwise_rows(n: int) -> list[dict]:
    return [{"id": f"i{i}", "prompt": f"Question number {i}?", "response_a": f"First answer {i}.",
             "response_b": f"Second answer {i}, a little longer."} for i in range(n)]


def test_fast_keys_after_a_submit_never_change_a_stored_label_and_never_carry_over(tmp_path):
    """5, Ctrl+Enter, then 2 after 0-1000 ms: the item gets 5 ("B is much better"); the 2 is either
    refused (it arrived while the submit was in flight) or a choice on the next item, which the
    annotator saw; a double Ctrl+Enter stores one label. Checked in the database."""
    from playwright.sync_api import sync_playwright
    config = ProjectConfig(task_type="pairwise", overlap=1, ask_confidence=False, justification="off")
    url, token, db_path, stop = make_server(tmp_path, "fast", config, pairwise_rows(len(GAPS_MS) * 2 + 4))
    expected: dict[int, float] = {}
    try:
        with sync_playwright() as p:
            browser, page = open_screen(p, url, token)
            nonce = wait_ready(page)
            for gap in GAPS_MS:
                item = screen_state(page)["item"]
                page.keyboard.press("5")
                page.keyboard.press("Control+Enter")
                page.wait_for_timeout(gap)
                page.keyboard.press("2")
                expected[item] = 2.0  # "B is much better"
                nonce = wait_ready(page, nonce)
                page.wait_for_timeout(150)  # a key still on its way lands now, if at all
                now = screen_state(page)
                assert now["item"] != item and now["selected"] in (None, -1.0), (gap, now)
                if now["selected"] is None:  # the 2 was refused: the new item starts empty
                    page.keyboard.press("3")
                    expected[now["item"]] = 0.0
                else:  # the 2 arrived when this item was on screen: the annotator chose it here
                    expected[now["item"]] = -1.0
                page.keyboard.press("Control+Enter")
                nonce = wait_ready(page, nonce)
            item = screen_state(page)["item"]
            page.keyboard.press("1")
            page.keyboard.press("Control+Enter")
            page.keyboard.press("Control+Enter")  # double-pressed
            expected[item] = -2.0
            nonce = wait_ready(page, nonce)
            page.wait_for_timeout(500)
            assert screen_state(page)["selected"] is None
            browser.close()
    finally:
        stop()
    assert stored_labels(db_path) == expected


def test_rubric_takes_one_key_per_criterion_and_one_to_submit(tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly
    criteria = [Criterion(name=name, scores={1: "Poor", 2: "Fair", 3: "Good"})
                for name in ("correctness", "clarity", "tone")]
    config = ProjectConfig(task_type="rubric", overlap=1, criteria=criteria, ask_confidence=False)
    rows = [{"id": f"r{i}", "prompt": f"Name a prime number ({i}).", "response": "Seven."} for i in range(2)]
    url, token, db_path, stop = make_server(tmp_path, "rubric", config, rows)
    try:
        with sync_playwright() as p:
            browser, page = open_screen(p, url, token)
            nonce = wait_ready(page)
            current = page.locator(".lk-row[aria-current='true']")
            expect(current).to_have_attribute("data-row", "0:correctness")
            for key, row in zip("312", ("0:clarity", "0:tone", "0:tone")):
                page.keyboard.press(key)
                expect(current).to_have_attribute("data-row", row)  # the digit moved on (not past the last)
            save_screenshot(page, tmp_path, "rubric-keys.png")
            page.keyboard.press("Control+Enter")
            nonce = wait_ready(page, nonce)
            for key in ("1", "1", "1", "ArrowUp", "3", "Shift+Tab", "ArrowRight"):
                page.keyboard.press(key)  # back to clarity: 1 -> 3; back again, ArrowRight keeps the top score
            expect(page.locator(".lk-row[data-row='0:clarity'] .lk-selected")).to_have_attribute("data-value", "3")
            page.keyboard.press("Control+Enter")
            expect(page.get_by_text("Nothing left for you to label")).to_be_visible(timeout=15_000)
            browser.close()
    finally:
        stop()
    conn = storage.connect(db_path)
    labels = storage.labels.current_label_values(storage.cursor(conn), 1)
    conn.close()
    by_item = labels.groupby("item_id").apply(lambda g: dict(zip(g["aspect"], g["value"])), include_groups=False)
    assert by_item.tolist() == [{"clarity": 1.0, "correctness": 3.0, "tone": 2.0},
                                {"clarity": 3.0, "correctness": 1.0, "tone": 1.0}]


def test_skip_and_flag_keys_put_the_cursor_in_their_box_and_confirm_with_enter(tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly
    config = ProjectConfig(task_type="pairwise", overlap=1)
    url, token, db_path, stop = make_server(tmp_path, "notes", config, pairwise_rows(3))
    try:
        with sync_playwright() as p:
            browser, page = open_screen(p, url, token, width=390)
            nonce = wait_ready(page)
            page.keyboard.press("f")
            assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Flag comment"
            page.keyboard.type("The prompt is cut off")
            save_screenshot(page, tmp_path, "flag-390.png")
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('.lk-root').dataset.state === 'ready' && "
                                   "!document.querySelector('.lk-panel')")
            expect(page.get_by_text("Flag sent to the researchers")).to_be_visible()
            page.keyboard.press("s")
            assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Reason for skipping"
            page.keyboard.type("Outside what I know")  # replaces the selected default reason
            page.keyboard.press("Enter")
            wait_ready(page, nonce)
            expect(page.get_by_text("Skipped.")).to_be_visible()
            browser.close()
    finally:
        stop()
    conn = storage.connect(db_path)
    events = storage.labels.label_events_frame(storage.cursor(conn), 1)
    conn.close()
    assert events[["kind", "note"]].values.tolist() == [["flag", "The prompt is cut off"],
                                                         ["skip", "Outside what I know"]]


@pytest.mark.parametrize("width", [1024, 390])
def test_scale_buttons_and_panels_are_not_cut_off(tmp_path, width):
    from playwright.sync_api import sync_playwright
    url, token, _, stop = make_server(tmp_path, "layout", ProjectConfig(task_type="pairwise", overlap=1,
                                                                          highlight_diff=True), pairwise_rows(2))
    try:
        with sync_playwright() as p:
            browser, page = open_screen(p, url, token, width=width)
            page.keyboard.press("s")
            clipped = page.evaluate("""() => [...document.querySelectorAll('.lk-root button, .lk-root label, .lk-note')]
                .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth)
                .map(e => e.textContent)""")
            save_screenshot(page, tmp_path, f"label-{width}.png")
            assert clipped == []
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            browser.close()
    finally:
        stop()


class _Counter(BaseHTTPRequestHandler):
    """Counts requests; stands in for a tracking image host."""
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(b"\x89PNG\r\n\x1a\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    _Counter.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Counter.hits
    server.shutdown()


@pytest.mark.parametrize("is_allowed", [False, True], ids=["not-allowed", "allowed-host"])
def test_item_images_load_only_from_a_host_the_project_allows(tmp_path, image_host, is_allowed):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly
    host, hits = image_host
    rows = [{"id": "img", "prompt": f"Look: ![tracker]({host}/prompt.png) and [the docs]({host}/docs)",
             "response_a": f"A ![a]({host}/a.png)", "response_b": f"B ![b][ref]\n\n[ref]: {host}/b.png"}]
    config = ProjectConfig(task_type="pairwise", overlap=1, highlight_diff=True,
                           allowed_image_hosts=["127.0.0.1"] if is_allowed else [])
    url, token, _, stop = make_server(tmp_path, "images", config, rows, annotator=f"ann ![me]({host}/name.png)")
    try:
        with sync_playwright() as p:
            browser, page = open_screen(p, url, token)
            page.keyboard.press("d")  # the highlighted version is checked too
            page.wait_for_timeout(1500)
            link = page.get_by_role("link", name="the docs")
            expect(link).to_have_attribute("target", "_blank")
            assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}
            for name in ("My history", "My progress"):
                page.get_by_role("link", name=name).click()
                page.wait_for_timeout(1500)
            browser.close()
    finally:
        stop()
    assert ("/name.png" in hits) is False  # a name is never markup
    if is_allowed:
        assert "/prompt.png" in hits and "/a.png" in hits
    else:
        assert [h for h in hits if h.endswith(".png")] == []
