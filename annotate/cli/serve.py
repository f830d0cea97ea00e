"""Start the app after checking its database: `python -m annotate serve [STREAMLIT OPTIONS]`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import storage
from annotate.cli.base import cli

APP = Path(__file__).resolve().parents[2] / "app.py"


@cli.command("serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def serve_command(ctx: click.Context, streamlit_args: tuple[str, ...]) -> None:
    """Open the database (refusing a damaged or held one, or a PostgreSQL role that cannot write
    the app's tables), then run the app with `streamlit run`.

    With plain `streamlit run app.py` the same check happens on the first visit and then stops the
    server; starting through this command means nothing listens on the port when the database is
    unusable, so health checks never see a server that cannot work. Options after the command go
    to `streamlit run` (e.g. --server.port 8501).
    """
    path = ctx.find_root().obj["db_path"]
    conn = storage.connect(path)  # a fresh file is created (the app puts the demo in it)
    try:
        storage.db.require_write_grants(conn)  # a PostgreSQL role that cannot write labels serves nobody
    finally:
        conn.close()
    env = os.environ | {storage.db.DB_ENV_VAR: str(path)}
    os.execvpe(sys.executable, [sys.executable, "-m", "streamlit", "run", str(APP), *streamlit_args], env)
