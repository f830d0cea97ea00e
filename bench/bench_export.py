"""Benchmark: export 1M preference pairs to Parquet and to JSONL; time and peak memory.

Target (issue 7, on the 2-core dev machine): Parquet < 10 s and < 2 GB peak.

The store is built once (bulk DataFrame inserts through the storage functions) and kept at --db
for reruns. Each export runs in a fresh child process that reports its wall time and its peak
resident memory (VmHWM, or getrusage ru_maxrss off Linux: both count Arrow and DuckDB buffers,
which tracemalloc does not see). The peak includes the interpreter with pandas, pyarrow and DuckDB loaded; the baseline
row shows that part alone.

Usage: python bench/bench_export.py [--pairs 1000000] [--db /tmp/bench_export.duckdb]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROJECT = "bench"
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()


def build_store(db_path: Path, n_pairs: int, chunk: int = 250_000) -> float:
    """Create project 'bench' with n_pairs items, each with two responses and one human label."""
    import numpy as np
    import pandas as pd

    import storage
    from annotate.labeling.annotators import ensure_annotators
    from annotate.config import ProjectConfig
    from annotate.projects import create_project
    from storage import items as item_store, labels as label_store

    start = time.perf_counter()
    conn = storage.connect(db_path)
    project = create_project(conn, PROJECT, ProjectConfig(task_type="pairwise"))
    annotators = storage.write(conn, lambda c: ensure_annotators(c, [f"rater-{i}" for i in range(20)]))
    rng = np.random.default_rng(0)
    vocabulary = np.array(WORDS, dtype=object)
    for first in range(0, n_pairs, chunk):
        n = min(chunk, n_pairs - first)
        ids = pd.Series(np.arange(first, first + n)).astype(str)

        def sentences(n_words: int) -> pd.Series:
            picks = vocabulary[rng.integers(0, len(vocabulary), size=(n, n_words))]
            return pd.Series([" ".join(row) for row in picks])

        items = pd.DataFrame({"external_id": ids, "prompt": sentences(20), "context": None, "reference": None,
                              "metadata": None})
        responses = pd.concat([pd.DataFrame({"external_id": ids, "idx": idx, "text": sentences(40),
                                             "model": f"model-{idx}"}) for idx in (0, 1)], ignore_index=True)
        values = rng.choice([-2, -1, 1, 2], size=n).astype(float)

        def write(cur):
            id_map = item_store.insert_items(cur, project.id, items, responses)
            events = pd.DataFrame({"key": np.arange(n), "project_id": project.id,
                                   "item_id": ids.map(id_map).to_numpy(),
                                   "annotator_id": rng.choice(list(annotators.values()), size=n),
                                   "kind": "label", "presented_order": "AB", "both_bad": False, "source": "bench"})
            label_values = pd.DataFrame({"key": np.arange(n), "aspect": "overall", "response_idx": None,
                                         "value": values})
            label_store.insert_label_events(cur, events, label_values)

        storage.write(conn, write)
    conn.close()
    return time.perf_counter() - start


def child(db_path: str, fmt: str, out: str) -> None:
    """Run one export (or nothing, for the baseline) and print {seconds, peak_mb, rows} as JSON."""
    import storage
    from annotate.data.export import export_dataset

    conn = storage.connect(db_path)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    rows = export_dataset(conn, PROJECT, fmt, out)["rows"] if fmt != "baseline" else 0
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb(), "rows": rows}))


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): shows the work when the machine is
    shared and wall time is inflated by other processes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    """This process's peak resident memory in MiB: VmHWM from /proc (Linux), else ru_maxrss.

    ru_maxrss survives exec on Linux, so a child started by a big parent would report the
    parent's peak; VmHWM belongs to the child's own address space.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(db_path: Path, fmt: str, out: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", fmt, "--db", str(db_path), "--out", str(out)],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench_export.duckdb")
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(str(args.db), args.child, args.out)
        return
    if not args.db.exists():
        print(f"Building a store with {args.pairs:,} pairs at {args.db} ...", flush=True)
        print(f"  built in {build_store(args.db, args.pairs):.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        rows = [("baseline (imports + open)", measure(args.db, "baseline", Path(folder) / "none"), None)]
        for fmt, name in (("dpo-parquet", "pairs.parquet"), ("dpo-jsonl", "pairs.jsonl")):
            out = Path(folder) / name
            rows.append((fmt, measure(args.db, fmt, out), out.stat().st_size / 2**20))
    print(f"\n{'export':<26} {'rows':>10} {'seconds':>9} {'CPU s':>7} {'peak MB':>9} {'file MB':>9}")
    for name, result, size in rows:
        print(f"{name:<26} {result['rows']:>10,} {result['seconds']:>9.2f} {result['cpu']:>7.2f} "
              f"{result['peak_mb']:>9.0f} {'' if size is None else f'{size:.0f}':>9}")
    print(f"\nLoad average (1 min) during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.")
    print("Target: dpo-parquet < 10 s and < 2048 MB peak.")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
