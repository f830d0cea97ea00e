"""deploy/nginx.conf for real: nginx in front of two app servers on one PostgreSQL database.

The file is run as the manual check in its header says (HTTP only, the check's ports substituted,
a temporary prefix), with Debian's nginx, in front of two `streamlit run app.py` servers. Chromium
opens an invite link through the proxy and labels with keys (the WebSocket works through nginx); the
access log shows every request of that browser going to one app server (the route cookie) and no
invite token; then that app server is SIGKILLed and the same page labels the next item through the
other server without logging in again.

Needs nginx (`apt-get install nginx`), $ANNOTATE_TEST_PG and /usr/bin/chromium; without one of them
the test is skipped, which fails in strict mode (ANNOTATE_STRICT_SKIPS=1).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import storage
from annotate.clock import utc_now
from annotate.config import ProjectConfig
from annotate.data.importers import import_file
from annotate.labeling.annotators import add_annotator
from annotate.projects import create_project
from conftest import free_ports, postgres_schema_url
from test_browser import save_screenshot
from test_label_screen_browser import wait_ready
from test_scale_live import CHROMIUM, CHROMIUM_ARGS, ROOT, SCALE_PORTS, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFIG = ROOT / "deploy" / "nginx.conf"
SAVED = re.compile(r"Saved item (\d+) of your history")
PROMPT = re.compile(r"^Item p\d+:")
FIXTURE_ROUTE = "0" * 32  # the route cookie of the fixture's own health checks
LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<uri>\S+)" (?P<status>\d+) \d+ upstream=(?P<upstream>\S+(?:, \S+)*) '
                      r'route=(?P<route>\S+)')


def check_config(text: str, app_ports: list[int], proxy_port: int) -> str:
    """deploy/nginx.conf with the manual check's substitutions, made as its sed command makes them
    (also in comments); each must match exactly one line of configuration, so that the header's
    check and this test stay true to the file."""
    settings = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    for old, new in [("listen 80;", f"listen 127.0.0.1:{proxy_port};"),
                     ("127.0.0.1:8501", f"127.0.0.1:{app_ports[0]}"), ("127.0.0.1:8502", f"127.0.0.1:{app_ports[1]}")]:
        assert sum(old in line for line in settings) == 1, f"deploy/nginx.conf: {old!r} should be in one setting"
        text = text.replace(old, new)
    return text


def access_log(prefix: Path) -> list[dict]:
    lines = (prefix / "logs" / "access.log").read_text().splitlines()
    return [m.groupdict() | {"line": line} for line in lines if (m := LOG_LINE.search(line))]


@pytest.fixture
def proxied(tmp_path):
    """Two app servers and nginx in front of them: (proxy url, token, db url, project id, servers, nginx prefix)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx not installed (apt-get install nginx)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    for url in postgres_schema_url():
        data = tmp_path / "items.jsonl"
        data.write_text("\n".join(json.dumps({"id": f"p{i}", "prompt": f"Item p{i}: which answer is kinder?",
                                              "response_a": "Thank you!", "response_b": "Fine."}) for i in range(4)))
        conn = storage.connect(url)
        project = create_project(conn, "proxied", ProjectConfig(task_type="pairwise", overlap=1))
        import_file(conn, project, data)
        _, token = add_annotator(conn, "ann")
        conn.close()
        *app_ports, proxy_port = free_ports(3, SCALE_PORTS)
        proxy = f"http://127.0.0.1:{proxy_port}"
        env = {"ANNOTATE_TRUSTED_PROXIES": "127.0.0.1", "STREAMLIT_SERVER_COOKIE_SECRET": "nginx-check-secret",
               "ANNOTATE_BASE_URL": proxy}
        servers = [Server(url, port, tmp_path / f"app-{port}.log", env) for port in app_ports]
        prefix = tmp_path / "nginx"
        (prefix / "logs").mkdir(parents=True)
        (prefix / "nginx.conf").write_text(check_config(CONFIG.read_text(), app_ports, proxy_port))
        test = subprocess.run([nginx, "-t", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")],
                              capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        proc = None
        try:
            for server in servers:
                server.start()
            with (prefix / "nginx.out").open("w") as out:
                proc = subprocess.Popen([nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"),
                                         "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
            _wait_healthy(proxy)
            yield proxy, token, url, project.id, servers, prefix
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
            for server in servers:
                server.stop()


def _wait_healthy(url: str, timeout: float = 30) -> None:
    """Wait for the proxy to answer; these requests carry FIXTURE_ROUTE, so the test can tell their
    log lines from the browser's (nginx may write a line just after the client has its response)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"annotate_route={FIXTURE_ROUTE}"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_nginx_example_proxies_websockets_sticks_to_one_server_and_fails_over(proxied, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=60_000)  # a loaded machine redraws slowly
    proxy, token, url, project_id, servers, prefix = proxied
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{proxy}/?token={token}")
        nonce = wait_ready(page)
        page.wait_for_function("!window.location.search.includes('token')")
        page.keyboard.press("1")
        page.keyboard.press("Control+Enter")
        nonce = wait_ready(page, nonce)  # the next item's form: the submit went over the proxied WebSocket
        expect(page.get_by_text(SAVED)).to_have_text(re.compile("Saved item 1 of your history"))
        shown = page.get_by_text(PROMPT).first.inner_text()
        save_screenshot(page, tmp_path, "nginx-proxied-label.png")

        seen = access_log(prefix)
        lines = [entry for entry in seen if entry["route"] != FIXTURE_ROUTE]  # the browser's requests
        assert not [entry["line"] for entry in lines if "token=" in entry["line"]]
        assert {entry["route"] for entry in lines} == {lines[0]["route"]}, [e["line"] for e in lines]  # one browser, one route ...
        upstreams = {entry["upstream"] for entry in lines}
        assert len(upstreams) == 1  # ... one app server, the WebSocket included
        sticky = next(s for s in servers if upstreams == {f"127.0.0.1:{s.port}"})
        other = next(s for s in servers if s is not sticky)
        sticky.kill()

        nonce = wait_ready(page, nonce)  # reconnected through the other server: a new form for ...
        assert page.get_by_text(PROMPT).first.inner_text() == shown  # ... the same item (its lease is in the database)
        page.keyboard.press("2")
        page.keyboard.press("Control+Enter")
        wait_ready(page, nonce)
        expect(page.get_by_text(SAVED)).to_have_text(re.compile("Saved item 2 of your history"))
        save_screenshot(page, tmp_path, "nginx-after-failover.png")
        browser.close()

    after_kill = access_log(prefix)[len(seen):]
    # the WebSocket went through nginx (logged when the kill closed it: 101 Switching Protocols) ...
    assert any(e["uri"] == "/_stcore/stream" and e["status"] == "101" and e["upstream"] == f"127.0.0.1:{sticky.port}"
               for e in after_kill)
    # ... and the page reconnected through the other server
    assert any(e["uri"] == "/_stcore/stream" and e["upstream"].endswith(f"127.0.0.1:{other.port}") for e in after_kill)
    conn = storage.connect(url)
    try:
        cur = storage.cursor(conn)
        events = storage.labels.label_events_frame(cur, project_id)
        sessions = storage.sessions.count_sessions(cur, utc_now())
    finally:
        conn.close()
    assert events["kind"].tolist() == ["label", "label"]
    assert list(sessions.values()) == [1]  # the failover kept the login session
