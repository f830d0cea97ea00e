"""Import of the PandaLM test set (999 items, 3 annotators' labels each, 2 judges in one order) on
DuckDB and on PostgreSQL: seconds per import and PostgreSQL's time as a multiple of DuckDB's.

PostgreSQL writes items, responses and label events with COPY (storage/bulk.py) where DuckDB reads
pandas frames in place; target: PostgreSQL within ~3x of DuckDB. Each repetition imports into a
fresh DuckDB file and a fresh PostgreSQL schema (dropped afterwards).
Run: python bench/bench_import_backends.py --pg postgresql://USER@HOST:PORT/DB [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import storage  # noqa: E402
from annotate.data.adapters import import_items  # noqa: E402

PANDALM = Path(__file__).resolve().parents[2] / "shared" / "data" / "pandalm"
TABLES = ("items", "responses", "label_events", "judgments")


def timed_import(target: str) -> tuple[float, list[int]]:
    """(seconds of the import, row counts of TABLES) for PandaLM imported into `target`."""
    conn = storage.connect(target)
    try:
        start = time.perf_counter()
        import_items(conn, "pandalm", PANDALM, adapter="pandalm")
        seconds = time.perf_counter() - start
        cur = storage.cursor(conn)
        return seconds, [int(cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES]
    finally:
        conn.close()


def postgres_import(server: str) -> tuple[float, list[int]]:
    import psycopg
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in server else "?"
        return timed_import(f"{server}{separator}options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", required=True, help="postgresql:// URL of a server to create a schema on")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    duck, pg = [], []
    with tempfile.TemporaryDirectory() as folder:
        for rep in range(args.repeat):
            seconds, counts = timed_import(str(Path(folder) / f"run{rep}.duckdb"))
            duck.append(seconds)
            pg_seconds, pg_counts = postgres_import(args.pg)
            pg.append(pg_seconds)
            assert counts == pg_counts, (counts, pg_counts)
    print("| backend | import of PandaLM, median of", args.repeat, "(s) | rows (items, responses, label events, judgments) |")
    print("| --- | --- | --- |")
    print(f"| DuckDB | {statistics.median(duck):.2f} | {counts} |")
    print(f"| PostgreSQL | {statistics.median(pg):.2f} ({statistics.median(pg) / statistics.median(duck):.2f}x) | {pg_counts} |")


if __name__ == "__main__":
    main()
