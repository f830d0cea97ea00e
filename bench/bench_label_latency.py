"""Benchmark: what an annotator feels on the Label page, measured in Debian chromium.

For each store size (items, 3 labels per item from 100 other annotators) it starts `streamlit run
app.py` on a loopback port, then drives the Label page with Playwright, keys only:

- choice key -> choice shown: from the key event (event.timeStamp) to the frame after the chosen
  option is marked, measured in the page;
- Ctrl+Enter -> next item shown: from the key event to the frame after the next item's controls
  are ready; split into the server's time for that run (the action callback plus the fragment up
  to the controls, reported by the page as data-server-ms) and the rest (network, Streamlit's
  frontend, rendering: "browser");
- 8 annotators at once (8 browser contexts, one browser): submits per second over the run and the
  p95 of Ctrl+Enter -> next item.

Goals (issue 12): choice < 50 ms p95; next item p50 < 150 ms and p95 < 300 ms at 100K items /
300K labels; 8 annotators >= 4 submits/s with p95 < 1 s.

    python bench/bench_label_latency.py [--sizes 10000,100000] [--submits 40] [--annotators 8] [--port 8602]

Another tool: `--url URL` times a page that is already running and logged in at that address
(only browser-side numbers): `--choice-key 1 --shown "CSS"` (an element that appears once the
choice shows), `--submit-key Control+Enter --item "CSS"` (an element whose text changes with the
item), `--ready "CSS"` (present when the page takes keys). For this app, logged in by a link:
`--url "http://127.0.0.1:8501/?token=..." --shown .lk-selected --ready ".lk-root[data-state=ready]"`.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import storage  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from bench.bench_assignment import build_store  # noqa: E402
from bench.soak import CHROMIUM, CHROMIUM_ARGS, AppServer  # noqa: E402

RESPONSE_A = ("Canberra is the capital of Australia. It was chosen as a compromise between Sydney and "
              "Melbourne and purpose-built; Parliament has met there since 1927.\n\n- population: about "
              "460,000\n- territory: ACT\n\n```python\nprint('Canberra')\n```")
RESPONSE_B = ("The capital of Australia is Canberra, a planned city chosen as a compromise between the two "
              "largest cities. Parliament moved there in 1927.\n\n- population: about 460,000\n- "
              "territory: ACT\n\n```python\nprint('Canberra!')\n```")
KEY_TIME = "window.__keyT = 0; window.addEventListener('keydown', e => { window.__keyT = e.timeStamp; }, true);"
# Resolve with milliseconds from the last key event to the frame after `ready()` holds.
WAIT = """async ([ready, arg]) => {
    const check = new Function('arg', ready);
    const start = performance.now();
    while (!check(arg)) {
        if (performance.now() - start > 20000) throw new Error('timed out waiting for the screen');
        await new Promise(r => setTimeout(r, 1));
    }
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - window.__keyT;
}"""
CHOICE_SHOWN = "return !!document.querySelector(`.lk-root .lk-row[data-row='overall'] .lk-selected`);"
NEXT_SHOWN = """const r = document.querySelector('.lk-root');
                return r && r.dataset.state === 'ready' && r.dataset.nonce !== arg;"""


async def label_loop(page, submits: int, keys: str = "12345") -> dict[str, list[float]]:
    """Choose and submit `submits` items with keys; the three timings of each, in milliseconds."""
    times: dict[str, list[float]] = {"choice": [], "next": [], "server": []}
    await page.wait_for_selector(".lk-root[data-state='ready']", timeout=60_000)
    await page.evaluate(KEY_TIME)
    for i in range(submits):
        shown = await page.get_attribute(".lk-root", "data-nonce")
        await page.keyboard.press(keys[i % len(keys)])
        times["choice"].append(await page.evaluate(WAIT, [CHOICE_SHOWN, None]))
        await page.keyboard.press("Control+Enter")
        times["next"].append(await page.evaluate(WAIT, [NEXT_SHOWN, shown]))
        times["server"].append(float(await page.get_attribute(".lk-root", "data-server-ms") or "nan"))
    return times


async def run_annotators(url: str, tokens: list[str], submits: int) -> tuple[list[dict], float]:
    """Every token's browser context labels `submits` items at once; (timings, wall seconds)."""
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for token in tokens:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(f"{url}/?token={token}", wait_until="commit", timeout=90_000)
            pages.append(page)
        for page in pages:
            await page.wait_for_selector(".lk-root[data-state='ready']", timeout=90_000)
            await label_loop(page, 2)  # warm-up: the first runs load Streamlit's bundle and caches
        start = time.perf_counter()
        results = await asyncio.gather(*(label_loop(page, submits) for page in pages))
        elapsed = time.perf_counter() - start
        await browser.close()
    return results, elapsed


def pct(values: list[float], q: float) -> float:
    clean = [v for v in values if v == v]
    return float(np.percentile(clean, q)) if clean else float("nan")


def measure_store(n_items: int, submits: int, n_parallel: int, port: int) -> list[dict]:
    """Build a store of `n_items`, start the app on it and take both measurements; table rows."""
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "latency.duckdb"
        conn = storage.connect(db_path)
        build_store(conn, n_items, 3, 100, texts=(RESPONSE_A, RESPONSE_B))
        n_labels = storage.labels.count_label_events(storage.cursor(conn))
        tokens = [add_annotator(conn, f"bench-{i}")[1] for i in range(1 + n_parallel)]
        conn.close()
        server = AppServer(db_path, port=port).start()
        try:
            [single], _ = asyncio.run(run_annotators(server.url, tokens[:1], submits))
            many, elapsed = asyncio.run(run_annotators(server.url, tokens[1:], max(4, submits // 4)))
        finally:
            server.stop()
    size = f"{n_items // 1000}K items / {n_labels // 1000}K labels"
    browser_part = [n - s for n, s in zip(single["next"], single["server"])]
    rows = [{"store": size, "measure": "choice key -> choice shown (browser only)",
             "p50 ms": pct(single["choice"], 50), "p95 ms": pct(single["choice"], 95), "n": len(single["choice"])},
            {"store": size, "measure": "Ctrl+Enter -> next item shown",
             "p50 ms": pct(single["next"], 50), "p95 ms": pct(single["next"], 95), "n": len(single["next"])},
            {"store": size, "measure": "  of which server (callback + fragment run)",
             "p50 ms": pct(single["server"], 50), "p95 ms": pct(single["server"], 95), "n": len(single["server"])},
            {"store": size, "measure": "  of which browser + network",
             "p50 ms": pct(browser_part, 50), "p95 ms": pct(browser_part, 95), "n": len(browser_part)}]
    nexts = [t for r in many for t in r["next"]]
    servers = [t for r in many for t in r["server"]]
    rows.append({"store": size, "measure": f"{n_parallel} annotators at once: Ctrl+Enter -> next item "
                                          f"({len(nexts) / elapsed:.1f} submits/s)",
                 "p50 ms": pct(nexts, 50), "p95 ms": pct(nexts, 95), "n": len(nexts)})
    rows.append({"store": size, "measure": f"  of which server ({n_parallel} annotators)",
                 "p50 ms": pct(servers, 50), "p95 ms": pct(servers, 95), "n": len(servers)})
    return rows


async def time_other(url: str, submits: int, choice_key: str, shown: str, submit_key: str, item: str,
                     ready: str | None) -> list[dict]:
    """Time another running labeling page with the same in-page clock (browser-side numbers only)."""
    from playwright.async_api import async_playwright
    shown_check = f"return !!document.querySelector({shown!r});"
    item_check = f"const e = document.querySelector({item!r}); return !!e && e.textContent !== arg;"
    choice, nexts = [], []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await page.goto(url)
        await page.wait_for_selector(item, timeout=60_000)
        await page.evaluate(KEY_TIME)
        for _ in range(submits):
            if ready:
                await page.wait_for_selector(ready, timeout=60_000)
            before = await page.text_content(item)
            await page.keyboard.press(choice_key)
            choice.append(await page.evaluate(WAIT, [shown_check, None]))
            await page.keyboard.press(submit_key)
            nexts.append(await page.evaluate(WAIT, [item_check, before]))
        await browser.close()
    shown_url = url.split("?", 1)[0]  # never print a token
    return [{"store": shown_url, "measure": "choice key -> choice shown", "p50 ms": pct(choice, 50),
             "p95 ms": pct(choice, 95), "n": len(choice)},
            {"store": shown_url, "measure": "submit -> next item shown", "p50 ms": pct(nexts, 50),
             "p95 ms": pct(nexts, 95), "n": len(nexts)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="item counts, comma-separated")
    parser.add_argument("--submits", type=int, default=40, help="submits by the single annotator")
    parser.add_argument("--annotators", type=int, default=8, help="annotators at once")
    parser.add_argument("--port", type=int, default=8602)
    parser.add_argument("--url", help="time another running labeling page instead")
    parser.add_argument("--choice-key", default="1")
    parser.add_argument("--shown", default=".lk-selected")
    parser.add_argument("--submit-key", default="Control+Enter")
    parser.add_argument("--item", default="[data-testid='stProgress']")
    parser.add_argument("--ready", help="CSS of an element present when the page takes keys")
    args = parser.parse_args()
    if args.url:
        rows = asyncio.run(time_other(args.url, args.submits, args.choice_key, args.shown, args.submit_key, args.item,
                                      args.ready))
    else:
        rows = [row for size in args.sizes.split(",")
                for row in measure_store(int(size), args.submits, args.annotators, args.port)]
    print("\nLabel page latency in Debian chromium (goals: choice p95 < 50 ms; next item p50 < 150 ms, "
          "p95 < 300 ms; 8 annotators >= 4 submits/s, p95 < 1000 ms)")
    print(pd.DataFrame(rows).round(1).to_string(index=False))


if __name__ == "__main__":
    main()
