"""Several app servers on one PostgreSQL database: the demo is created once when they start together,
a login made through one server works through another, and a database that cannot be reached stops
the CLI, `serve` and the app with one line that never shows the password.

These tests need the PostgreSQL server named by $ANNOTATE_TEST_PG (.ci/run starts one); without it
they are skipped, which fails in strict mode. Browsers on two live servers are tested separately.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import storage
from annotate.labeling import auth
from conftest import postgres_schema_url
from pages import startup

ROOT = Path(__file__).resolve().parents[1]
DEAD = "postgresql://annotate:s3cret-pw@127.0.0.1:1/annotate"  # nothing listens on port 1
START = """
import sys, time
import storage
from annotate.data.first_start import create_demo_once
conn = storage.connect(sys.argv[1])
while time.time() < float(sys.argv[2]):  # both servers ask at the same moment
    time.sleep(0.005)
tokens = create_demo_once(conn)
print("created" if tokens else "found", flush=True)
conn.close()
"""


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL schema (a URL)."""
    yield from postgres_schema_url()


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_servers_starting_together_on_a_new_database_create_the_demo_once(pg_url):
    storage.connect(pg_url).close()  # migrated, as the servers' first visit finds it
    at = str(time.time() + 20)
    servers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(START), pg_url, at], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [server.communicate(timeout=240) for server in servers]
    assert all(server.returncode == 0 for server in servers), [err for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["created", "found", "found"]
    conn = storage.connect(pg_url)
    try:
        cur = storage.cursor(conn)
        projects = [row[0] for row in cur.execute("SELECT name FROM projects ORDER BY name").fetchall()]
        accounts = cur.execute("SELECT count(*) FROM annotators WHERE name = 'admin'").fetchall()[0][0]
    finally:
        conn.close()
    assert projects == ["demo-pairwise", "demo-rubric"] and accounts == 1
    again = run_cli("--db", pg_url, "init", "--demo")
    assert again.returncode == 0 and "no demo created" in again.stdout


def test_a_session_from_one_server_works_on_another(pg_url):
    from annotate.labeling.annotators import add_annotator
    first, second = storage.connect(pg_url), storage.connect(pg_url)  # two pools: two servers
    try:
        _, token = add_annotator(first, "roaming", "annotator")
        user = auth.login(first, token, "10.0.0.7")
        resumed = auth.resume_session(second, user[auth.SESSION_KEY])
        assert resumed["name"] == "roaming"
        auth.logout(second, user[auth.SESSION_KEY])  # logging out on one server ends it on the other
        with pytest.raises(auth.SessionEndedError, match="Your session has ended"):
            auth.check_session(first, user)
    finally:
        first.close()
        second.close()


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(tmp_path):
    for args in (["status", "-p", "x"], ["serve", "--server.port", "8597"], ["backup", "--out", str(tmp_path / "b")]):
        result = run_cli("--db", DEAD, *args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("Error: Cannot connect to PostgreSQL at "
                                        "postgresql://annotate:***@127.0.0.1:1/annotate (connection failed"), args
        assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    env = os.environ | {"ANNOTATE_DB": DEAD}
    result = run_cli("migrate", "--from", DEAD, "--to", str(tmp_path / "x.duckdb"), env=env)
    assert result.returncode == 1 and "Cannot connect to PostgreSQL" in result.stderr and "s3cret" not in result.stderr


def test_the_app_shows_visitors_a_notice_and_the_terminal_one_line_when_postgres_is_down(monkeypatch, capfd):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("ANNOTATE_DB", DEAD)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert [e.value for e in at.error] == [startup.VISITOR_NOTICE]
    err = capfd.readouterr().err
    assert "annotate: Cannot connect to PostgreSQL at postgresql://annotate:***@127.0.0.1:1/annotate" in err
    assert "s3cret" not in err and "Traceback" not in err


def test_app_servers_can_use_a_role_without_create_once_the_owner_has_migrated(pg_url, monkeypatch, capfd):
    import psycopg
    server = os.environ["ANNOTATE_TEST_PG"]
    schema = pg_url.rsplit("%3D", 1)[1]
    role = f"{schema}_app"
    app_url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:app-pw@", 1)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app-pw'")
    try:
        unseen = run_cli("--db", app_url, "init")
        assert unseen.returncode == 1 and "cannot use the schema" in unseen.stderr and "app-pw" not in unseen.stderr
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        refused = run_cli("--db", app_url, "init")  # nothing migrated yet: the app's role may not create tables
        assert refused.returncode == 1 and "refused a statement (permission denied" in refused.stderr
        assert "app-pw" not in refused.stderr
        assert run_cli("--db", pg_url, "init").returncode == 0  # the owner migrates
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")  # read-only: reports, not labels
        read_only = run_cli("--db", app_url, "serve", "--server.port", "1")  # refused before Streamlit starts
        assert read_only.returncode == 1 and f"the role {role} cannot write" in read_only.stderr
        assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}" in read_only.stderr
        assert "app-pw" not in read_only.stderr
        from streamlit.testing.v1 import AppTest
        monkeypatch.setenv("ANNOTATE_DB", app_url)  # `streamlit run app.py` without serve: the first visit stops it
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        assert [e.value for e in at.error] == [startup.VISITOR_NOTICE]
        assert f"the role {role} cannot write" in capfd.readouterr().err
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}")
            conn.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
        result = run_cli("--db", app_url, "init", "--demo")
        assert result.returncode == 0, result.stderr
        assert "admin: /?token=" in result.stdout and "app-pw" not in result.stdout
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
