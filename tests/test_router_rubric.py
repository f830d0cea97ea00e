"""Rubric projects are routed too (issue 16): items whose judges' scores spread, or whose judge
missed the humans on the calibration slice, go to humans; the same simulation reports them."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import storage
from annotate.cli import cli
from annotate.config import Criterion, ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project
from annotate.router.budget import Budget
from annotate.router.routing import apply_routing
from storage import routing as store

pytestmark = pytest.mark.both_backends

N = 80


def _rubric_project(db, tmp_path, humans: bool = True) -> None:
    """N items with one response; two annotators (when `humans`); judge j1 is off by two points on the 'hard'
    items, where j2 (a second opinion) disagrees with it; elsewhere both are right."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(N):
        truth = int(rng.integers(1, 6))
        hard = i % 4 == 0
        j1 = min(5, truth + 2) if hard and truth <= 3 else (max(1, truth - 2) if hard else truth)
        rows.append({"id": f"r{i}", "prompt": f"question {i}", "response": "answer " * (1 + i % 9),
                     "ann1": {"accuracy": truth}, "ann2": {"accuracy": truth},
                     "j1": {"accuracy": j1}, "j2": {"accuracy": truth if hard else j1}})
    path = tmp_path / "rubric.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    criteria = [Criterion(name="accuracy", scores={k: str(k) for k in range(1, 6)})]
    project = create_project(db, "rub", ProjectConfig(task_type="rubric", criteria=criteria))
    annotators = {"ann1": "ann1", "ann2": "ann2"} if humans else {}
    import_file(db, project, path, mapping=ColumnMapping(human_labels=annotators, judge_labels={"j1": "j1", "j2": "j2"}))


def test_rubric_simulation_reports_every_strategy_and_spread_beats_random(db, db_path, tmp_path):
    _rubric_project(db, tmp_path)
    db.close()
    result = CliRunner().invoke(cli, ["--db", str(db_path), "router", "simulate", "-p", "rub", "-j", "j1",
                                      "--budgets", "0.3", "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    mean = {r["strategy"]: r["routing_only_mean"] for r in report["summary"]}
    assert set(mean) == {"random", "spread", "calibration", "learned"}
    assert "half a point" in report["unit"]
    # the spread flags exactly the 20 items j1 gets wrong; 30% = 24 items catches all of them
    assert mean["spread"] == 1.0 > mean["random"]
    assert mean["learned"] >= max(mean["random"], mean["calibration"])


def test_rubric_routing_sends_the_spread_items_to_humans(db, tmp_path):
    _rubric_project(db, tmp_path, humans=False)
    plan = apply_routing(db, "rub", "j1", "spread", Budget(fraction=0.3, calibration_fraction=0.0))
    routes = store.current_routes(storage.cursor(db), plan.project.id)
    human = set(routes.loc[routes["route"] == "human", "external_id"])
    assert len(routes) == N and len(human) == 24
    assert {f"r{i}" for i in range(0, N, 4)} <= human
    assert (routes.loc[routes["route"] == "ai", "judge"] == "j1").all()
