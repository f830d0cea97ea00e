"""PostgreSQL going wrong under a running command or app server: one line, never the password, and
the pool recovers on its own. (An unreachable server at start is tests/test_postgres_start.py.)

The server going away is simulated without stopping the shared test server: the test ends its own
connections with pg_terminate_backend, which is what a restart does to a pool's connections. A wrong
password needs a cluster that checks passwords (the test cluster trusts local logins); it was checked
by hand on a scram-sha-256 cluster (see the engineers' report of issue 18).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

import storage
from conftest import PG_ENV, postgres_schema_url
from storage import pg, pg_errors

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def named_url():
    """(URL of a fresh schema whose connections carry a unique application_name, that name)."""
    name = f"p5_{uuid.uuid4().hex[:10]}"
    for url in postgres_schema_url():
        yield f"{url}&application_name={name}", name


def terminate(name: str) -> int:
    """End every connection that carries application_name `name`, as a server restart would."""
    with psycopg.connect(os.environ[PG_ENV], autocommit=True) as conn:
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                            [name]).fetchone()[0]


def test_a_password_in_the_url_query_is_never_shown():
    assert pg.redact("postgresql://db.example/annotate?user=app&password=s3cret&sslmode=require") == \
        "postgresql://db.example/annotate?user=app&password=***&sslmode=require"
    assert pg.redact("postgresql://app:s3cret@db.example/annotate?password=other") == \
        "postgresql://app:***@db.example/annotate?password=***"
    result = subprocess.run([sys.executable, "-m", "annotate", "--db",
                             "postgresql://127.0.0.1:1/annotate?user=app&password=s3cret", "projects"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "s3cret" not in result.stderr + result.stdout
    assert result.stderr.startswith("Error: Cannot connect to PostgreSQL at "
                                    "postgresql://127.0.0.1:1/annotate?user=app&password=***")


def test_a_server_that_drops_the_connections_gives_one_line_and_the_pool_recovers(named_url):
    url, name = named_url
    store = storage.connect(url)
    try:
        cur = storage.cursor(store)
        assert cur.execute("SELECT count(*) FROM projects").fetchone() == (0,)
        assert terminate(name) >= 1
        # a connection dropped while it idled in the pool is replaced when handed out: the next
        # statement works (before, it failed once per dropped connection: a traceback in the app)
        assert cur.execute("SELECT count(*) FROM projects").fetchone() == (0,)
        assert storage.write(store, lambda c: c.execute("SELECT 1").fetchone()) == (1,)

        def dropped_mid_transaction(c):  # what the check cannot save: a transaction's own connection
            c.execute("SELECT 1")
            assert terminate(name) >= 1
            c.execute("SELECT count(*) FROM projects")
        with pytest.raises(psycopg.OperationalError) as lost:
            storage.write(store, dropped_mid_transaction)
        message = str(pg_errors.store_error(lost.value, url))
        assert message.startswith("Cannot connect to PostgreSQL at ") and "\n" not in message
        assert cur.execute("SELECT count(*) FROM projects").fetchone() == (0,)
        assert storage.write(store, lambda c: c.execute("SELECT 1").fetchone()) == (1,)
    finally:
        store.close()


DROPPED = """
import sys
import storage
from storage import pg_errors
store = storage.connect(sys.argv[1])
def wait_then_select(cur):
    cur.execute("SELECT 1")
    print("ready", flush=True)
    sys.stdin.readline()  # the test ends this process's connections meanwhile
    cur.execute("SELECT 1")
try:
    storage.write(store, wait_then_select)
except Exception as exc:
    print(pg_errors.store_error(exc, sys.argv[1]), file=sys.stderr)
store.close()
"""


def test_the_pools_warning_about_a_dropped_connection_is_not_printed(named_url):
    """Without a logging handler Python prints library warnings to stderr: the CLI's one-line error
    would come with the pool's 'discarding closed connection' line."""
    url, name = named_url
    process = subprocess.Popen([sys.executable, "-c", DROPPED, url], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        assert terminate(name) >= 1
        _, stderr = process.communicate("go\n", timeout=60)
    finally:
        process.kill()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Cannot connect to PostgreSQL at "), stderr
