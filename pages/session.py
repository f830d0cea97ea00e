"""Session-state keys, the cached connection and the role guard, in one place.

Every page starts with `user = require_role("annotator" | "researcher" | "admin")`: st.navigation
lists only the pages a role may see, and the guard also stops a page whose URL is opened directly.
"""
from __future__ import annotations

import duckdb
import streamlit as st

import storage
from annotate.labeling import annotators, auth
from annotate.data import backup
from annotate.errors import AuthError
from annotate.projects import Project, get_project, project_names

USER = "user"
PROJECT = "project"
EDITING = "editing_event"
MODE = "note_mode"
NOTICE = "notice"

ROLE_RANK = {role: rank for rank, role in enumerate(annotators.ROLES)}


@st.cache_resource(show_spinner=False)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    """One DuckDB connection per database file for the whole server (DuckDB allows one
    read-write process per file); pages use a cursor per thread through storage.cursor."""
    return backup.serve_backup_requests(storage.connect(path), path)  # answers `annotate backup` while running


def db_path() -> str:
    """The database file named by $ANNOTATE_DB (or the default)."""
    return str(storage.resolve_db_path())


def get_conn() -> duckdb.DuckDBPyConnection:
    """The server's cached connection to the database named by $ANNOTATE_DB: the one place pages
    touch storage/ directly."""
    return _connection(db_path())


def current_user() -> dict | None:
    """The logged-in annotator (id, name, role, ...) as the store has them now, or None.

    Checked on every run (auth.check_session): deactivation, a token reset, a role change or the
    session's expiry take effect on the user's next click, not at their next login.
    """
    user = st.session_state.get(USER)
    if user is not None:
        try:
            user = st.session_state[USER] = auth.check_session(get_conn(), user)
        except AuthError as exc:
            del st.session_state[USER]
            st.error(str(exc))
            return None
    return user


def has_role(user: dict | None, role: str) -> bool:
    """Whether `user` holds `role` or a higher one (annotator < researcher < admin)."""
    return user is not None and ROLE_RANK[user["role"]] >= ROLE_RANK[role]


def require_role(role: str) -> dict:
    """Return the logged-in user if they hold `role` (or higher); otherwise show an error and stop."""
    user = current_user()
    if user is None:
        st.error("Please log in with your invite link or token.")
        st.stop()
    if not has_role(user, role):
        st.error(f"This page needs the {role} role; you are logged in as {user['role']}.")
        st.stop()
    return user


def project_selector(conn: duckdb.DuckDBPyConnection) -> None:
    """The sidebar's project choice (kept under PROJECT); hidden when there is only one project."""
    names = project_names(conn)
    if len(names) > 1:
        st.selectbox("Project", names, key=PROJECT)
    elif names:
        st.session_state[PROJECT] = names[0]


def require_project(conn: duckdb.DuckDBPyConnection) -> Project:
    """The project chosen in the sidebar; stops the page when there is none yet."""
    name = st.session_state.get(PROJECT)
    if not name:
        st.info("There are no projects yet. An admin or researcher can import one with `annotate import`.")
        st.stop()
    return get_project(conn, name)
