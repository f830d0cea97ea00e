"""Benchmark: the "next item + submit label" round trip of the labeling screen.

Builds a store with 100K pairwise items and 300K current labels (3 per item, from 100 annotators,
inserted as DataFrames through the storage functions), then times `assignment.next_item` followed
by `assignment.submit_label` - exactly what the Label page calls - for an annotator who already has
~3K labels. Prints p50 / p99 / max in milliseconds. Target: round trip p99 < 25 ms.

    python bench/bench_assignment.py [--items 100000] [--labels-per-item 3] [--rounds 300]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import storage  # noqa: E402
from annotate.labeling import assignment  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from annotate.config import ProjectConfig  # noqa: E402
from annotate.projects import create_project  # noqa: E402
from storage import items as item_store, labels as label_store  # noqa: E402


def build_store(conn, n_items: int, per_item: int, n_annotators: int,
                texts: tuple[str, str] = ("Answer A", "Answer B")):
    """Project 'bench' (k = per_item + 2, so every item stays open) with items and labels;
    every item's responses are `texts`."""
    project = create_project(conn, "bench", ProjectConfig(task_type="pairwise", overlap=per_item + 2))
    ids = [f"i{i}" for i in range(n_items)]
    items = pd.DataFrame({"external_id": ids, "prompt": [f"Prompt {i}" for i in range(n_items)],
                          "context": None, "reference": None, "metadata": None})
    responses = pd.DataFrame({"external_id": ids * 2, "idx": [0] * n_items + [1] * n_items,
                              "text": [texts[0]] * n_items + [texts[1]] * n_items, "model": None})
    id_map = storage.write(conn, lambda c: item_store.insert_items(c, project.id, items, responses))
    annotators = [add_annotator(conn, f"a{i}")[0]["id"] for i in range(n_annotators)]
    rng = np.random.default_rng(0)
    item_ids = np.repeat([id_map[e] for e in ids], per_item)
    slots = np.tile(np.arange(per_item), n_items)
    offsets = np.repeat(rng.integers(0, n_annotators, n_items), per_item)
    who = np.asarray(annotators)[(offsets + slots) % n_annotators]  # distinct annotators per item
    events = pd.DataFrame({"key": np.arange(len(item_ids)), "project_id": project.id, "item_id": item_ids,
                           "annotator_id": who, "kind": "label", "presented_order": "AB",
                           "both_bad": False, "seconds": 10.0, "source": "app"})
    values = pd.DataFrame({"key": events["key"], "aspect": "overall", "response_idx": None,
                           "value": rng.integers(-2, 3, len(events)).astype(float)})
    storage.write(conn, lambda c: label_store.insert_label_events(c, events, values))
    return project, annotators[0]


def percentiles(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1000
    return {"p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99), "max": ms.max()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels-per-item", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        conn = storage.connect(Path(folder) / "bench.duckdb")
        start = time.perf_counter()
        project, annotator = build_store(conn, args.items, args.labels_per_item, args.annotators)
        n_labels = storage.labels.count_label_events(storage.cursor(conn))
        print(f"store: {args.items} items, {n_labels} labels, built in {time.perf_counter() - start:.1f} s")
        timings: dict[str, list[float]] = {"next_item": [], "submit_label": [], "round trip": []}
        for round_ in range(args.rounds + 20):
            t0 = time.perf_counter()
            item = assignment.next_item(conn, project, annotator)
            t1 = time.perf_counter()
            assignment.submit_label(conn, project, annotator, item.item_id, {"overall": 1})
            t2 = time.perf_counter()
            if round_ >= 20:  # the first rounds warm DuckDB's caches
                for name, seconds in [("next_item", t1 - t0), ("submit_label", t2 - t1), ("round trip", t2 - t0)]:
                    timings[name].append(seconds)
        conn.close()
    table = pd.DataFrame({name: percentiles(samples) for name, samples in timings.items()}).T
    print(f"\n{args.rounds} rounds, milliseconds (target: round trip p99 < 25 ms)")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
