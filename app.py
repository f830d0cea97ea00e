"""Streamlit entry point: login, the shared sidebar, and the pages each role may see.

Run with `streamlit run app.py`. The database path comes from $ANNOTATE_DB (default
data/annotate.duckdb); a fresh database gets the demo projects, and their invite links are printed.
Pages register by adding one `st.Page(...)` to the list of the role that may open them; each page
also calls `pages.session.require_role(...)` so a URL opened directly is guarded too.
"""
from __future__ import annotations

import streamlit as st

from annotate.labeling import annotators, auth
from annotate.data.demo import create_demo, is_demo_needed
from annotate.errors import AnnotateError
from pages import session

ANNOTATOR_PAGES = [
    st.Page("pages/label.py", title="Label", icon=":material/rate_review:", default=True),
    st.Page("pages/history.py", title="My history", icon=":material/history:"),
    st.Page("pages/home.py", title="My progress", icon=":material/monitoring:"),
]
RESEARCHER_PAGES: list = [
    st.Page("pages/analysis.py", title="Analysis", icon=":material/analytics:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
    st.Page("pages/judges.py", title="Judges", icon=":material/gavel:"),
    st.Page("pages/router.py", title="Router", icon=":material/alt_route:"),
]
ADMIN_PAGES = [
    st.Page("pages/admin.py", title="Annotators", icon=":material/group:"),
    st.Page("pages/projects.py", title="Projects", icon=":material/folder_open:"),
]


@st.cache_resource(show_spinner=False)
def prepare_database(path: str) -> None:
    """Once per database file and server: create the demo in a fresh file and print its links."""
    conn = session.get_conn()
    if is_demo_needed(conn):
        tokens = create_demo(conn)
        links = "\n".join(f"  {name}: {annotators.invite_link(token)}" for name, token in tokens.items())
        print(f"Created the demo projects. Invite links (shown once):\n{links}", flush=True)


def client_address() -> str:
    """The browser's IP address, or 'unknown' (behind some proxies, and in AppTest)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "unknown"


def login() -> dict | None:
    """Log in from ?token=... (an invite link) or the token form; return the user or None."""
    token = st.query_params.get("token")
    if token and session.current_user() is None:
        try:
            st.session_state[session.USER] = auth.login(session.get_conn(), token, client_address())
        except AnnotateError as exc:
            st.error(str(exc))
    if token:
        del st.query_params["token"]  # keep the secret out of the address bar and history
    return session.current_user()


def login_form() -> None:
    st.title("Annotate")
    with st.form("login"):
        token = st.text_input("Invite token", type="password",
                              help="The token from your invite link (the part after ?token=).")
        if st.form_submit_button("Log in", type="primary") and token:
            st.query_params["token"] = token
            st.rerun()


def sidebar(user: dict) -> None:
    with st.sidebar:
        session.project_selector(session.get_conn())
        st.caption(f"Logged in as **{user['name']}** ({user['role']})")
        if st.button("Log out", icon=":material/logout:"):
            st.session_state.clear()
            st.rerun()


def main() -> None:
    st.set_page_config(page_title="Annotate", page_icon=":material/compare:", layout="wide")
    prepare_database(session.db_path())
    user = login()
    if user is None:
        login_form()
        st.stop()
    pages = {"Annotate": ANNOTATOR_PAGES}
    if session.has_role(user, "researcher"):
        pages["Research"] = RESEARCHER_PAGES
    if session.has_role(user, "admin"):
        pages["Admin"] = ADMIN_PAGES
    navigation = st.navigation({k: v for k, v in pages.items() if v})
    sidebar(user)
    navigation.run()


main()
