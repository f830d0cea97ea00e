"""The router never reads labels it has not bought: a gold column (a benchmark's answer key, rater
kind 'gold') is not a human label, so it neither counts as an item humans labelled nor reaches the
router's models or the simulation's 'first annotator' (issue 16). Also: bad simulation and rubric
routing settings are one-line errors, not tracebacks or silent random routing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.config import ProjectConfig
from annotate.data.demo import create_demo
from annotate.data.importers import ColumnMapping, import_file
from annotate.errors import AnnotateError
from annotate.labeling.annotators import add_annotator
from annotate.projects import create_project
from annotate.router.budget import Budget
from annotate.router.features import build_features
from annotate.router.routing import plan_routing, project_labels
from annotate.router.simulate import human_classes, simulate_features
from annotate.router.synthetic import synthetic_dataset

pytestmark = pytest.mark.both_backends

VERDICTS = np.array(["A", "tie", "B"])


def _project_with_gold(db, tmp_path, n: int = 100, n_human: int = 10) -> np.ndarray:
    """n items, all with a gold label; one annotator labelled the first `n_human`; a judge j1."""
    rng = np.random.default_rng(3)
    human = rng.choice(VERDICTS, n, p=[0.45, 0.1, 0.45])
    judge = np.where(rng.random(n) < 0.6, human, rng.choice(VERDICTS, n))
    rows = [{"id": f"q{i}", "prompt": f"prompt {i}", "response_a": f"answer a{i}", "response_b": f"answer b{i}",
             "gold": str(human[i]), "j1": str(judge[i]), **({"ann": str(human[i])} if i < n_human else {})}
            for i in range(n)]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    project = create_project(db, "golden", ProjectConfig(task_type="pairwise"))
    import_file(db, project, path, mapping=ColumnMapping(human_labels={"ann": "ann"}, judge_labels={"j1": "j1"},
                                                          gold="gold"))
    return human


def test_gold_labels_are_not_human_labels_the_router_reads(db, tmp_path):
    _project_with_gold(db, tmp_path)
    labels = project_labels(db, "golden")
    assert set(labels["annotator"]) == {"import:ann"}
    assert len(human_classes(labels)) == 10


def test_routing_sends_items_with_only_a_gold_label_to_humans(db, tmp_path):
    _project_with_gold(db, tmp_path)
    plan = plan_routing(db, "golden", "j1", "learned", Budget(fraction=0.2))
    assert plan.n_already_labelled == 10
    assert plan.n_newly_sent == 10
    assert int(np.isnan(plan.known).sum()) == 90


def test_a_simulation_with_no_seed_is_a_clear_error_not_a_traceback():
    items, responses, verdicts, labels = synthetic_dataset(60, seed=1)
    features = build_features(items, responses, verdicts, 1)
    classes = human_classes(labels).reindex(features.item_ids)
    with pytest.raises(AnnotateError, match="at least one seed, got 0"):
        simulate_features(features, classes["gold"].to_numpy(), classes["first"].to_numpy(), [0.3], seeds=0)


def test_spread_routing_of_a_rubric_project_with_one_judgment_per_unit_is_refused(db):
    create_demo(db)  # demo-rubric: one judge, one judgment per (response, criterion)
    with pytest.raises(AnnotateError, match="'spread' on project 'demo-rubric' needs two judges"):
        plan_routing(db, "demo-rubric", "judge-large", "spread", Budget(fraction=0.3))


def test_router_page_on_a_rubric_project_with_a_judge_points_to_the_cli_not_to_running_a_judge(db, db_path,
                                                                                              monkeypatch):
    create_demo(db)
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "res", "researcher")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["project"] = "demo-rubric"
    at.query_params["token"] = token
    at.run()
    at.switch_page("pages/router.py").run()
    assert not at.exception
    [info] = [i.value for i in at.info]
    assert "router simulate -p demo-rubric" in info and "-s spread|calibration|learned" in info
    assert "run a judge first" not in info
