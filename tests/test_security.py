"""Nobody where they don't belong: roles checked on every run, revocation and expiry mid-session,
tokens hashed at rest, and an annotator who cannot reach other people's labels, judge verdicts or
exports through any page, query parameter or CLI default."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling import annotators, auth
from annotate.data import backup
from annotate.clock import utc_now
from annotate.labeling.labels import record_label
from annotate.config import ProjectConfig
from annotate.errors import AnnotateError
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SECRET_MODEL = "secret-model-name"


@pytest.fixture
def app_db(db, db_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    return db


@pytest.fixture
def project(app_db, tmp_path):
    """A pairwise project whose items carry a hidden model name and an imported judge verdict."""
    rows = [{"id": f"q{i}", "prompt": f"Question {i}", "response_a": f"left {i}", "response_b": f"right {i}",
             "model_a": SECRET_MODEL, "model_b": "other-model", "gpt": "A"} for i in range(3)]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    created = create_project(app_db, "secure", ProjectConfig(task_type="pairwise", overlap=2))
    import_file(app_db, created, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b",
                                                             judge_labels={"judge-gpt": "gpt"}))
    return created


def open_app(token: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["token"] = token
    return at.run()


def screen(at: AppTest) -> str:
    """Everything an AppTest run put on the page (text of every element, tables included)."""
    parts = [str(getattr(element, "value", "")) for element in at.main] + \
            [str(getattr(element, "value", "")) for element in at.sidebar]
    parts += [frame.value.to_string() for frame in at.dataframe]
    return "\n".join(parts)


def test_invite_tokens_are_random_and_only_their_hash_is_stored(app_db):
    _, first = annotators.add_annotator(app_db, "one")
    _, second = annotators.add_annotator(app_db, "two")
    assert first != second and len(first) >= 43  # 32 random bytes, url-safe base64
    stored = storage.annotators.get_annotator(storage.cursor(app_db), name="one")["token_hash"]
    assert stored == annotators.hash_token(first) and first not in stored
    assert "token_hash" not in annotators.list_annotators(app_db).columns


def test_reset_token_revokes_the_old_link(app_db):
    _, old = annotators.add_annotator(app_db, "ann")
    new = annotators.reset_token(app_db, "ann")
    with pytest.raises(auth.AuthError):
        auth.login(app_db, old, "10.0.0.1")
    assert auth.login(app_db, new, "10.0.0.1")["name"] == "ann"


def test_sessions_expire_after_their_lifetime(app_db):
    _, token = annotators.add_annotator(app_db, "ann")
    start = utc_now()
    user = auth.login(app_db, token, "10.0.0.1", now=start)
    assert auth.check_session(app_db, user, now=start + auth.SESSION_TTL - timedelta(minutes=1))["name"] == "ann"
    with pytest.raises(auth.SessionEndedError, match="expired"):
        auth.check_session(app_db, user, now=start + auth.SESSION_TTL + timedelta(minutes=1))


def test_repeated_failures_are_slowed_down_even_for_a_right_token(app_db):
    _, token = annotators.add_annotator(app_db, "ann")
    now = utc_now()
    for _ in range(auth.FREE_FAILURES):
        with pytest.raises(auth.AuthError):
            auth.login(app_db, "guess", "10.6.6.6", now=now)
    with pytest.raises(auth.TooManyAttemptsError):
        auth.login(app_db, token, "10.6.6.6", now=now)
    assert auth.login(app_db, token, "10.0.0.2", now=now)["name"] == "ann"  # other clients are not blocked


def test_deactivation_mid_session_ends_it_on_the_next_click(app_db, project):
    _, token = annotators.add_annotator(app_db, "ann")
    at = open_app(token)
    assert "Question" in screen(at)
    annotators.set_active(app_db, "ann", False)
    at.run()
    assert "revoked" in at.error[0].value and "Question" not in screen(at)


def test_token_reset_mid_session_ends_it_on_the_next_click(app_db, project):
    _, token = annotators.add_annotator(app_db, "ann")
    at = open_app(token)
    annotators.reset_token(app_db, "ann")
    at.run()
    assert "revoked" in at.error[0].value and "Question" not in screen(at)


def test_expired_session_in_the_app_shows_the_login_form(app_db, project):
    _, token = annotators.add_annotator(app_db, "ann")
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["user"] = auth.login(app_db, token, "10.0.0.1", now=utc_now() - auth.SESSION_TTL)
    at.run()
    assert "expired" in at.error[0].value and "Question" not in screen(at)
    assert at.text_input[0].label == "Invite token"


def test_annotator_sees_no_one_elses_labels_judges_or_models_on_any_reachable_page(app_db, project):
    other, _ = annotators.add_annotator(app_db, "rival-rater")
    record_label(app_db, project, other["id"], 1, {"overall": -2}, presented_order="AB")
    _, token = annotators.add_annotator(app_db, "ann")
    for page in ("pages/label.py", "pages/history.py", "pages/home.py"):
        at = open_app(token)
        at.switch_page(page).run()
        assert not at.exception
        text = screen(at)
        assert "rival-rater" not in text and "judge-gpt" not in text and SECRET_MODEL not in text, page
        assert not at.get("download_button")
    at = open_app(token)
    for page in ("pages/analysis.py", "pages/export.py", "pages/admin.py", "pages/judges.py", "pages/router.py"):
        if (ROOT / page).exists():
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page)


@pytest.mark.parametrize("params", [{"page": "export"}, {"page": "analysis"}, {"role": "admin"},
                                    {"annotator": "rival-rater"}, {"project": "secure' OR 1=1 --"}, {"user": "1"}])
def test_query_parameters_grant_nothing(app_db, project, params):
    other, _ = annotators.add_annotator(app_db, "rival-rater")
    record_label(app_db, project, other["id"], 1, {"overall": -2}, presented_order="AB")
    _, token = annotators.add_annotator(app_db, "ann")
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update({"token": token, **params})
    at.run()
    assert not at.exception
    text = screen(at)
    assert "rival-rater" not in text and "judge-gpt" not in text and not at.get("download_button")
    assert "Research" not in str([p for p in at.sidebar]) and "Admin" not in str([p for p in at.sidebar])


@pytest.mark.parametrize("script", ["pages/admin.py", "pages/export.py", "pages/analysis.py"])
def test_role_is_read_from_the_store_on_every_run_not_from_the_session(app_db, project, script):
    annotator, token = annotators.add_annotator(app_db, "ann")
    user = auth.login(app_db, token, "10.0.0.1")
    at = AppTest.from_file(str(ROOT / script), default_timeout=30)
    at.session_state["user"] = user | {"role": "admin"}  # a session that claims more than the store grants
    at.run()
    assert not at.exception
    assert "needs the" in at.error[0].value and len(at.main.children) == 1
    assert at.session_state["user"]["role"] == "annotator"


def test_cli_lists_annotators_without_tokens_and_backups_are_private(app_db, project, db_path, tmp_path):
    app_db.close()
    listed = subprocess.run([sys.executable, "-m", "annotate", "--db", str(db_path), "annotators", "list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "rival-rater" not in listed.stdout
    assert not re.search(r"[0-9a-f]{64}", listed.stdout)  # no token hashes
    backup.backup_database(db_path, tmp_path / "bk")
    assert (tmp_path / "bk").stat().st_mode & 0o077 == 0  # the folder holds the token hashes


# --- Sessions (issue 12 section 3, issue 17 section 5) ---------------------------------------------

def logged_in_app(conn, token: str, page: str | None = None) -> AppTest:
    """The app with a session from `token`, as a second tab or a reload would resume it."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["user"] = auth.login(conn, token, "10.0.0.1")
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_a_session_is_stored_as_a_key_hash_and_survives_a_restart(app_db, db_path):
    _, token = annotators.add_annotator(app_db, "ann")
    user = auth.login(app_db, token, "10.0.0.1")
    key = user[auth.SESSION_KEY]
    assert key != token and len(key) >= 43
    app_db.close()  # the server stops; its sessions are in the database file
    reopened = storage.connect(db_path)
    stored = reopened.execute("SELECT key_hash FROM sessions").fetchall()
    assert stored == [(annotators.hash_token(key),)]
    assert auth.resume_session(reopened, key)["name"] == "ann"
    reopened.close()


def test_logging_out_ends_the_session_in_every_tab(app_db, project):
    _, token = annotators.add_annotator(app_db, "ann")
    user = auth.login(app_db, token, "10.0.0.1")
    first, second = (AppTest.from_file(APP, default_timeout=30) for _ in range(2))
    for tab in (first, second):
        tab.session_state["user"] = user  # two tabs of one browser share the session key (the cookie)
        tab.run()
        assert "Question" in screen(tab)
    next(b for b in first.sidebar.button if b.label == "Log out").click().run()
    assert "Question" not in screen(first) and "Please log in" in first.error[0].value
    second.run()
    assert "Question" not in screen(second) and "ended" in second.error[0].value
    with pytest.raises(auth.SessionEndedError):
        auth.resume_session(app_db, user[auth.SESSION_KEY])


def test_token_form_logs_in_without_putting_the_token_in_the_address(app_db, project):
    _, token = annotators.add_annotator(app_db, "ann")
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input[0].set_value(token)
    at = at.button[0].click().run()
    assert "Question" in screen(at) and "token" not in at.query_params
    assert at.session_state["user"][auth.SESSION_KEY] != token


def test_an_admin_callback_after_deactivation_changes_nothing(app_db, project):
    _, admin_token = annotators.add_annotator(app_db, "boss", "admin")
    annotators.add_annotator(app_db, "ann")
    at = logged_in_app(app_db, admin_token, "pages/admin.py")
    at.selectbox(key="admin_who").set_value("ann")
    annotators.set_active(app_db, "boss", False)  # another admin deactivates this one meanwhile
    at = next(b for b in at.button if b.label == "Deactivate").click().run()
    assert annotators.get_annotator(app_db, "ann")["is_active"]  # the callback did not run
    assert "revoked" in at.error[0].value and not at.button


def test_admin_gives_a_new_invite_link_while_the_app_runs(app_db, project, monkeypatch):
    monkeypatch.delenv(annotators.BASE_URL_ENV, raising=False)
    _, admin_token = annotators.add_annotator(app_db, "boss", "admin")
    _, old_token = annotators.add_annotator(app_db, "ann")
    old_user = auth.login(app_db, old_token, "10.0.0.2")
    at = logged_in_app(app_db, admin_token, "pages/admin.py")
    at.selectbox(key="admin_who").set_value("ann")
    at = next(b for b in at.button if b.label == "New invite link").click().run()
    link = at.code[0].value
    assert link.startswith("/?token=") and "8501" not in link  # AppTest has no address; a browser's is used
    new_token = link.split("token=")[1]
    assert auth.login(app_db, new_token, "10.0.0.2")["name"] == "ann"
    with pytest.raises(auth.AuthError):
        auth.login(app_db, old_token, "10.0.0.3")
    with pytest.raises(auth.SessionEndedError):
        auth.check_session(app_db, old_user)  # the reset also ends sessions opened with the old link
    assert not at.run().code  # shown once


def test_admin_can_log_someone_out_everywhere_and_their_link_still_works(app_db):
    _, token = annotators.add_annotator(app_db, "ann")
    users = [auth.login(app_db, token, "10.0.0.1") for _ in range(2)]
    assert annotators.list_annotators(app_db).set_index("name").loc["ann", "sessions"] == 2
    assert annotators.end_sessions(app_db, "ann") == 2
    for user in users:
        with pytest.raises(auth.SessionEndedError):
            auth.check_session(app_db, user)
    assert auth.login(app_db, token, "10.0.0.1")["name"] == "ann"


# --- Login slow-down (issue 17 sections 5 and 7) ------------------------------------------------------

def test_a_valid_login_does_not_reset_the_failure_count(app_db):
    """Before: a success cleared the client's failures, so a user could guess 5 tokens between logins."""
    _, token = annotators.add_annotator(app_db, "ann")
    now = utc_now()
    for i in range(auth.FREE_FAILURES):
        with pytest.raises(auth.AuthError):
            auth.login(app_db, f"guess-{i}", "10.6.6.6", now=now)
    later = now + timedelta(seconds=2)  # past the first wait
    assert auth.login(app_db, token, "10.6.6.6", now=later)["name"] == "ann"
    with pytest.raises(auth.AuthError, match="not valid"):
        auth.login(app_db, "guess-again", "10.6.6.6", now=later)
    with pytest.raises(auth.TooManyAttemptsError):
        auth.login(app_db, "and-again", "10.6.6.6", now=later)


def test_failures_at_one_token_prefix_are_slowed_down_across_addresses(app_db):
    """An attacker who changes address on every attempt is still slowed down per target."""
    _, token = annotators.add_annotator(app_db, "ann")
    now = utc_now()
    prefix = token[:auth.TARGET_PREFIX]
    for i in range(auth.FREE_FAILURES):
        with pytest.raises(auth.AuthError, match="not valid"):
            auth.login(app_db, f"{prefix}guess{i}", f"10.9.0.{i}", now=now)
    with pytest.raises(auth.TooManyAttemptsError):
        auth.login(app_db, f"{prefix}guess-more", "10.9.1.1", now=now)
    with pytest.raises(auth.AuthError, match="not valid"):
        auth.login(app_db, "zzzzzzzz-another-target", "10.9.1.3", now=now)  # checked, not refused


def test_unknown_addresses_do_not_share_one_bucket(app_db):
    """Behind a proxy without a trusted header one guesser must not lock everybody out."""
    _, token = annotators.add_annotator(app_db, "ann")
    now = utc_now()
    for i in range(3 * auth.FREE_FAILURES):
        with pytest.raises(auth.AuthError):
            auth.login(app_db, f"guess-{i:04d}-xx", auth.UNKNOWN_CLIENT, now=now)
    assert auth.login(app_db, token, auth.UNKNOWN_CLIENT, now=now)["name"] == "ann"


def test_forwarded_headers_are_ignored_unless_the_connection_is_a_trusted_proxy():
    forged = {"X-Forwarded-For": "203.0.113.7"}
    assert auth.client_address("198.51.100.1", forged, trusted_proxies="") == "198.51.100.1"
    # uvicorn rewrites a loopback connection's address from the header: the real peer comes back
    assert auth.client_address("203.0.113.7", forged, trusted_proxies="") == "127.0.0.1"
    assert auth.client_address(None, {"host": "x"}, trusted_proxies="") == "127.0.0.1"
    assert auth.client_address(None, {}, trusted_proxies="") == auth.UNKNOWN_CLIENT


def test_a_trusted_proxy_names_the_client_and_a_client_cannot_prepend_a_fake_one():
    proxy = {"X-Forwarded-For": "203.0.113.7"}
    assert auth.client_address("10.0.0.5", proxy, trusted_proxies="10.0.0.0/8") == "203.0.113.7"
    assert auth.client_address("203.0.113.7", proxy, trusted_proxies="127.0.0.1") == "203.0.113.7"
    spoofed = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}  # the client sent "1.2.3.4", nginx appended
    assert auth.client_address("10.0.0.5", spoofed, trusted_proxies="10.0.0.5") == "203.0.113.7"
    real_ip = {"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "6.6.6.6"}
    assert auth.client_address("10.0.0.5", real_ip, trusted_proxies="10.0.0.5",
                               proxy_header="X-Real-IP") == "203.0.113.9"
    with pytest.raises(AnnotateError, match="ANNOTATE_TRUSTED_PROXIES"):
        auth.client_address("10.0.0.5", proxy, trusted_proxies="not-an-address")
