"""Benchmark: a crowd-study participant's screen against an annotator's Label page, in Debian chromium.

One store (N pairwise items, a study with attention checks every 10 items, no practice or consent),
one server. A participant (through the study link) and an invited annotator each submit S items with
keys only (`3`, then Ctrl+Enter), taking turns; for every submit the page reports the time from the
key event to the frame after the next item's controls are ready, and the server's share (the action
callback plus the fragment run, data-server-ms). The two screens share the controls and the submit
checks, so the difference is the study's work per item (its state, check scoring, quota).

    python bench/bench_study_screen.py [--items 10000] [--submits 30] [--port 8743]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import storage  # noqa: E402
from annotate.config import ProjectConfig  # noqa: E402
from annotate.data.importers import import_file  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from annotate.projects import create_project, get_project, update_config  # noqa: E402
from annotate.study import checks, links  # noqa: E402

TIMED = """() => new Promise((resolve) => {
  const root = document.querySelector('.lk-root'), before = root.dataset.nonce;
  const start = performance.now();
  window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', ctrlKey: true, bubbles: true}));
  const poll = () => {
    const r = document.querySelector('.lk-root');
    if (r && r.dataset.state === 'ready' && r.dataset.nonce !== before) {
      requestAnimationFrame(() => resolve({ms: performance.now() - start, server: Number(r.dataset.serverMs)}));
    } else { setTimeout(poll, 2); }
  };
  poll();
})"""


def make_store(folder: Path, n: int) -> tuple[Path, str, str]:
    """(db path, study link secret, an annotator's invite token)."""
    db_path, data = folder / "bench.duckdb", folder / "items.jsonl"
    rows = [{"id": f"i{i}", "prompt": f"Question {i}?", "response_a": f"Answer {i}.", "response_b": f"Reply {i}."}
            for i in range(n)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    conn = storage.connect(db_path)
    project = create_project(conn, "bench", ProjectConfig(task_type="pairwise", overlap=3, ask_confidence=False,
                                                          justification="off"))
    import_file(conn, project, data)
    for i in range(20):
        checks.mark_item(conn, project, f"i{i}", "attention", "A")
    update_config(conn, "bench", {"study": {"quota": 1000, "completion_code": "BENCH", "attention_rate": 0.1}})
    secret = links.open_link(conn, get_project(conn, "bench"))
    _, token = add_annotator(conn, "ann")
    conn.close()
    return db_path, secret, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--submits", type=int, default=30)
    parser.add_argument("--port", type=int, default=8743)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS
    from test_study_browser import start_app
    with tempfile.TemporaryDirectory() as folder:
        db_path, secret, token = make_store(Path(folder), args.items)
        url, stop = start_app(db_path)
        rows = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                screens = {"participant (study link)": f"{url}/?study={secret}&pid=bench1",
                           "annotator (Label page)": f"{url}/?token={token}"}
                pages = {}
                for name, link in screens.items():
                    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                    page.goto(link)
                    page.wait_for_selector(".lk-root[data-state='ready']", timeout=60_000)
                    pages[name] = page
                for _ in range(args.submits):
                    for name, page in pages.items():
                        page.wait_for_selector(".lk-root[data-state='ready']", timeout=60_000)
                        page.keyboard.press("3")
                        rows.append({"screen": name, **page.evaluate(TIMED)})
                browser.close()
        finally:
            stop()
    frame = pd.DataFrame(rows)
    table = frame.groupby("screen").agg(next_p50=("ms", "median"), next_p95=("ms", lambda s: s.quantile(0.95)),
                                         server_p50=("server", "median"), server_p95=("server", lambda s: s.quantile(0.95)),
                                         n=("ms", "size")).round(1)
    print(f"\nCtrl+Enter -> next item shown, ms ({args.items:,} items; one server, the two screens taking turns)")
    print(table.to_string())


if __name__ == "__main__":
    main()
