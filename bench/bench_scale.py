"""Benchmark: submits per second from simulated annotators over 1 DuckDB process vs 1, 2, 4 PostgreSQL app servers.

Each simulated annotator runs, in a loop and without pauses, the code path of one Submit on the
Label page, through the library and not HTTP: the session check (auth.check_session), the submit
message (annotate.labeling.screen.handle_action: form check, assignment.submit_label, the history
number), then the next item (assignment.next_item), its form and the progress line
(assignment.progress), which is what the page's fragment runs after a submit. Annotators are
threads spread evenly over worker processes, as Streamlit sessions are threads of an app server;
every process opens its own connection (DuckDB: the one process that may hold the file;
PostgreSQL: a pool per process).

Per configuration: submits/s over the window (default 60 s), p50/p95 of the submit-to-next-item
time, double labels counted in the database afterwards (an annotator with two labels on an item,
plus items with more than k current labels: both must be 0), and CPU seconds per submit split into
the app servers (the workers' own CPU time) and the database (PostgreSQL: the CPU time, from
/proc, of this run's connections' backend processes plus the cluster's background processes such
as the WAL writer; DuckDB runs inside the app process, so its share is in the app column). The
projection for 16 cores divides 16 by the CPU seconds per submit (app + database): it assumes the
work stays CPU-bound and spreads over the cores, which is stated, not measured.

The project has `--items` pairwise items (default 10,000, Label Studio's test size) with overlap k=2.
Every run gets a fresh DuckDB file or PostgreSQL schema. PostgreSQL comes from --pg or
$ANNOTATE_TEST_PG; without one, only DuckDB runs (and the table says so).

    python bench/bench_scale.py [--seconds 60] [--annotators 16 64] [--processes 1 2 4] [--pg URL]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import storage  # noqa: E402
from annotate.config import ProjectConfig  # noqa: E402
from annotate.data.importers import import_file  # noqa: E402
from annotate.labeling import assignment, auth, forms, screen  # noqa: E402
from annotate.labeling.annotators import add_annotator  # noqa: E402
from annotate.projects import create_project, get_project  # noqa: E402

PROJECT = "scale"
PG_ENV = "ANNOTATE_TEST_PG"
APP_NAME = "annotate_bench_scale"  # application_name of the workers' connections: their backends are found by it
LABEL_STUDIO = "Label Studio CE (issue 18): 6.3 submits/s, 8 clients, 10K tasks, 23 tasks labeled twice at overlap 1"
TARGET_ANNOTATORS, TARGET_INTERVAL_S = 500, 10  # 500 annotators, one item every 10 s each
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One configuration's figures."""
    backend: str
    processes: int
    annotators: int
    submits: int
    seconds: float
    latencies: list[float]
    refused: int
    app_cpu: float
    db_cpu: float | None
    double_labels: int
    over_k: int

    @property
    def rate(self) -> float:
        return self.submits / self.seconds

    def cpu_per_submit(self) -> tuple[float, float | None]:
        n = max(self.submits, 1)
        return self.app_cpu / n, None if self.db_cpu is None else self.db_cpu / n


# ---------------------------------------------------------------- the simulated annotators (worker side)

def _annotator(conn, project, user: dict, stop_at: list[float], out: dict, lock: threading.Lock,
               leased: threading.Barrier, start: threading.Event) -> None:
    """Label without pauses until the window closes: submit, then next item, as the Label page does."""
    try:
        _label(conn, project, user, stop_at, out, lock, leased, start)
    except Exception as exc:  # reported by the driver, which then stops
        with lock:
            out["errors"].append(f"{type(exc).__name__}: {exc}")
        leased.abort()


def _label(conn, project, user, stop_at, out, lock, leased, start) -> None:
    state: dict = {}
    uid = user["id"]
    rng = random.Random(uid)
    item = assignment.next_item(conn, project, uid)
    latencies, refused, submits = [], 0, 0
    leased.wait()
    start.wait()
    while item is not None and time.perf_counter() < stop_at[0]:
        form = forms.show_form(state, item.item_id)
        message = {"type": "submit", "nonce": form.nonce, "item_id": item.item_id,
                   "values": {"overall": rng.choice([-2, -1, 0, 1, 2])}}
        started = time.perf_counter()
        auth.check_session(conn, user)                       # the callback's session check
        outcome = screen.handle_action(conn, project, uid, state, message)
        item = assignment.next_item(conn, project, uid)      # the fragment's rerun: next item ...
        assignment.progress(conn, project, uid)              # ... and the progress line
        ended = time.perf_counter()
        if ended > stop_at[0]:
            break  # finished after the window: neither counted nor timed
        if outcome.kind == "saved":
            submits += 1
            latencies.append(ended - started)
        else:
            refused += 1
    with lock:
        out["submits"] += submits
        out["refused"] += refused
        out["latencies"] += latencies


def worker(target: str, tokens: list[str], seconds: float, ready, go, done, release, results) -> None:
    """One app server: log its annotators in, wait for `go`, label for `seconds`, report."""
    conn = storage.connect(target)
    project = get_project(conn, PROJECT)
    users = [auth.login(conn, token, "127.0.0.1") for token in tokens]
    out = {"submits": 0, "refused": 0, "latencies": [], "errors": []}
    lock, start, stop_at = threading.Lock(), threading.Event(), [float("inf")]
    leased = threading.Barrier(len(users) + 1)  # every annotator has its first item before the window opens
    threads = [threading.Thread(target=_annotator, args=(conn, project, user, stop_at, out, lock, leased, start))
               for user in users]
    for thread in threads:
        thread.start()
    try:
        leased.wait()
    except threading.BrokenBarrierError:
        pass  # an annotator failed before the window: its error goes back with the results
    ready.put(os.getpid())
    go.wait()
    cpu0 = time.process_time()
    stop_at[0] = time.perf_counter() + seconds
    start.set()
    for thread in threads:
        thread.join()
    out["cpu"] = time.process_time() - cpu0
    done.put(os.getpid())
    release.wait()  # the database's CPU is read while this process's connections still exist
    conn.close()
    results.put(out)


# ---------------------------------------------------------------- databases (driver side)

def _schema_url(server: str, schema: str) -> str:
    separator = "&" if "?" in server else "?"
    return f"{server}{separator}options=-csearch_path%3D{schema}&application_name={APP_NAME}"


def build(target: str, n_items: int, overlap: int, n_annotators: int, folder: Path) -> list[str]:
    """The project with `n_items` pairwise items and `n_annotators` accounts; their invite tokens."""
    data = folder / "items.jsonl"
    if not data.exists():
        data.write_text("\n".join(json.dumps({
            "id": f"s{i}", "prompt": f"Question {i}: which answer is better?",
            "response_a": f"Answer one to {i}.", "response_b": f"Answer two to {i}, longer."}) for i in range(n_items)))
    conn = storage.connect(target)
    try:
        import_file(conn, create_project(conn, PROJECT, ProjectConfig(task_type="pairwise", overlap=overlap)), data)
        return [add_annotator(conn, f"sim-{i:03d}")[1] for i in range(n_annotators)]
    finally:
        conn.close()


def count_doubles(target: str, overlap: int) -> tuple[int, int]:
    """(annotator-item pairs with more than one label event, items with more than k current labels)."""
    conn = storage.connect(target)
    try:
        cur = storage.cursor(conn)
        doubles = cur.execute("""SELECT count(*) FROM (SELECT annotator_id, item_id FROM label_events
                                 WHERE kind = 'label' GROUP BY annotator_id, item_id HAVING count(*) > 1) d""").fetchone()[0]
        over = cur.execute("""SELECT count(*) FROM (SELECT item_id FROM current_label_events
                              GROUP BY item_id HAVING count(*) > ?) o""", [overlap]).fetchone()[0]
        return int(doubles), int(over)
    finally:
        conn.close()


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process from /proc, or None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def database_cpu(server: str) -> dict[int, float] | None:
    """CPU seconds so far of this benchmark's backends and the cluster's background processes, by pid;
    None when the server's processes are not readable here (another machine, another user)."""
    import psycopg
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("""SELECT pid FROM pg_stat_activity
                               WHERE application_name = %s OR backend_type <> 'client backend'""",
                            [APP_NAME]).fetchall()
    cpu = {pid: _proc_cpu(pid) for (pid,) in rows}
    return None if not cpu or any(v is None for v in cpu.values()) else cpu


def run_one(backend: str, processes: int, n_annotators: int, args, folder: Path) -> Run:
    """Build a fresh database, run the workers for the window, count double labels."""
    schema = None
    if backend == "duckdb":
        target = str(folder / f"bench-{uuid.uuid4().hex[:8]}.duckdb")
    else:
        import psycopg
        schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        target = _schema_url(args.pg, schema)
    try:
        tokens = build(target, args.items, args.overlap, n_annotators, folder)
        ctx = mp.get_context("spawn")
        ready, done, results = ctx.Queue(), ctx.Queue(), ctx.Queue()
        go, release = ctx.Event(), ctx.Event()
        shares = [tokens[i::processes] for i in range(processes)]
        workers = [ctx.Process(target=worker, args=(target, share, args.seconds, ready, go, done, release, results))
                   for share in shares]
        for proc in workers:
            proc.start()
        for _ in workers:
            ready.get(timeout=300)
        before = database_cpu(args.pg) if schema else None
        started = time.perf_counter()
        go.set()
        for _ in workers:
            done.get(timeout=args.seconds + 300)
        elapsed = min(time.perf_counter() - started, args.seconds)
        after = database_cpu(args.pg) if schema else None
        release.set()
        outs = [results.get(timeout=120) for _ in workers]
        for proc in workers:
            proc.join(timeout=60)
        errors = [error for out in outs for error in out["errors"]]
        if errors:
            raise RuntimeError(f"{backend} x{processes}: {len(errors)} annotators failed; first: {errors[0]}")
        db_cpu = None
        if before is not None and after is not None:
            db_cpu = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
        doubles, over_k = count_doubles(target, args.overlap)
        return Run(backend, processes, n_annotators, sum(o["submits"] for o in outs), elapsed,
                   [x for o in outs for x in o["latencies"]], sum(o["refused"] for o in outs),
                   sum(o["cpu"] for o in outs), db_cpu, doubles, over_k)
    finally:
        if schema:
            import psycopg
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


# ---------------------------------------------------------------- the table

def table(runs: list[Run]) -> str:
    """The Markdown table: one row per configuration, with the 16-core projection."""
    lines = ["| database | app server processes | annotators | submits/s | p50 ms | p95 ms "
             "| double labels: same person / over k | CPU ms per submit: app / database "
             "| projection, 16 cores: submits/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        app, db = run.cpu_per_submit()
        ms = np.asarray(run.latencies) * 1000 if run.latencies else np.asarray([np.nan])
        cpu = f"{1000 * app:.1f} / {'in process' if run.backend == 'duckdb' else 'n/a' if db is None else f'{1000 * db:.1f}'}"
        total = app + (db or 0.0)
        projection = "n/a (one process)" if run.backend == "duckdb" else (
            f"{16 / total:,.0f}" if db is not None and total > 0 else "n/a")
        lines.append(f"| {'DuckDB' if run.backend == 'duckdb' else 'PostgreSQL'} | {run.processes} | {run.annotators} "
                     f"| {run.rate:.1f} | {np.percentile(ms, 50):.0f} | {np.percentile(ms, 95):.0f} "
                     f"| {run.double_labels} / {run.over_k} | {cpu} | {projection} |")
    return "\n".join(lines)


def summary(runs: list[Run]) -> list[str]:
    """The scaling ratio from 1 to 2 servers, and whether the projection serves the target load."""
    need = TARGET_ANNOTATORS / TARGET_INTERVAL_S
    lines = [f"Target: {TARGET_ANNOTATORS} annotators labeling one item every {TARGET_INTERVAL_S} s = {need:.0f} submits/s.",
             f"Compare: {LABEL_STUDIO}."]
    for n in sorted({r.annotators for r in runs}):
        by = {r.processes: r for r in runs if r.annotators == n and r.backend == "postgres"}
        if 1 in by and 2 in by and by[1].rate > 0:
            lines.append(f"{n} annotators: 2 servers / 1 server = {by[2].rate / by[1].rate:.2f}x (goal >= 1.6x)")
        best = max(by.values(), key=lambda r: r.rate, default=None)
        if best is not None and best.db_cpu is not None and best.submits:
            app, db = best.cpu_per_submit()
            projected = 16 / (app + db)
            busy = best.rate * (app + db)
            lines.append(f"{n} annotators: projection for 16 cores (not measured; CPU-bound, linear): "
                         f"{projected:,.0f} submits/s = {projected / need:.1f}x the target "
                         f"({'serves' if projected >= need else 'does NOT serve'} it by CPU); measured best "
                         f"{best.rate:.1f} submits/s ({'meets' if best.rate >= need else 'below'} the target) "
                         f"while busy {busy:.2f} of {os.cpu_count()} cores: "
                         f"{'CPU-bound' if busy >= 0.8 * os.cpu_count() else 'not CPU-bound (waits: locks, round trips, other load)'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--annotators", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4], help="PostgreSQL app servers")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--pg", default=os.environ.get(PG_ENV), help=f"PostgreSQL server URL (default ${PG_ENV})")
    parser.add_argument("--no-duckdb", action="store_true")
    args = parser.parse_args()
    configs = [] if args.no_duckdb else [("duckdb", 1)]
    configs += [("postgres", p) for p in args.processes] if args.pg else []
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{args.items} items, k = {args.overlap}, {args.seconds:g} s per run"
          + ("" if args.pg else f"; no PostgreSQL (set ${PG_ENV} or --pg): DuckDB only"), flush=True)
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.annotators:
            for backend, processes in configs:
                run = run_one(backend, processes, n, args, Path(folder))
                runs.append(run)
                print(f"  {backend} x{processes}, {n} annotators: {run.rate:.1f} submits/s, "
                      f"{run.refused} refused, double labels {run.double_labels}, over k {run.over_k}", flush=True)
    print()
    print(table(runs))
    print()
    print("\n".join(summary(runs)))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
