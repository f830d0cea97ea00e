"""Smoke test of the annotation app as README's first command installs it: without the local-model
stack (torch, sentence-transformers). CI runs it in a virtual environment made from requirements.txt
alone (.ci/run), where pytest is not installed either.

It runs the CLI as a user would (`init --demo`, `projects`), then opens every page of the app for an
admin (Streamlit's AppTest) and fails when a page raises or when torch got imported; on a new DuckDB
file, or with `--postgres SERVER_URL` in a new schema on that PostgreSQL server (.ci/run does both).

    .venv/bin/python scripts/smoke_app.py
    .venv/bin/python scripts/smoke_app.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = re.findall(r'st\.Page\("(pages/[a-z_]+\.py)"', (ROOT / "app.py").read_text())  # every page app.py lists


def cli(db: Path | str, *args: str) -> str:
    """Run `python -m annotate --db DB ARGS`; return its output or exit with it."""
    result = subprocess.run([sys.executable, "-m", "annotate", "--db", str(db), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"annotate {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def open_every_page(db: Path | str, token: str) -> None:
    """Log in with `token` and run each page; exit on the first exception."""
    from streamlit.testing.v1 import AppTest

    os.environ["ANNOTATE_DB"] = str(db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["token"] = token
    at.run()
    for page in [None, *PAGES]:
        if page is not None:
            at.switch_page(page).run()
        if at.exception:
            sys.exit(f"{page or 'app.py'} raised: {at.exception[0].message}")
        print(f"ok  {page or 'app.py (login)'}")


def smoke(db: Path | str) -> None:
    """`init --demo`, `projects`, then every page, on one database (a file or a postgresql:// URL)."""
    links = cli(db, "init", "--demo")
    token = next(line.split("token=")[1] for line in links.splitlines() if "admin:" in line)
    projects = json.loads(cli(db, "projects", "--json"))
    print(f"ok  init --demo, projects: {', '.join(p['name'] for p in projects)}")
    open_every_page(db, token.strip())


def postgres_schema(server: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema on `server`; the schema is dropped afterwards."""
    import psycopg
    schema = f"smoke_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    if importlib.util.find_spec("torch") is not None:
        sys.exit("torch is installed here: run this in a virtual environment made from requirements.txt alone")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="Smoke-test on this PostgreSQL server (in a new schema, "
                                                          "dropped afterwards) instead of a DuckDB file.")
    server = parser.parse_args().postgres
    if server:
        for url in postgres_schema(server):
            smoke(url)
    else:
        with tempfile.TemporaryDirectory() as folder:
            smoke(Path(folder) / "smoke.duckdb")
    if "torch" in sys.modules:
        sys.exit("a page imported torch")
    print("The annotation app works without the local-model stack.")


if __name__ == "__main__":
    main()
