"""Session-state keys, the cached connection, the login session and the role guards, in one place.

Every page starts with `user = require_role("annotator" | "researcher" | "admin")`: st.navigation
lists only the pages a role may see, and the guard also stops a page whose URL is opened directly.
The guard re-reads the session from the database (annotate.labeling.auth.check_session), so a
logout, an expiry, a deactivation or a token reset ends the session on the next click.

A fragment rerun and a widget callback do not run the page script, so they check for themselves:
- a fragment calls `require_role(role)` first (when the session has ended it reruns the whole app,
  which then shows the login form);
- a callback is wrapped in `@guard(role)`: it does nothing when the session has ended (the page
  run that follows says why).
The check is made once per script run (callbacks, app.py and the page share it) and again on every
run, fragment runs included.

The login session lives in the `sessions` table; the browser keeps its key in the COOKIE cookie
(set by `remember_in_browser`), so a reload or a second tab resumes it (`resume_from_cookie`).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import streamlit as st
from streamlit import config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

import storage
from annotate.labeling import annotators, auth
from annotate.data import backup
from annotate.errors import AuthError, NotFoundError
from annotate.labeling.item_text import escape_markdown
from annotate.projects import Project, get_project, project_names
from annotate.study.links import LINK_PARAM
from annotate.study.participants import PLATFORM_PARAMS

USER = "user"
PROJECT = "project"
EDITING = "editing_event"
MODE = "note_mode"
NOTICE = "notice"
ENDED = "session_ended"          # why the session ended, shown once on the login form
BROWSER = "browser_actions"      # scripts for the browser to run on the next render (cookie, address bar)
_CHECKED = "_session_checked_run"  # the script run whose session check USER holds
TOKEN_SEEN = "token_seen"        # hash of the invite token this browser session already used
COOKIE_ENDED = "cookie_ended"    # the cookie's session key once it is known to have ended
ROUTER_SIMULATION = "router_simulation"  # (project, judge, result) of the Router page's last simulation
KEPT_ON_LOGOUT = (TOKEN_SEEN, COOKIE_ENDED)  # the cookie a tab sent stays the same until it reloads
COOKIE = "annotate_session"
# Parameters removed from the address bar once read: the invite token, a study link's secret and
# the platform's participant ids (annotate.study.participants.PLATFORM_PARAMS).
URL_SECRETS = ("token", LINK_PARAM, *(n for names in PLATFORM_PARAMS.values() for n in names if n))

ROLE_RANK = {role: rank for rank, role in enumerate(annotators.ROLES)}
P = ParamSpec("P")
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _connection(path: str) -> storage.db.Connection:
    """One connection per database for the whole server: a DuckDB file's (DuckDB allows one
    read-write process per file; pages use a cursor per thread through storage.cursor), or a pool on
    a postgresql:// URL. Nothing about a login is cached here or anywhere in the process: every
    check reads the `sessions` table, so a session key works on any of several servers."""
    conn = storage.connect(path)
    if storage.db.is_postgres(conn):  # `annotate backup` connects to PostgreSQL itself
        return conn
    return backup.serve_backup_requests(conn, path)  # answers `annotate backup` while running (file lock)


def db_path() -> str:
    """The database named by $ANNOTATE_DB (a DuckDB file or a postgresql:// URL; or the default file)."""
    return str(storage.resolve_db_path())


def get_conn() -> storage.db.Connection:
    """The server's cached connection to the database named by $ANNOTATE_DB: the one place pages
    touch storage/ directly."""
    return _connection(db_path())


def _this_run() -> object | None:
    """An object that is new in every script run (page, fragment or callback run) of this session.

    Streamlit gives each run a fresh `cursors` dict on its run context; None outside a run.
    """
    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.cursors


def current_user() -> dict | None:
    """The logged-in annotator (id, name, role, ...) as the store has them now, or None.

    The session is re-read from the database once per script run (auth.check_session): a logout
    in another tab, deactivation, a token reset, a role change or the session's expiry take effect
    on the user's next click. When the session has ended, the reason is kept under ENDED for the
    login form and the browser is told to forget its cookie.
    """
    user = st.session_state.get(USER)
    if user is None:
        return None
    run = _this_run()
    checked = st.session_state.get(_CHECKED)
    if run is not None and checked is not None and checked[0] is run:
        return user
    try:
        user = auth.check_session(get_conn(), user)
    except AuthError as exc:
        end_session(str(exc))
        return None
    st.session_state[USER] = user
    st.session_state[_CHECKED] = (run, user["id"])
    return user


def has_role(user: dict | None, role: str) -> bool:
    """Whether `user` holds `role` or a higher one (annotator < researcher < admin)."""
    return user is not None and ROLE_RANK[user["role"]] >= ROLE_RANK[role]


def require_role(role: str) -> dict:
    """Return the logged-in user if they hold `role` (or higher); otherwise show an error and stop.

    Call it first in every page and in every fragment. In a fragment rerun whose session has ended
    it reruns the whole app (which shows the login form) instead of an error inside the fragment.
    """
    _leave_pages_directory_mode()
    user = current_user()
    if user is None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:
            st.rerun(scope="app")
        st.error(st.session_state.get(ENDED) or "Please log in with your invite link or token.")
        st.stop()
    if not has_role(user, role):
        st.error(f"This page needs the {role} role; you are logged in as {user['role']}.")
        st.stop()
    return user


def _leave_pages_directory_mode() -> None:
    """Rerun through app.py when Streamlit ran a page file by itself.

    Streamlit starts a server process in its old `pages/` directory mode, which only app.py's
    st.navigation turns off: a first visit to e.g. /admin after a start would run pages/admin.py
    without app.py and list every file in pages/ in the sidebar. AppTest resets that mode before
    each of its runs and runs page files directly on purpose, so it is left alone there.
    """
    if PagesManager.uses_pages_directory and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def guard(role: str) -> Callable[[Callable[P, T]], Callable[P, T | None]]:
    """Decorate a widget callback (on_click / on_change / on_submit) so that it runs only while the
    session is valid and holds `role`; otherwise it does nothing and returns None (the page run
    that follows the callback shows the login form or the refusal).

        @session.guard("admin")
        def deactivate(name: str) -> None: ...
        st.button("Deactivate", on_click=deactivate, args=(name,))
    """
    def decorate(callback: Callable[P, T]) -> Callable[P, T | None]:
        @functools.wraps(callback)
        def checked(*args: P.args, **kwargs: P.kwargs) -> T | None:
            if not has_role(current_user(), role):
                return None
            return callback(*args, **kwargs)
        return checked
    return decorate


def _text(value: object) -> str | None:
    """A st.context value if it is text (AppTest's context holds mock objects instead)."""
    return value if isinstance(value, str) and value else None


def _cookie() -> str | None:
    """The session key this browser sent when it connected (cookies are read once per connection)."""
    return _text(st.context.cookies.get(COOKIE))


def client_address() -> str:
    """The address of this browser for the login slow-down (see auth.client_address)."""
    headers = st.context.headers.to_dict()
    headers = {k: v for k, v in headers.items() if isinstance(v, str)} if isinstance(headers, dict) else {}
    return auth.client_address(_text(st.context.ip_address), headers)


def app_url() -> str | None:
    """The address the app is served on, as this browser reached it (scheme, host, port and base
    path, without the page's own path), or None outside a browser session."""
    url = _text(st.context.url)
    if url is None:
        return None
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    ctx = get_script_run_ctx()
    pages = ctx.pages_manager.get_pages().values() if ctx is not None else []
    for page in filter(None, (info.get("url_pathname") for info in pages)):
        if path.endswith("/" + page):
            path = path.removesuffix("/" + page)
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def server_url() -> str:
    """This server's own address as `streamlit run` prints it (http://localhost:8501 plus any base
    path), from its configuration: never from a request, whose Host anyone reaching the server sets."""
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    host = st.get_option("server.address") or "localhost"
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{scheme}://{host}:{st.get_option('server.port')}" + (f"/{base}" if base else "")


def invite_link(token: str) -> str:
    """The invite link for `token` on the address this app is served on ($ANNOTATE_BASE_URL wins)."""
    return annotators.invite_link(token, app_url())


def log_in(token: str) -> dict:
    """Exchange an invite token for a session in this browser; return the user.

    Raises:
        AuthError: wrong or revoked token, deactivated account, or too many failed attempts.
    """
    return begin(auth.login(get_conn(), token, client_address()))


def begin(user: dict) -> dict:
    """Make a new login session (`user` with its SESSION_KEY) this browser's; return the user.

    When the browser's cookie already holds a session of the same person, that one is kept (their
    other tabs use it) and the new one ends; someone else's session in this browser ends.
    """
    conn = get_conn()
    if old_key := _cookie():  # this browser already has a session
        try:
            old = auth.resume_session(conn, old_key)
        except AuthError:
            old = None
        if old is not None and old["id"] == user["id"]:  # the same person opened their link again:
            auth.logout(conn, user[auth.SESSION_KEY])    # keep the session their other tabs use
            _start(old, set_cookie=False)
            return old
        auth.logout(conn, old_key)  # someone else's login in this browser replaces the old session
    _start(user)
    return user


def resume_from_cookie() -> dict | None:
    """Resume the session whose key this browser sent as a cookie (a reload, a second tab, a
    restarted server); None without a cookie or when that session has ended."""
    key = _cookie()
    if not key or key == st.session_state.get(COOKIE_ENDED):
        return None
    try:
        user = auth.resume_session(get_conn(), key)
    except AuthError as exc:
        end_session(str(exc))
        st.session_state[COOKIE_ENDED] = key
        return None
    _start(user, set_cookie=False)
    return user


def _start(user: dict, set_cookie: bool = True) -> None:
    st.session_state[USER] = user
    st.session_state[_CHECKED] = (_this_run(), user["id"])
    st.session_state.pop(ENDED, None)
    if set_cookie:
        max_age = max(0, int((user[auth.EXPIRES_AT] - user[auth.LOGGED_IN_AT]).total_seconds()))
        _tell_browser(_cookie_script(user[auth.SESSION_KEY], max_age))


def log_out() -> None:
    """End this browser's session everywhere (other tabs on their next click) and forget it here."""
    user = st.session_state.get(USER)
    if user is not None:
        auth.logout(get_conn(), user.get(auth.SESSION_KEY) or "")
    end_session(None)
    st.session_state[COOKIE_ENDED] = _cookie()


def end_session(reason: str | None) -> None:
    """Forget the session in this browser (its session state, but KEPT_ON_LOGOUT) and tell it to
    drop the cookie; `reason` is shown once on the login form."""
    for key in list(st.session_state.keys()):
        if key not in KEPT_ON_LOGOUT:
            del st.session_state[key]
    if reason:
        st.session_state[ENDED] = reason
    _tell_browser(_cookie_script("", 0))


def _tell_browser(script: str) -> None:
    st.session_state[BROWSER] = [*st.session_state.get(BROWSER, []), script]


def _cookie_script(key: str, max_age: int) -> str:
    """JavaScript that stores (or, with max_age 0, deletes) the session cookie: SameSite=Strict,
    Secure over https. It cannot be HttpOnly: Streamlit gives the app no HTTP response to set it on."""
    cookie = f"{COOKIE}={key}; Path=/; Max-Age={max_age}; SameSite=Strict"
    return f"document.cookie = {json.dumps(cookie)} + (location.protocol === 'https:' ? '; Secure' : '');"


def run_browser_actions() -> None:
    """Render the scripts queued for the browser (cookie changes) and remove the invite token and a
    study link's parameters (URL_SECRETS) from the address bar by replacing the current history entry, so Back never shows it. Call once per
    full run, where an invisible element does not disturb the layout."""
    scripts = st.session_state.pop(BROWSER, [])
    if not scripts and not any(name in st.query_params for name in URL_SECRETS):
        return
    scrub = (f"const u = new URL(window.location.href); const names = {json.dumps(URL_SECRETS)};"
             "if (names.some((n) => u.searchParams.has(n))) { names.forEach((n) => u.searchParams.delete(n));"
             " window.history.replaceState(window.history.state, '', u.pathname + u.search + u.hash); }")
    # A function scope: each of these scripts runs in the page's global scope, where a second
    # top-level `const` of the same name would be a SyntaxError and stop the whole script.
    st.html(f"<script>(() => {{ {' '.join([*scripts, scrub])} }})();</script>", unsafe_allow_javascript=True)


def project_selector(conn: storage.db.Connection) -> None:
    """The sidebar's project choice (kept under PROJECT); hidden when there is only one project."""
    names = project_names(conn)
    if st.session_state.get(PROJECT) not in names:  # deleted or archived since it was chosen
        st.session_state.pop(PROJECT, None)
    if len(names) > 1:
        st.selectbox("Project", names, key=PROJECT)
    elif names:
        st.session_state[PROJECT] = names[0]


def require_project(conn: storage.db.Connection) -> Project:
    """The project chosen in the sidebar; stops the page when there is none yet."""
    name = st.session_state.get(PROJECT)
    if not name:
        st.info("There are no projects yet. An admin or researcher can import one with `annotate import`.")
        st.stop()
    try:
        return get_project(conn, name)
    except NotFoundError:  # deleted while this browser had it chosen (a fragment run: no sidebar yet)
        st.session_state.pop(PROJECT, None)
        st.info(f"The project **{escape_markdown(name)}** no longer exists. Choose another project in the sidebar.")
        st.stop()
