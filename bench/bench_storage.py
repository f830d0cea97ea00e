"""Foundation benchmark: import of 100K pairwise items, a streamed import of 1M items (time and
peak memory), label writes on 1 and 8 threads, file size.

Targets on the 2-core reference machine: import of 100K items < 10 s; the 1M-item import peaks
under 1 GiB of resident memory (it is streamed in chunks inside one transaction, so memory does
not grow with the file); >= 500 label writes/s. Each import runs in a fresh process so that its
peak memory (ru_maxrss) is its own.
Run: python bench/bench_storage.py [--items 100000] [--large-items 1000000] [--writes 10000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import storage  # noqa: E402
from annotate.data.adapters import import_items  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from annotate.labeling.labels import record_label  # noqa: E402
from annotate.projects import get_project  # noqa: E402


def write_items(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"item-{i}", "prompt": f"Explain topic number {i} in two sentences.",
                                "response_a": f"Topic {i} is about something. " * 8,
                                "response_b": f"Here is an answer about {i}. " * 6, "category": f"c{i % 7}"}) + "\n")


def measure_import(n_items: int, folder: Path) -> tuple[float, float]:
    """(seconds, peak resident MiB) of importing `n_items` items from JSONL in a fresh process."""
    path = folder / f"items-{n_items}.jsonl"
    write_items(path, n_items)
    code = ("import sys, time, resource; sys.path.insert(0, sys.argv[3]); import storage; "
            "from annotate.data.adapters import import_items; conn = storage.connect(sys.argv[1]); "
            "start = time.perf_counter(); import_items(conn, 'bench', sys.argv[2]); "
            "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(folder / f"import-{n_items}.duckdb"), str(path),
                          str(Path(__file__).resolve().parents[1])], check=True, capture_output=True, text=True)
    seconds, peak_kib = out.stdout.split()
    return float(seconds), int(peak_kib) / 1024


def bench_writes(conn, project, item_ids: list[int], n_writes: int, n_threads: int) -> float:
    """Label writes/s: each thread has its own annotators and writes n_writes / n_threads labels."""
    per_thread = n_writes // n_threads
    annotators = [add_annotator(conn, f"bench-{n_threads}-{t}")[0]["id"] for t in range(n_threads)]

    def work(annotator_id: int) -> None:
        for item_id in item_ids[:per_thread]:
            record_label(conn, project, annotator_id, item_id, {"overall": 1}, presented_order="AB", seconds=3.0)

    threads = [threading.Thread(target=work, args=(a,)) for a in annotators]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_thread * n_threads / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--large-items", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=10_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    rows = []
    for n_items, target in ((args.items, "< 10 s"), (args.large_items, "< 1024 MiB peak")):
        if n_items:
            seconds, peak = measure_import(n_items, folder)
            size = (folder / f"items-{n_items}.jsonl").stat().st_size / 2**20
            rows.append((f"import {n_items:,} items ({size:,.0f} MiB JSONL), own process",
                         f"{seconds:.2f} s, {peak:,.0f} MiB", target))
    write_items(folder / "items.jsonl", max(args.items, args.writes, 1000))
    conn = storage.connect(folder / "bench.duckdb")
    import_items(conn, "bench", folder / "items.jsonl")
    project = get_project(conn, "bench")
    item_ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id").fetchall()]
    for n_threads in (1, 8):
        rate = bench_writes(conn, project, item_ids, args.writes, n_threads)
        rows.append((f"{args.writes:,} label writes, {n_threads} thread(s)", f"{rate:,.0f} writes/s", ">= 500/s"))
    conn.execute("CHECKPOINT")
    before = (folder / "bench.duckdb").stat().st_size
    labels = storage.cursor(conn).execute("SELECT count(*) FROM label_events").fetchone()[0]
    # File size per 100K labels: add 100K more through the bulk path and measure the growth.
    conn.execute("""INSERT INTO label_events (project_id, item_id, annotator_id, kind, presented_order, seconds,
                    confidence, values_list)
                    SELECT ?, id, 1 + id % 50, 'label', CASE WHEN hash(id) % 2 = 0 THEN 'AB' ELSE 'BA' END,
                           (hash(id) % 6000) / 10.0, 1 + hash(id) % 5,
                           [{'aspect': 'overall', 'response_idx': NULL, 'value': (hash(id * 7) % 5)::DOUBLE - 2}]
                    FROM items LIMIT 100000""", [project.id])
    conn.execute("CHECKPOINT")
    growth = (folder / "bench.duckdb").stat().st_size - before
    rows.append(("file size per 100K labels", f"{growth / 2**20:.1f} MiB", ""))
    conn.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'result':>18}  target\n{'-' * width}  {'-' * 18}  ------")
    for name, result, target in rows:
        print(f"{name:<{width}}  {result:>18}  {target}")
    print(f"({labels:,} labels written through the API before the size measurement)")


if __name__ == "__main__":
    main()
