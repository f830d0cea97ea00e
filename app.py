"""Streamlit entry point: login, the shared sidebar, and the pages each role may see.

Run with `streamlit run app.py`. The database comes from $ANNOTATE_DB (a DuckDB file, default
data/annotate.duckdb, or a postgresql:// URL shared by several servers); a fresh database gets the demo
projects once, and the server that created them prints their invite links.
Pages register by adding one `st.Page(...)` to the list of the role that may open them; each page
also calls `pages.session.require_role(...)` so a URL opened directly is guarded too.

Login: an invite link (`/?token=...`) or the token form exchanges the token for a session
(pages/session.py); the browser keeps the session key in a cookie, so a reload or a second tab
stays logged in, and the token is removed from the address bar without leaving a history entry.
A crowd study's public link (`/?study=...&PROLIFIC_PID=...`) logs a participant in the same way and
shows them their one page, without the sidebar (pages/study_entry.py).
"""
from __future__ import annotations

import streamlit as st

from annotate.labeling import annotators
from annotate.data.first_start import create_demo_once
from annotate.errors import AnnotateError
from annotate.labeling.item_text import escape_markdown
from pages import session, startup, study_entry

ANNOTATOR_PAGES = [
    st.Page("pages/label.py", title="Label", icon=":material/rate_review:", default=True),
    st.Page("pages/history.py", title="My history", icon=":material/history:"),
    st.Page("pages/home.py", title="My progress", icon=":material/monitoring:"),
]
RESEARCHER_PAGES: list = [
    st.Page("pages/analysis.py", title="Analysis", icon=":material/analytics:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
    st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
    st.Page("pages/judges.py", title="Judges", icon=":material/gavel:"),
    st.Page("pages/router.py", title="Router", icon=":material/alt_route:"),
    st.Page("pages/study.py", title="Study", icon=":material/groups:"),
]
ADMIN_PAGES = [
    st.Page("pages/admin.py", title="Annotators", icon=":material/group:"),
    st.Page("pages/projects.py", title="Projects", icon=":material/folder_open:"),
]


@st.cache_resource(show_spinner=False)
def prepare_database(path: str, base_url: str) -> None:
    """Once per database file and server: create the demo in a fresh file and print its links on
    the server's own address (or $ANNOTATE_BASE_URL). Not on the first visitor's: on a server
    reachable from outside, a stranger could otherwise make the admin's link point at their host."""
    tokens = create_demo_once(session.get_conn())  # once, even when several servers start on one new database
    if tokens:
        links = "\n".join(f"  {name}: {annotators.invite_link(token, base_url)}" for name, token in tokens.items())
        print(f"Created the demo projects. Invite links (shown once):\n{links}", flush=True)


def login() -> dict | None:
    """The logged-in user: this session's, or from ?token=... (an invite link), or from the
    session cookie (a reload, a second tab); None when nobody is logged in."""
    if study_entry.has_study_link():  # a crowd study's public link: the participant, or None with the reason
        return study_entry.enter_from_link()
    token = st.query_params.get("token")
    if token and annotators.hash_token(token) != st.session_state.get(session.TOKEN_SEEN):
        st.session_state[session.TOKEN_SEEN] = annotators.hash_token(token)  # the URL may carry it a while
        try:
            return session.log_in(token)
        except AnnotateError as exc:
            st.session_state[session.ENDED] = str(exc)
            return None
    return session.current_user() or session.resume_from_cookie()


def login_page() -> None:
    """The only page for someone not logged in: the token form. The token travels in the form's
    message to the server, never in a URL."""
    st.title("Annotate")
    if reason := st.session_state.pop(session.ENDED, None):
        st.error(reason)
    with st.form("login"):
        token = st.text_input("Invite token", type="password",
                              help="The token from your invite link (the part after ?token=).")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted and token:
        try:
            session.log_in(token.strip())
        except AnnotateError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    session.run_browser_actions()


def sidebar(user: dict) -> None:
    with st.sidebar:
        session.project_selector(session.get_conn())
        st.caption(f"Logged in as **{escape_markdown(user['name'])}** ({user['role']})")  # a name is never markup
        st.button("Log out", icon=":material/logout:", on_click=session.log_out)
        session.run_browser_actions()


def main() -> None:
    st.set_page_config(page_title="Annotate", page_icon="⚖️", layout="wide")
    startup.require_database()  # a damaged or held database stops the server with one line
    prepare_database(session.db_path(), session.server_url())
    user = login()
    if user is None and study_entry.has_problem():
        st.navigation([st.Page(study_entry.problem_page, title="Study", default=True)], position="hidden").run()
        return
    if user is not None and (participant := study_entry.participant_of(user)) is not None:
        study_entry.run_participant(participant)  # one page, no sidebar: participants see only their items
        return
    if user is None:
        # Through st.navigation too, so that Streamlit never lists the files in pages/ instead.
        st.navigation([st.Page(login_page, title="Log in", default=True)], position="hidden").run()
        return
    pages = {"Annotate": ANNOTATOR_PAGES}
    if session.has_role(user, "researcher"):
        pages["Research"] = RESEARCHER_PAGES
    if session.has_role(user, "admin"):
        pages["Admin"] = ADMIN_PAGES
    navigation = st.navigation({k: v for k, v in pages.items() if v})
    sidebar(user)
    navigation.run()


main()
