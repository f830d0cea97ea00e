"""Shared fixtures. `db` is a real, migrated DuckDB file in tmp_path, closed after the test.

With ANNOTATE_STRICT_SKIPS=1 (set by .ci/run) a skipped test fails instead: in CI a missing
dependency (chromium, a package) must never pass silently.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import storage

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PANDALM_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pandalm"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def db(db_path: Path):
    conn = storage.connect(db_path)
    yield conn
    conn.close()


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
