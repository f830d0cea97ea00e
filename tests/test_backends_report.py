"""The same PandaLM project on DuckDB and on PostgreSQL gives the same agreement report, number for number.

Not marked both_backends: the test opens both databases itself and compares them.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from conftest import postgres_schema_url

import storage
from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.data.adapters import import_items
from annotate.data.export import build_export


@contextmanager
def postgres_store():
    """A store on a fresh schema of the test server (skipped, saying why, without one)."""
    urls = postgres_schema_url()
    store = storage.connect(next(urls))
    try:
        yield store
    finally:
        store.close()
        urls.close()  # drops the schema


def pandalm_report(conn, pandalm_dir, **filters) -> dict:
    import_items(conn, "pandalm", pandalm_dir, adapter="pandalm")
    return build_report(conn, "pandalm", ReportFilters(n_boot=200, seed=3, **filters)).as_dict()


@pytest.mark.parametrize("tie_policy", ["with_ties", "without_ties"])
def test_pandalm_report_is_identical_on_duckdb_and_postgres(tmp_path, pandalm_dir, tie_policy):
    duck = storage.connect(tmp_path / "pandalm.duckdb")
    try:
        on_duckdb = pandalm_report(duck, pandalm_dir, tie_policy=tie_policy)
        duck_export = build_export(duck, "pandalm", "dpo")
    finally:
        duck.close()
    with postgres_store() as pg:
        on_postgres = pandalm_report(pg, pandalm_dir, tie_policy=tie_policy)
        pg_export = build_export(pg, "pandalm", "dpo")
    # The published PandaLM figures (README of github.com/WeOpenML/PandaLM) hold on PostgreSQL too.
    kappas = {(p["rater_a"][-1], p["rater_b"][-1]): p["kappa"] for p in on_postgres["pairs"]
              if "annotator-" in p["rater_a"] and "annotator-" in p["rater_b"]}
    if tie_policy == "with_ties":
        assert [round(kappas[k], 2) for k in [("1", "2"), ("1", "3"), ("2", "3")]] == [0.85, 0.88, 0.86]
        judges = {row["rater"]: row["majority_agreement"] for row in on_postgres["judges"]}
        assert judges["gpt-3.5-turbo"] == pytest.approx(697 / 999)
        assert judges["pandalm-7b"] == pytest.approx(667 / 999)
    for name in on_duckdb:
        assert json.dumps(on_postgres[name], sort_keys=True, default=str) == \
            json.dumps(on_duckdb[name], sort_keys=True, default=str), f"report part '{name}' differs"
    assert duck_export.rows.drop(columns=[c for c in duck_export.rows if "time" in c]).equals(
        pg_export.rows.drop(columns=[c for c in pg_export.rows if "time" in c]))
