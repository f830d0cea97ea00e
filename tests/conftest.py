"""Shared fixtures. `db` is a real, migrated DuckDB file in tmp_path, closed after the test.

Both backends: a test module marked `pytestmark = pytest.mark.both_backends` runs each of its tests
that use `db` / `db_path` twice, on DuckDB and on PostgreSQL. There `db_path` is a postgresql:// URL
whose connections use a schema of their own (dropped after the test), on the server named by
$ANNOTATE_TEST_PG (.ci/run starts a throwaway cluster and sets it). Without that server the
PostgreSQL runs are skipped, saying why (and fail in strict mode).

With ANNOTATE_STRICT_SKIPS=1 (set by .ci/run) a skipped test fails instead: in CI a missing
dependency (chromium, a package) must never pass silently.
"""
from __future__ import annotations

import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

import storage

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PANDALM_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pandalm"
PG_ENV = "ANNOTATE_TEST_PG"
_MAIN_MODULE = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Put pytest's `__main__` back after each test. Streamlit's AppTest runs a page as the module
    `__main__` and leaves it in sys.modules; a later test that starts processes with multiprocessing's
    'spawn' would then make every child run that page (app.py's main(): a database, a demo) instead of
    the task, and the test hangs while the pool replaces its dying workers."""
    yield
    sys.modules["__main__"] = _MAIN_MODULE


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_backends: run the module's database tests on DuckDB and PostgreSQL")


def pytest_generate_tests(metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", ["duckdb", "postgres"], indirect=True)


@pytest.fixture
def backend(request) -> str:
    """'duckdb', or 'postgres' in the second run of a test marked both_backends."""
    return getattr(request, "param", "duckdb")


@pytest.fixture
def db_path(tmp_path: Path, backend: str):
    """A DuckDB file path, or (backend 'postgres') a URL to a fresh schema on the test server."""
    if backend == "duckdb":
        yield tmp_path / "test.duckdb"
        return
    yield from postgres_schema_url()


def postgres_schema_url():
    """Yield a URL whose connections see only a new, empty schema; drop the schema afterwards."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"PostgreSQL tests need a server: set ${PG_ENV}=postgresql://... (bash .ci/run starts one)")
    import psycopg
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def db(db_path: Path):
    conn = storage.connect(db_path)
    yield conn
    conn.close()


def _free(port: int) -> int | None:
    """`port` (0: any) if nothing listens on it, else None. It binds as the servers do (uvicorn,
    nginx: SO_REUSEADDR), so a port whose last connections linger in TIME_WAIT after an earlier
    test counts as free, as it is for them."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return sock.getsockname()[1]


def free_port(preferred: range = range(0)) -> int:
    """A port nothing listens on for a test's server: the first free one of `preferred` (an area's
    range, so engineers sharing a machine do not collide), else any free one."""
    for port in [*preferred, 0]:
        if (found := _free(port)) is not None:
            return found
    raise RuntimeError("no free port")


def free_ports(n: int, preferred: range) -> list[int]:
    """`n` different ports of `preferred` that nothing listens on (fails the test when fewer are)."""
    ports = [port for port in preferred if _free(port) is not None][:n]
    if len(ports) < n:
        pytest.fail(f"fewer than {n} free ports in {preferred.start}-{preferred.stop - 1}")
    return ports


@pytest.fixture(scope="session")
def pandalm_dir() -> Path:
    if not (PANDALM_DIR / "testset-v1.json").is_file():
        pytest.skip(f"PandaLM data not found at {PANDALM_DIR}")
    return PANDALM_DIR


@pytest.fixture
def pandalm(db, pandalm_dir):
    """A database with the PandaLM test set imported as project 'pandalm'."""
    from annotate.data.adapters import import_items
    from annotate.projects import get_project
    import_items(db, "pandalm", pandalm_dir, adapter="pandalm")
    return get_project(db, "pandalm")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("ANNOTATE_STRICT_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"Skipped in strict mode (ANNOTATE_STRICT_SKIPS=1): {reason}"
