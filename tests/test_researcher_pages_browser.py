"""Every researcher page in Debian chromium at 1280 px, on PandaLM, on the demo (pairwise and
rubric) and on a project with 30 raters: no exception, every chart's plot area at least 200 px high, every rater name in the
rendered chart. Screenshots go to the test's tmp_path and, with $ANNOTATE_TEST_OUTPUT (e.g.
test-output/, git-ignored, kept as CI artifacts), to that folder too."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import storage
from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.data.adapters import import_items
from annotate.config import ProjectConfig
from annotate.data.demo import create_demo
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project
from annotate.labeling.annotators import add_annotator

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PAGES = ["Analysis", "Review", "Export", "Judges", "Router", "Projects"]
ANALYSIS_TABS = {"pairwise": ["Judges vs humans", "Raters", "Annotators", "Bias", "Rankings"],
                 "rubric": ["Judges vs humans", "Raters"]}
MIN_PLOT_PX = 200


def free_port() -> int:
    """$ANNOTATE_TEST_PORT when set (engineers sharing a machine each keep to a range), else a free one."""
    if os.environ.get("ANNOTATE_TEST_PORT"):
        return int(os.environ["ANNOTATE_TEST_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MANY, N_MANY = "thirty-raters", 30


def add_many_raters(conn, path: Path) -> None:
    """A pairwise project with 30 human raters with long names and one judge (seeded labels)."""
    rng = np.random.default_rng(0)
    humans = {f"annotator-with-a-long-name-{i:02d}": f"h{i}" for i in range(N_MANY)}
    rows = []
    for k in range(40):
        truth = rng.choice(["A", "B", "tie"], p=[0.45, 0.45, 0.1])
        row = {"id": f"m{k}", "prompt": f"Question {k}", "response_a": f"Answer A{k}", "response_b": f"Answer B{k}",
               "model_a": f"model-{k % 4}", "model_b": f"model-{(k + 1) % 4}",
               "judge": truth if rng.random() < 0.7 else rng.choice(["A", "B"])}
        row.update({column: truth if rng.random() < 0.8 else rng.choice(["A", "B", "tie"])
                    for column in humans.values()})
        rows.append(row)
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(conn, MANY, ProjectConfig(task_type="pairwise", overlap=N_MANY))
    import_file(conn, project, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b", human_labels=humans,
                                                          judge_labels={"a-judge-with-a-long-name": "judge"}))


@pytest.fixture(scope="module")
def app(tmp_path_factory, pandalm_dir):
    """The app on a database with PandaLM and the demo; yields (url, admin token, {project: rater names})."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path_factory.mktemp("pages") / "pages.duckdb"
    conn = storage.connect(db_path)
    import_items(conn, "pandalm", pandalm_dir, adapter="pandalm")
    create_demo(conn)
    add_many_raters(conn, tmp_path_factory.mktemp("many") / "many.jsonl")
    _, token = add_annotator(conn, "rita", "admin")
    raters = {}
    for project in ("pandalm", "demo-pairwise", "demo-rubric", MANY):
        aspect = "helpfulness" if project == "demo-rubric" else "overall"
        pairs = build_report(conn, project, ReportFilters(aspect=aspect, n_boot=0)).pairs
        raters[project] = sorted(set(pairs["rater_a"]) | set(pairs["rater_b"]))
    conn.close()
    port = free_port()
    env = {**os.environ, storage.db.DB_ENV_VAR: str(db_path), "ANNOTATE_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # an unread pipe fills and stalls the server
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
    yield url, token, raters
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def settle(page) -> None:
    from playwright.sync_api import expect
    page.wait_for_timeout(300)
    expect(page.locator("[data-test-script-state='notRunning']")).to_have_count(1, timeout=60_000)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=30_000)


def shoot(page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(1500)  # code blocks and charts finish drawing
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if folder := os.environ.get("ANNOTATE_TEST_OUTPUT"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)


def choose_project(page, name: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=name, exact=True).click()
    settle(page)


def visible_charts(page) -> list[dict]:
    """Each visible Vega chart (SVG): the height of its tallest plot area (Vega draws a
    `path.background` per view, the size of the view's plot area) and the texts it draws."""
    return page.evaluate("""() => [...document.querySelectorAll('.vega-embed svg')]
        .filter(svg => svg.checkVisibility() && svg.getBoundingClientRect().height > 0)
        .map(svg => ({
            plot: Math.max(0, ...[...svg.querySelectorAll('path.background')].map(p => p.getBoundingClientRect().height)),
            text: [...svg.querySelectorAll('text')].map(t => t.textContent).join('\\n')}))""")


def check_analysis(page, tmp_path: Path, project: str, task_type: str, raters: list[str]) -> None:
    seen = ""
    for tab in ANALYSIS_TABS[task_type]:
        page.get_by_role("tab", name=tab).click()
        settle(page)
        charts = visible_charts(page)
        assert charts, f"{project}: no chart on the {tab} tab"
        for chart in charts:
            assert chart["plot"] >= MIN_PLOT_PX, f"{project} {tab}: a plot area is {chart['plot']} px high"
        seen += "\n".join(c["text"] for c in charts)
        shoot(page, tmp_path, f"analysis-{project}-{tab.replace(' ', '-').lower()}.png")
        if tab == "Raters":
            for name in raters:
                assert name in "\n".join(c["text"] for c in charts), f"{project}: {name} not in the rater heatmap"
    for name in raters:
        assert name in seen, f"{project}: rater {name} is in no chart"


@pytest.mark.parametrize("project, task_type", [("pandalm", "pairwise"), ("demo-pairwise", "pairwise"),
                                                ("demo-rubric", "rubric"), (MANY, "pairwise")])
def test_researcher_pages_render_legible_charts(app, tmp_path, project, task_type):
    from playwright.sync_api import sync_playwright

    url, token, raters = app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2400})
        page.goto(f"{url}/?token={token}")
        settle(page)
        choose_project(page, project)
        for name in PAGES:
            page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name).click()
            settle(page)
            assert page.locator("[data-testid='stException']").count() == 0, f"{name} raised on {project}"
            if name == "Analysis":
                check_analysis(page, tmp_path, project, task_type, raters[project])
            shoot(page, tmp_path, f"{name.lower()}-{project}.png")
        browser.close()
