"""Sessions in a real browser (Debian chromium): an invite link logs in without leaving the token in
the address bar or the history; a reload, a second tab and a server restart keep the session (a
cookie holding a session key); logging out ends it; Streamlit's developer shortcuts are not offered;
a forged X-Forwarded-For per attempt does not escape the login slow-down; invite links on the
Admin page use the address the app is served on."""
from __future__ import annotations

import os
import subprocess
import tempfile
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import storage
from annotate.data.demo import create_demo
from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LOGGED_IN = "text=Logged in as"
PORTS = range(8611, 8620)  # this area's ports for servers started by tests; any free port otherwise

def _output(proc: subprocess.Popen) -> str:
    """What the server printed (its stdout is a temporary file, never a pipe that could fill)."""
    proc.stdout.seek(0)
    return proc.stdout.read().decode(errors="replace")[-4000:]



class App:
    """`streamlit run app.py` on a database file, without $ANNOTATE_BASE_URL; restartable."""

    def __init__(self, db_path: Path) -> None:
        self.db_path, self.port, self.proc = db_path, free_port(PORTS), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ANNOTATE_BASE_URL"}
        env[storage.db.DB_ENV_VAR] = str(self.db_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=tempfile.TemporaryFile(), stderr=subprocess.STDOUT)  # a pipe nobody reads would fill and stall the server
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {_output(self.proc)}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"streamlit did not start at {self.url}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def demo_app(tmp_path):
    """A running app on a demo database; yields (app, {account name: invite token})."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path / "sessions.duckdb"
    conn = storage.connect(db_path)
    tokens = create_demo(conn)
    conn.close()
    app = App(db_path)
    app.start()
    yield app, tokens
    app.stop()


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def settle(page) -> None:
    from playwright.sync_api import expect
    expect(page.locator("[data-test-script-state='notRunning']")).to_have_count(1, timeout=20_000)


def href(page) -> str:
    return page.evaluate("window.location.href")


def test_a_session_survives_reload_second_tab_and_restart_and_the_token_leaves_no_trace(demo_app, chromium):
    app, tokens = demo_app
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("about:blank")
    page.goto(f"{app.url}/?token={tokens['demo-annotator']}")
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    settle(page)
    page.wait_for_function("!window.location.search.includes('token')", timeout=10_000)
    assert page.evaluate("history.length") == 2  # about:blank and the app, the token's entry replaced
    cookie = next(c for c in context.cookies() if c["name"] == "annotate_session")
    assert tokens["demo-annotator"] not in cookie["value"] and cookie["sameSite"] == "Strict"
    page.go_back()
    assert page.url == "about:blank"
    page.go_forward()
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    assert "token" not in href(page)

    page.reload()  # F5
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    second = context.new_page()  # a second tab
    second.goto(app.url)
    second.wait_for_selector(LOGGED_IN, timeout=30_000)
    again = context.new_page()  # the invite link once more, in a third tab: the session stays the same
    again.goto(f"{app.url}/?token={tokens['demo-annotator']}")
    again.wait_for_selector(LOGGED_IN, timeout=30_000)
    again.close()
    second.get_by_role("link", name="My history").click()  # the other tabs' session still works
    settle(second)
    assert second.locator(LOGGED_IN).count() == 1 and second.get_by_text("Invite token").count() == 0

    app.stop()
    app.start()  # the session is in the database, the key in the cookie
    page.reload()
    page.wait_for_selector(LOGGED_IN, timeout=30_000)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_selector("text=Invite token", timeout=30_000)
    settle(page)
    assert not [c for c in context.cookies() if c["name"] == "annotate_session"]
    second.reload()
    second.wait_for_selector("text=Invite token", timeout=30_000)
    assert second.locator(LOGGED_IN).count() == 0
    context.close()


def test_the_token_form_logs_in_without_a_token_in_any_address(demo_app, chromium):
    app, tokens = demo_app
    context = chromium.new_context()
    page = context.new_page()
    addresses = []
    page.on("framenavigated", lambda frame: addresses.append(frame.url))
    page.goto(f"{app.url}/?token=a-mistyped-link")  # first a wrong link, then the form
    page.wait_for_selector("text=not valid", timeout=30_000)
    assert page.get_by_text("admin", exact=True).count() == 0  # no list of page files for visitors
    page.get_by_role("textbox", name="Invite token").fill(tokens["admin"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    settle(page)
    assert tokens["admin"] not in href(page) and page.evaluate("history.length") == 2  # about:blank, the app
    page.reload()
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    assert not [a for a in addresses if tokens["admin"] in a]
    context.close()


def test_c_then_enter_neither_clears_caches_nor_logs_out(demo_app, chromium):
    """Streamlit's developer menu is hidden (client.toolbarMode = "viewer" in .streamlit/config.toml)."""
    app, tokens = demo_app
    page = chromium.new_page()
    page.goto(f"{app.url}/?token={tokens['demo-annotator']}")
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    settle(page)
    page.mouse.click(5, 400)
    page.keyboard.press("c")
    page.wait_for_timeout(500)
    assert page.get_by_text("Clear caches").count() == 0
    page.keyboard.press("Enter")
    page.keyboard.press("r")
    page.wait_for_timeout(1500)
    settle(page)
    assert page.locator(LOGGED_IN).count() == 1
    assert page.get_by_role("button", name="Deploy").count() == 0
    page.locator("[data-testid='stMainMenu']").click()
    page.wait_for_timeout(500)
    assert page.get_by_text("Clear cache").count() == 0 and page.get_by_text("Rerun").count() == 0


def test_a_new_forwarded_address_per_attempt_is_still_counted_as_one_client(demo_app, chromium):
    """Before: uvicorn believed X-Forwarded-For from any local client, so each forged address had
    its own failure counter and 9 wrong tokens went through without slow-down."""
    app, _ = demo_app
    page = chromium.new_page()
    for attempt in range(3):
        page.set_extra_http_headers({"X-Forwarded-For": f"203.0.113.{attempt + 1}"})
        page.goto(f"{app.url}/?token={attempt}-wrong-guess")  # a new target each time: the address counts
        page.wait_for_selector("[data-testid='stAlertContentError']", timeout=30_000)
        assert "not valid" in page.locator("[data-testid='stAlertContentError']").first.inner_text()
    app.stop()  # DuckDB allows one process per file
    conn = storage.connect(app.db_path)
    clients = conn.execute("SELECT DISTINCT client FROM login_failures").fetchall()
    conn.close()
    assert clients == [("127.0.0.1",)]  # the connection's own address, not the forged ones


def test_the_admin_page_gives_invite_links_on_the_address_the_app_is_served_on(demo_app, chromium):
    app, tokens = demo_app
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{app.url}/?token={tokens['admin']}")
    page.wait_for_selector(LOGGED_IN, timeout=30_000)
    page.get_by_role("link", name="Annotators").click()
    page.wait_for_selector("text=Create and invite", timeout=30_000)
    page.get_by_role("textbox", name="Name").fill("carol")
    page.get_by_role("button", name="Create and invite").click()
    page.wait_for_selector("text=shown only once", timeout=30_000)
    link = page.locator("[data-testid='stCode'] code").first.inner_text().strip()
    assert link.startswith(f"{app.url}/?token=")
    other = chromium.new_page()
    other.goto(link)
    other.wait_for_selector("text=Logged in as carol", timeout=30_000)


def test_the_first_visit_after_a_start_to_a_page_address_shows_only_the_login_form(demo_app, chromium):
    """Streamlit runs a fresh server's first script run in its `pages/` directory mode, which ran
    pages/admin.py without app.py and listed every file of pages/ in the sidebar."""
    app, _ = demo_app
    page = chromium.new_page()
    page.goto(f"{app.url}/admin")
    page.wait_for_selector("text=Invite token", timeout=30_000)
    settle(page)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    assert page.get_by_text("session", exact=True).count() == 0
