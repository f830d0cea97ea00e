"""Annotators stay blind (issue 17 section 2): a project whose ids, metadata, models, other raters and
judges all carry model names; an annotator walks every page they can open (label, highlight,
skip and flag panels, submit, history, edit, progress) and no name appears anywhere in the DOM.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import storage
from annotate.config import ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.labeling.annotators import add_annotator
from annotate.projects import create_project
from test_browser import CHROMIUM, CHROMIUM_ARGS, save_screenshot, start_app

pytestmark = pytest.mark.browser

MODEL_NAMES = ("alpaca-13b", "gpt-4", "claude-v1", "vicuna-13b", "llama-13b", "koala-13b")


def blind_rows() -> list[dict]:
    return [{"id": f"8{i}-alpaca-13b-gpt-4-t{i}", "prompt": f"Write a haiku about season {i}.",
             "response_a": f"Leaves fall, number {i},\nquiet wind over the field,\nthe year turns again.",
             "response_b": f"Snow on roof {i},\nquiet wind over the field,\nthe year sleeps again.",
             "model_a": "alpaca-13b", "model_b": "gpt-4", "source_model": "claude-v1",
             "rater": "A", "judge_verdict": "B", "category": "koala-13b-writing"} for i in range(4)]


@pytest.fixture
def blind_server(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    db_path = tmp_path / "blind.duckdb"
    data = tmp_path / "mtbench-like.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in blind_rows()))
    conn = storage.connect(db_path)
    project = create_project(conn, "haiku", ProjectConfig(task_type="pairwise", overlap=3, highlight_diff=True))
    import_file(conn, project, data, mapping=ColumnMapping(
        model_a="model_a", model_b="model_b", human_labels={"vicuna-13b": "rater"},
        judge_labels={"llama-13b": "judge_verdict"}))
    _, token = add_annotator(conn, "ann")
    conn.close()
    url, stop = start_app(db_path)
    yield url, token, stop
    stop()


def test_no_model_name_id_or_metadata_reaches_any_annotator_page(blind_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=15_000)  # a loaded machine redraws slowly
    url, token, stop = blind_server
    seen: dict[str, str] = {}

    def look(page, step: str) -> None:
        page.wait_for_timeout(400)
        seen[step] = page.content().lower()  # the whole DOM: text, attributes, component data

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/?token={token}")
        ready = page.locator(".lk-root[data-state='ready']")
        expect(ready).to_have_count(1, timeout=30_000)
        look(page, "label")
        page.keyboard.press("d")
        expect(page.locator(".stMarkdownColoredBackground").first).to_be_visible()
        look(page, "highlighted")
        page.keyboard.press("f")
        page.keyboard.type("is this from a known model?")
        look(page, "flag panel")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Flag sent")).to_be_visible()
        page.keyboard.press("s")
        look(page, "skip panel")
        page.keyboard.press("Escape")
        for key in ("1", "4"):
            expect(ready).to_have_count(1)
            page.keyboard.press(key)
            page.keyboard.press("Control+Enter")
            expect(page.get_by_text("of your history", exact=False).first).to_be_visible()
        look(page, "after submits")
        page.get_by_role("link", name="My history").click()
        expect(page.get_by_text("Item 2 of your history")).to_be_visible()
        look(page, "history")
        save_screenshot(page, tmp_path, "blind-history.png")
        page.get_by_role("button", name="Edit").first.click()
        expect(page.get_by_text("Editing your label of item 2 of your history")).to_be_visible()
        look(page, "edit")
        page.keyboard.press("Escape")
        page.get_by_role("link", name="My progress").click()
        expect(page.get_by_text("Hello, ann")).to_be_visible()
        look(page, "progress")
        browser.close()
    leaks = {step: [name for name in MODEL_NAMES if name in dom] for step, dom in seen.items()}
    assert leaks == {step: [] for step in seen}
