"""Benchmark the agreement report: 100K items, 5 annotators (500K labels), 2 judges each in both
A/B orders (400K judgments, 2% unparsed).

Synthetic data (each annotator and judge agrees with a hidden truth with some probability) are
bulk-inserted through the storage functions; then we time the full report with every definition
(annotate.analysis.definitions: both orders under every published definition, coverage, the
like-for-like ceiling) without bootstrap, and 1000 bootstrap resamples of the agreement table and
of the definitions table. Targets: report < 5 s, bootstrap < 30 s.

Run: python bench/bench_agreement.py [--items 100000] [--boot 1000]
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
from storage import annotators as annotator_store, items as item_store, judgments as judgment_store  # noqa: E402
from storage import analysis, labels as label_store  # noqa: E402
from annotate.analysis.bias import verdict_codes  # noqa: E402
from annotate.config import ProjectConfig  # noqa: E402
from annotate.projects import create_project  # noqa: E402
from annotate.analysis.report import ReportFilters, agreement_table, build_report, wide_codes  # noqa: E402
from annotate.analysis.verdicts import combined_verdicts  # noqa: E402

MODELS = ["m1", "m2", "m3", "m4", "m5", "m6"]


def populate(conn, n_items: int, n_humans: int, seed: int) -> None:
    """Insert the project, items, responses, human labels and judge verdicts in bulk."""
    rng = np.random.default_rng(seed)
    project = create_project(conn, "bench", ProjectConfig(task_type="pairwise"))
    ids = [f"i{k}" for k in range(n_items)]
    items = pd.DataFrame({"external_id": ids, "prompt": "p", "context": None, "reference": None,
                          "metadata": [f'{{"split": "{s}"}}' for s in rng.choice(["a", "b"], n_items)]})
    pair = rng.choice(len(MODELS), (n_items, 2), replace=True)
    pair[:, 1] = (pair[:, 0] + 1 + rng.integers(0, len(MODELS) - 1, n_items)) % len(MODELS)
    responses = pd.DataFrame({"external_id": np.repeat(ids, 2), "idx": np.tile([0, 1], n_items),
                              "text": ["x" * int(n) for n in rng.integers(10, 200, 2 * n_items)],
                              "model": np.array(MODELS)[pair.ravel()]})
    id_map = storage.write(conn, lambda c: item_store.insert_items(c, project.id, items, responses))
    item_ids = np.array([id_map[e] for e in ids])
    truth = rng.choice([-2, -1, 0, 1, 2], n_items, p=[0.3, 0.15, 0.1, 0.15, 0.3])
    people = storage.write(conn, lambda c: [annotator_store.insert_annotator(c, f"bench-{k}", "annotator", None)
                                            for k in range(n_humans)])
    events, values = [], []
    for person in people:
        noisy = np.where(rng.random(n_items) < 0.8, truth, rng.choice([-2, -1, 0, 1, 2], n_items))
        key = person * n_items + np.arange(n_items)
        events.append(pd.DataFrame({"key": key, "project_id": project.id, "item_id": item_ids,
                                    "annotator_id": person, "kind": "label", "both_bad": False,
                                    "seconds": rng.gamma(2, 15, n_items), "source": "bench",
                                    "presented_order": rng.choice(["AB", "BA"], n_items)}))
        values.append(pd.DataFrame({"key": key, "aspect": "overall", "response_idx": None,
                                    "value": noisy.astype(float)}))
    storage.write(conn, lambda c: label_store.insert_label_events(c, pd.concat(events), pd.concat(values)))
    rows = []
    for name, accuracy in (("judge-good", 0.75), ("judge-weak", 0.6)):
        judge_id = storage.write(conn, lambda c: judgment_store.get_or_create_judge(
            c, name, "external", "{}", f"bench-{name}", None))
        for order in ("AB", "BA"):
            guess = np.where(rng.random(n_items) < accuracy, np.sign(truth), rng.integers(-1, 2, n_items))
            parsed = rng.random(n_items) > 0.02
            rows.append(pd.DataFrame({"judge_id": judge_id, "item_id": item_ids, "aspect": "overall",
                                      "presented_order": order,
                                      "verdict": np.where(parsed, np.array(["A", "tie", "B"])[guess + 1], None),
                                      "is_parsed": parsed, "source": "bench"}))
    storage.write(conn, lambda c: judgment_store.insert_judgments(c, pd.concat(rows, ignore_index=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--humans", type=int, default=5)
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = storage.connect(Path(tmp) / "bench.duckdb")
        start, cpu = time.perf_counter(), time.process_time()
        populate(conn, args.items, args.humans, seed=0)
        results.append(("insert (bulk, storage functions)", time.perf_counter() - start, time.process_time() - cpu, ""))
        start, cpu = time.perf_counter(), time.process_time()
        report = build_report(conn, "bench", ReportFilters(n_boot=0))
        results.append(("full report, every definition, no bootstrap", time.perf_counter() - start, time.process_time() - cpu,
                        "target < 5 s"))
        humans, judges = _codes(conn)
        start, cpu = time.perf_counter(), time.process_time()
        table, _ = agreement_table(humans, judges, "with_ties", args.boot, seed=0)
        results.append((f"agreement table, {args.boot} bootstrap resamples", time.perf_counter() - start, time.process_time() - cpu,
                        "target < 30 s"))
        start, cpu = time.perf_counter(), time.process_time()
        definitions = _definitions(conn, args.boot)
        results.append((f"definitions table, {args.boot} bootstrap resamples", time.perf_counter() - start, time.process_time() - cpu,
                        "target < 30 s"))
        label_rows = report.overview["human_labels"]
        judgment_rows = int(report.coverage.loc[report.coverage["order"] == "all", "judgments"].sum())
        conn.close()
    print(f"\n{args.items} items, {args.humans} annotators, 2 judges in both orders: {label_rows} labels, "
          f"{judgment_rows} judgments ({label_rows + judgment_rows} rows)\n")
    # CPU seconds of this process: on a shared, loaded machine they estimate the wall time of an idle one.
    print(f"{'step':<46} {'wall s':>7} {'cpu s':>7}  note")
    for step, seconds, cpu_seconds, note in results:
        print(f"{step:<46} {seconds:>7.2f} {cpu_seconds:>7.2f}  {note}")
    print("\n" + table[["rater", "majority_agreement", "majority_agreement_lo", "majority_agreement_hi"]]
          .to_string(index=False))
    judge_rows = definitions[(definitions["rater"] == "judge-good") & (definitions["reference"] == "humans")]
    print("\n" + judge_rows[["measure", "over", "value", "lo", "hi", "coverage"]].to_string(index=False))


def _definitions(conn, n_boot: int) -> pd.DataFrame:
    """The definitions table with bootstrap intervals (inputs loaded inside the timing)."""
    from annotate.analysis.definitions import order_codes, pairwise_definitions
    from annotate.analysis.reference import reference_labels
    cur = storage.cursor(conn)
    project_id = storage.projects.get_project(cur, "bench")["id"]
    items = analysis.slice_items(cur, project_id)["item_id"].to_numpy()
    labels = analysis.slice_labels(cur, project_id, "overall")
    judgments = analysis.slice_judgments(cur, project_id, "overall")
    verdicts = combined_verdicts(judgments)
    humans = wide_codes(items, labels["item_id"], labels["annotator"], np.sign(labels["value"].to_numpy()))
    values = wide_codes(items, labels["item_id"], labels["annotator"], labels["value"].to_numpy())
    judges = wide_codes(items, verdicts["item_id"], verdicts["judge"], verdict_codes(verdicts["verdict"]))
    reference = reference_labels(labels, "tie").reindex(items).to_numpy()
    orders = order_codes(judgments, items, list(judges.columns))
    return pairwise_definitions(humans, values, judges, pd.DataFrame(index=humans.index), reference, orders,
                                "tie", "with_ties", n_boot, 0)


def _codes(conn) -> tuple[np.ndarray, pd.DataFrame]:
    """The inputs of the agreement table (loaded outside the bootstrap timing)."""
    cur = storage.cursor(conn)
    project_id = storage.projects.get_project(cur, "bench")["id"]
    items = analysis.slice_items(cur, project_id)["item_id"].to_numpy()
    labels = analysis.slice_labels(cur, project_id, "overall")
    verdicts = combined_verdicts(analysis.slice_judgments(cur, project_id, "overall"))
    humans = wide_codes(items, labels["item_id"], labels["annotator"], np.sign(labels["value"].to_numpy()))
    judges = wide_codes(items, verdicts["item_id"], verdicts["judge"], verdict_codes(verdicts["verdict"]))
    return humans.to_numpy(), judges


if __name__ == "__main__":
    main()
