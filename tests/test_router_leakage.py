"""Metadata features are opt-in per project, and the leak guard drops a column that encodes the
label (issue 16: a leftover `raw_label` took simulated accuracy to 99.6-100% with no warning)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from annotate.config import ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.errors import AnnotateError
from annotate.projects import create_project
from annotate.router.budget import Budget
from annotate.router.leakage import check_leaks, loo_accuracy
from annotate.router.routing import load_features, plan_routing
from annotate.router.simulate import simulate

pytestmark = pytest.mark.both_backends

VERDICTS = np.array(["A", "tie", "B"])


def _project(db, tmp_path, router_metadata: list[str], n: int = 200) -> None:
    """n items; one annotator; a judge right on ~60%; metadata raw_label (= the human label) and
    topic (unrelated to it)."""
    rng = np.random.default_rng(3)
    human = rng.choice(VERDICTS, n, p=[0.45, 0.1, 0.45])
    judge = np.where(rng.random(n) < 0.6, human, rng.choice(VERDICTS, n))
    rows = [{"id": f"q{i}", "prompt": f"prompt {i % 40}", "response_a": f"answer a{i} " * (1 + i % 5),
             "response_b": f"answer b{i} " * (1 + i % 7), "ann": str(human[i]), "j1": str(judge[i]),
             "raw_label": str(human[i]), "topic": ["math", "code", "chat"][int(rng.integers(3))]} for i in range(n)]
    path = tmp_path / "leaky.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    project = create_project(db, "leaky", ProjectConfig(task_type="pairwise", router_metadata=router_metadata))
    import_file(db, project, path, mapping=ColumnMapping(human_labels={"ann": "ann"}, judge_labels={"j1": "j1"}))


def test_metadata_columns_are_features_only_when_the_project_names_them(db, tmp_path):
    _project(db, tmp_path, [])
    assert not [c for c in load_features(db, "leaky", "j1").frame.columns if c.startswith("meta:")]


def test_a_named_metadata_column_becomes_one_hot_features(db, tmp_path):
    _project(db, tmp_path, ["topic"])
    columns = [c for c in load_features(db, "leaky", "j1").frame.columns if c.startswith("meta:")]
    assert columns == ["meta:topic=chat", "meta:topic=code", "meta:topic=math"]


def test_a_named_column_no_item_has_is_a_clear_error(db, tmp_path):
    _project(db, tmp_path, ["toppic"])
    with pytest.raises(AnnotateError, match="Router metadata column 'toppic': no item has it"):
        load_features(db, "leaky", "j1")


def test_leak_guard_excludes_a_column_that_encodes_the_label_and_names_it(db, tmp_path):
    _project(db, tmp_path, ["raw_label", "topic"])
    features = load_features(db, "leaky", "j1")
    from annotate.router.routing import project_labels
    from annotate.router.simulate import human_classes
    known = human_classes(project_labels(db, "leaky")).reindex(features.item_ids)["first"].to_numpy()
    calibration = np.zeros(len(known), dtype=bool)
    calibration[::10] = True  # 20 calibration labels
    check = check_leaks(features, np.where(calibration, known, np.nan), calibration)
    assert check.excluded == ["raw_label"]
    assert len(check.warnings) == 1 and "'raw_label'" in check.warnings[0] and "100%" in check.warnings[0]


def test_simulated_accuracy_with_a_leaky_column_stays_honest_and_warns(db, tmp_path):
    _project(db, tmp_path, ["raw_label"])
    result = simulate(db, "leaky", "j1", [0.5], seeds=1, strategies=("learned",))
    assert any("'raw_label'" in w for w in result.warnings)
    row = result.summary.iloc[0]
    # with raw_label as a feature the label model would relabel every item correctly (1.0)
    assert row["label_model_mean"] < 0.95 and row["shared_evidence_mean"] < 0.95


def test_live_routing_warns_about_the_leaky_column(db, tmp_path):
    _project(db, tmp_path, ["raw_label"])
    plan = plan_routing(db, "leaky", "j1", "learned", Budget(fraction=0.5), ai_label="model")
    assert any("'raw_label'" in w for w in plan.warnings)


def test_leave_one_out_accuracy_does_not_reward_a_column_with_one_value_per_item():
    labels = np.array([-1.0, 1.0, 1.0, -1.0, 0.0, 1.0])
    assert loo_accuracy(np.arange(6), labels)[1] == 0  # an id column: each item alone, nothing to judge by
    assert loo_accuracy(labels.astype(int) + 1, labels) == (1.0, 5)  # the one tie has no peer: not counted
    assert loo_accuracy(np.array([0, 0, 1, 1, 2, 2]), labels)[0] < 0.5
