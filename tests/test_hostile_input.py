"""Oversized and hostile content: 5 MB responses, deeply nested markdown, HTML and script in every
text field, SQL-looking strings in names and filters. Nothing executes, nothing breaks the page."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling import annotators
from annotate.data import export
from annotate.analysis import report
from annotate.labeling.assignment import next_item
from annotate.labeling.labels import record_label
from annotate.config import ProjectConfig
from annotate.errors import NotFoundError
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project, get_project
from bench.soak import CHROMIUM, CHROMIUM_ARGS, AppServer

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SQL = "x'); DROP TABLE items; --"
SCRIPT = "<script>window.__xss = 1</script>"
IMG = '<img src=x onerror="window.__xss = 2">'
LINK = "[click me](javascript:window.__xss=3)"
NESTED = "> " * 2000 + "deep quote\n\n" + "".join("  " * i + "- level\n" for i in range(300)) + "[" * 5000 + "]" * 5000
HOSTILE = f"{SCRIPT} {IMG} {LINK} {SQL} **<b>bold?</b>** $x$ ```unclosed"
FIVE_MB = ("A long answer line with <b>tags</b>, **markdown** and `code`.\n" * 80_000)[:5_000_000]


def write_items(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def hostile_project(conn, tmp_path: Path, name: str = f"proj {SCRIPT} {SQL}"):
    config = ProjectConfig(task_type="pairwise", overlap=2, guidelines=f"# Rules\n{HOSTILE}\n{NESTED}")
    project = create_project(conn, name, config)
    rows = [{"id": f"{SQL}-{i}", "prompt": f"{HOSTILE}\n{NESTED}", "context": HOSTILE, "reference": HOSTILE,
             "response_a": HOSTILE, "response_b": NESTED, "meta": SQL, "html": SCRIPT} for i in range(2)]
    import_file(conn, project, write_items(tmp_path / "hostile.jsonl", rows), mapping=ColumnMapping(
        context="context", reference="reference"))
    return project


def test_sql_looking_names_metadata_and_filters_are_plain_data(db, tmp_path):
    project = hostile_project(db, tmp_path)
    annotator, _ = annotators.add_annotator(db, f"Robert'); DROP TABLE annotators; -- {SCRIPT}")
    item = next_item(db, project, annotator["id"])
    record_label(db, project, annotator["id"], item.item_id, {"overall": 1}, presented_order="AB")
    assert get_project(db, project.name).name == project.name
    assert item.external_id.startswith(SQL) and item.prompt.startswith(HOSTILE)
    for kind in ("dpo", "events"):
        try:  # an unknown name selects nothing: an empty table or a named error, never every row
            assert len(export.build_export(db, project.name, kind,
                                           export.ExportFilters(annotators=("' OR 1=1 --",))).rows) == 0
        except NotFoundError as exc:
            assert "No labels by annotator" in str(exc)
        everything = export.build_export(db, project.name, kind, export.ExportFilters(annotators=(annotator["name"],)))
        assert len(everything.rows) == 1
    sliced = report.build_report(db, project.name, report.ReportFilters(metadata=("meta", "' OR '1'='1"), n_boot=0))
    assert sliced is not None
    cur = storage.cursor(db)
    assert cur.execute("SELECT count(*) FROM items").fetchone()[0] == 2
    assert cur.execute("SELECT count(*) FROM annotators").fetchone()[0] == 1


def test_five_megabyte_cells_import_from_csv(db, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("id,prompt,response_a,response_b\n" + f'big,p,"{FIVE_MB.replace(chr(34), "")}",b\n')
    project = create_project(db, "big-csv", ProjectConfig(task_type="pairwise"))
    assert import_file(db, project, path).items == 1
    assert len(next_item(db, project, annotators.add_annotator(db, "ann")[0]["id"]).responses[0]) > 4_900_000


@pytest.mark.slow
def test_five_megabyte_responses_import_label_and_render(db, db_path, tmp_path, monkeypatch):
    project = create_project(db, "big", ProjectConfig(task_type="pairwise", overlap=1))
    rows = [{"id": "big", "prompt": "Which of these very long answers is better?", "response_a": FIVE_MB,
             "response_b": FIVE_MB[::-1]}]
    import_file(db, project, write_items(tmp_path / "big.jsonl", rows))
    _, token = annotators.add_annotator(db, "ann")
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["token"] = token
    at.run()
    assert not at.exception and not at.error
    assert sum(len(m.value) for m in at.markdown) > 2 * 4_900_000  # both responses, whole
    from test_app import send  # the label controls' one submit message, as the browser sends it
    at = send(at, "submit", values={"overall": 0})
    assert not at.exception and not at.error
    assert storage.labels.count_label_events(storage.cursor(db)) == 1


@pytest.mark.browser
def test_hostile_text_in_every_field_never_executes_in_the_browser(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    db_path = tmp_path / "hostile.duckdb"
    conn = storage.connect(db_path)
    hostile_project(conn, tmp_path, name=f"only {SCRIPT}")
    _, token = annotators.add_annotator(conn, f"name {IMG} {LINK}")
    _, admin_token = annotators.add_annotator(conn, f"admin {SCRIPT}", "admin")
    conn.close()
    server = AppServer(db_path).start()
    dialogs, errors = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for who in (token, admin_token):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{server.url}/?token={who}")
                page.wait_for_function("document.body.innerText.includes('Response A')", timeout=60_000)
                # 2000 nested quotes are too deep for Playwright's text locators (not for the page): use JS
                page.wait_for_function("document.body.innerText.includes('deep quote')", timeout=60_000)
                page.get_by_text("Guidelines").first.click()
                page.locator(".lk-root[data-state='ready'] .lk-option").filter(has_text="Tie").click()
                page.locator(".lk-submit").click()
                page.wait_for_function("/· 1 done/.test(document.body.innerText)", timeout=60_000)
                if who == admin_token:
                    page.get_by_role("link", name="Annotators").click()
                    page.wait_for_function("document.body.innerText.includes('Progress')", timeout=60_000)
                assert page.evaluate("window.__xss") is None
                assert page.locator("main img[src='x'], a[href^='javascript']").count() == 0
                assert page.locator("[data-testid='stException']").count() == 0
            browser.close()
    finally:
        server.stop()
    assert dialogs == [] and errors == []
    conn = storage.connect(db_path)
    assert storage.labels.count_label_events(storage.cursor(conn)) == 2
    conn.close()
