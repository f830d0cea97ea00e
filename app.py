"""Streamlit entry point: one cached connection, login, and the pages each role may see.

Run with `streamlit run app.py`. The database path comes from $ANNOTATE_DB (default
data/annotate.duckdb); a fresh database gets the demo project, and its invite links are printed.
"""
from __future__ import annotations

import streamlit as st

import storage
from annotate import annotators
from annotate.demo import create_demo, is_demo_needed
from annotate.errors import AnnotateError
from pages import session

ANNOTATOR_PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
]
RESEARCHER_PAGES: list = []
ADMIN_PAGES: list = []


@st.cache_resource
def get_connection():
    """The process's one DuckDB connection (DuckDB allows one read-write process per file)."""
    conn = storage.connect()
    if is_demo_needed(conn):
        tokens = create_demo(conn)
        links = "\n".join(f"  {name}: {annotators.invite_link(token)}" for name, token in tokens.items())
        print(f"Created the demo projects. Invite links (shown once):\n{links}", flush=True)
    return conn


def login(conn) -> dict | None:
    """Log in from ?token=... or the token form; return the annotator or None."""
    token = st.query_params.get("token")
    if token and session.USER not in st.session_state:
        try:
            st.session_state[session.USER] = annotators.authenticate(conn, token)
        except AnnotateError as exc:
            st.error(str(exc))
        st.query_params.clear()
    return st.session_state.get(session.USER)


def main() -> None:
    st.set_page_config(page_title="Annotate", page_icon=":material/compare:", layout="wide")
    conn = get_connection()
    user = login(conn)
    if user is None:
        with st.form("login"):
            token = st.text_input("Invite token", type="password")
            if st.form_submit_button("Log in") and token:
                st.query_params["token"] = token
                st.rerun()
        st.stop()
    pages = {"Annotate": ANNOTATOR_PAGES}
    if user["role"] in ("researcher", "admin"):
        pages["Research"] = RESEARCHER_PAGES
    if user["role"] == "admin":
        pages["Admin"] = ADMIN_PAGES
    st.navigation({k: v for k, v in pages.items() if v}).run()


main()
