"""Benchmark a crowd study: N participants at once, each through training, attention checks and the quota.

The PandaLM test set (999 pairs, ../shared/data/pandalm) is imported; its 3 annotators' labels are
already there, so k is set to 3 + the overlap wanted from the crowd. Items on which all three
annotators agree become the check items (the first 5 training items, the next 40 attention checks),
as a researcher would mark them from a file. Then N threads enter through the study link and work
until their code, answering checks right and real items with a fixed verdict. We time every
"next item" and "submit" call and report the median and 95th percentile, the total, and whether k
held (no item above it). Targets (not asserted anywhere): next + submit under 100 ms at the median
with 10 participants on the 2-core machine.

Run: python bench/bench_study.py [--participants 10] [--quota 30] [--backend duckdb|URL]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import storage  # noqa: E402
from annotate.data.adapters import import_items  # noqa: E402
from annotate.projects import get_project, update_config  # noqa: E402
from annotate.signs import VERDICT  # noqa: E402
from annotate.study import checks, flow, links, participants, reports  # noqa: E402
from storage import labels as label_store  # noqa: E402

PANDALM = ROOT.parent / "shared" / "data" / "pandalm"


def unanimous_items(conn, project) -> list[tuple[str, str]]:
    """(external id, verdict) of the items whose three annotators chose the same side."""
    labels = label_store.current_label_values(storage.cursor(conn), project.id)
    labels = labels[labels["aspect"] == "overall"]
    signs = labels.assign(sign=np.sign(labels["value"])).groupby("external_id")["sign"].agg(["min", "max", "count"])
    same = signs[(signs["min"] == signs["max"]) & (signs["count"] == 3)]
    return [(ext, VERDICT[int(s)]) for ext, s in same["min"].items()]


def setup(conn, folder: Path, quota: int) -> tuple:
    import_items(conn, "pandalm", PANDALM, adapter="pandalm")
    project = get_project(conn, "pandalm")
    picks = unanimous_items(conn, project)[:45]
    path = folder / "checks.csv"
    path.write_text("id,answer,purpose,explanation\n" + "".join(
        f"{ext},{verdict},{'training' if i < 5 else 'attention'},All three annotators chose {verdict}\n"
        for i, (ext, verdict) in enumerate(picks)))
    checks.mark_from_file(conn, project, path)
    update_config(conn, "pandalm", {"overlap": 3 + 2, "study": {
        "quota": quota, "completion_code": "BENCH", "training_items": 5, "training_pass": 0.6,
        "qualification_code": "BENCHQ", "attention_rate": 0.1, "max_attention_failures": 2}})
    project = get_project(conn, "pandalm")
    return project, links.open_link(conn, project)


def work(conn, project, secret, pid: str, times: dict, lock: threading.Lock) -> None:
    person = participants.enter(conn, project, secret, {"PROLIFIC_PID": pid})
    check_ids = checks.check_item_ids(conn, project)
    expected = {int(r.item_id): r.expected for r in checks.check_items(conn, project).itertuples()}
    while True:
        start = time.perf_counter()
        item = flow.next_study_item(conn, project, person.annotator_id)
        served = time.perf_counter()
        if item is None:
            break
        values = {"overall": 1}
        if item.assignment.item_id in check_ids:
            values = checks.expected_as_presented(project, expected[item.assignment.item_id],
                                                  item.assignment.presented_order)
        flow.submit(conn, project, person.annotator_id, item.assignment.item_id, values)
        done = time.perf_counter()
        with lock:
            times["next"].append(served - start)
            times["submit"].append(done - served)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--quota", type=int, default=30)
    parser.add_argument("--backend", default="duckdb", help="duckdb, or a postgresql:// URL (an empty database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "bench.duckdb" if args.backend == "duckdb" else args.backend
        conn = storage.connect(target)
        project, secret = setup(conn, Path(tmp), args.quota)
        times: dict[str, list[float]] = {"next": [], "submit": []}
        lock = threading.Lock()
        threads = [threading.Thread(target=work, args=(conn, project, secret, f"bench{i:03d}", times, lock))
                   for i in range(args.participants)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = time.perf_counter() - start
        status = reports.study_status(conn, project)
        top = storage.cursor(conn).execute("SELECT max(n) FROM labels_toward_k WHERE project_id = ?",
                                           [project.id]).fetchone()[0]
        conn.close()
    print(f"| {args.participants} participants, quota {args.quota}, PandaLM 999 items, k = 5 | value |")
    print("| --- | --- |")
    for name, values in times.items():
        ms = np.array(values) * 1000
        print(f"| {name}: calls, median ms, p95 ms | {len(ms)}, {np.median(ms):.1f}, {np.percentile(ms, 95):.1f} |")
    print(f"| wall time, all participants | {total:.1f} s |")
    print(f"| completed / started | {status['participants']['completed']} / {status['participants']['started']} |")
    print(f"| most labels toward k on any item (k = 5) | {top} |")


if __name__ == "__main__":
    main()
