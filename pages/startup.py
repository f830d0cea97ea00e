"""What the app does once per server before serving anyone: open the database, or refuse to run.

A damaged database file, a file another process holds, or a full disk must not give visitors a
Python traceback with server paths while `/_stcore/health` keeps answering "ok". So the first run
of app.py (`require_database`, called first in its main) opens the database; when that fails it
prints one line naming the cause and what to do in the server's terminal, shows visitors a short
notice without details, and stops the Streamlit server, so that the health endpoint stops
answering "ok" and a supervisor sees the exit. `python -m annotate serve` makes the same check
before it starts Streamlit at all (nothing listens on the port when the database is unusable).

The same holds for a postgresql:// URL ($ANNOTATE_DB): a server that cannot be reached, a wrong
password or database name give the same kind of one line (storage.pg_errors; the URL shown without
its password), whether psycopg raised it while connecting or while migrating; so does a role that
cannot write the app's tables (storage.db.require_write_grants).

When the database opens, judge runs left 'queued' or 'running' by a server that stopped are marked
'interrupted' (they can be resumed on the Judges page).
"""
from __future__ import annotations

import sys
import threading

import streamlit as st
from streamlit import runtime

import storage
from storage import pg_errors
from annotate.judges import mark_interrupted_runs
from pages import session

STOP_DELAY_S = 1.0
VISITOR_NOTICE = ("The app cannot open its database, so it has stopped. Whoever runs the server finds the "
                  "reason and what to do in the server's terminal.")


@st.cache_resource(show_spinner=False)
def _open_once(path: str) -> int:
    """Open the server's connection (session.get_conn, cached) and mark interrupted runs; once per
    server and database file. Returns the number of runs marked."""
    storage.db.require_write_grants(session.get_conn())
    marked = mark_interrupted_runs(session.get_conn())
    if marked:
        print(f"annotate: marked {marked} judge run(s) left running by a stopped server as interrupted; "
              f"resume them on the Judges page", file=sys.stderr, flush=True)
    return marked


def _notice() -> None:
    st.error(VISITOR_NOTICE, icon=":material/error:")


def require_database() -> None:
    """Open the database or stop the server with a one-line reason (see the module docstring)."""
    try:
        _open_once(session.db_path())
    except Exception as exc:  # a StoreError, or psycopg's own (a PostgreSQL server that went away)
        error = pg_errors.store_error(exc, session.db_path())
        if error is None:
            raise
        print(f"annotate: {error}", file=sys.stderr, flush=True)
        st.navigation([st.Page(_notice, title="Annotate")], position="hidden")  # no list of the app's files
        _notice()
        if runtime.exists():  # after a moment, so that this run's notice reaches the browser first
            threading.Timer(STOP_DELAY_S, runtime.get_instance().stop).start()
        st.stop()
