"""`projects create/show/edit/archive/restore/delete`, and config edits checked against the stored
labels (issue 15 errors; issue 17 section 7)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import storage
from annotate import projects as project_lib
from annotate.errors import AnnotateError, ConfigError
from tests.test_import_shapes import pairs, query, run, run_json, write_jsonl

pytestmark = pytest.mark.both_backends

CRITERIA_YAML = """
- name: accuracy
  description: Is every claim correct?
  scores: {1: wrong, 2: partly right, 3: right}
- name: style
  scale: [1, 5]
"""


def test_projects_create_a_rubric_project_from_a_yaml_criteria_file(db_path, tmp_path):
    criteria = tmp_path / "criteria.yaml"
    criteria.write_text(CRITERIA_YAML)
    out = run(db_path, "projects", "create", "r", "--task-type", "rubric", "--criteria", criteria,
              "--overlap", "2").output
    assert "Created rubric project 'r' with criteria accuracy, style" in out
    shown = run_json(db_path, "projects", "show", "r")
    assert shown["task_type"] == "rubric" and shown["config"]["overlap"] == 2
    assert shown["config"]["criteria"][0] == {"name": "accuracy", "description": "Is every claim correct?",
                                              "scores": {"1": "wrong", "2": "partly right", "3": "right"}}
    assert list(shown["config"]["criteria"][1]["scores"]) == ["1", "2", "3", "4", "5"]
    assert [v["version"] for v in shown["config_versions"]] == [1]


def test_projects_create_with_json_criteria_and_import_scores_into_it(db_path, tmp_path):
    criteria = tmp_path / "c.json"
    criteria.write_text(json.dumps([{"name": "relevance", "scale": "0-3"}]))
    run(db_path, "projects", "create", "rel", "--task-type", "rubric", "--criteria", criteria)
    rows = [{"id": "d1", "prompt": "q", "response": "passage", "h": 2}]
    report = run_json(db_path, "import", write_jsonl(tmp_path / "d.jsonl", rows), "-p", "rel", "--map", "human.h=h")
    assert report["label_events"] == 1


@pytest.mark.parametrize("text, message", [
    ("- name: accuracy\n  scores: {1: a, 3: c}\n", "scores must be at least two consecutive integers"),
    ("- name: accuracy\n", "needs 'scores' or a 'scale'"),
    ("- name: a\n  scale: [1, 5]\n  colour: red\n", "unknown field(s) colour"),
    ("- name: [unclosed\n", "c.yaml line 2: not valid YAML"),
])
def test_bad_criteria_files_are_refused_naming_the_file_and_field(db_path, tmp_path, text, message):
    criteria = tmp_path / "c.yaml"
    criteria.write_text(text)
    result = run(db_path, "projects", "create", "r", "--task-type", "rubric", "--criteria", criteria, ok=False)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert "c.yaml" in result.output


def test_a_rubric_project_without_criteria_is_refused(db_path):
    result = run(db_path, "projects", "create", "r", "--task-type", "rubric", ok=False)
    assert "A rubric project needs its criteria: --criteria FILE" in result.output


def make_labelled(db_path: Path, tmp_path: Path) -> None:
    run(db_path, "import", write_jsonl(tmp_path / "d.jsonl", pairs(2, h=[-2, 1])), "-p", "p", "--map", "human.h=h")


def test_an_edit_that_keeps_stored_labels_meaningful_is_saved_as_a_new_version(db_path, tmp_path):
    make_labelled(db_path, tmp_path)
    out = run(db_path, "projects", "edit", "p", "--overlap", "5", "--set", "guidelines=Be careful").output
    assert "Saved project 'p' config as version 2" in out
    shown = run_json(db_path, "projects", "show", "p")
    assert shown["config"]["overlap"] == 5 and shown["config"]["guidelines"] == "Be careful"
    assert [v["version"] for v in shown["config_versions"]] == [1, 2]
    assert query(db_path, "SELECT count(*) FROM project_config_versions") == [(2,)]


def test_an_unknown_config_field_is_refused_not_saved_as_a_version_that_changes_nothing(db_path, tmp_path):
    make_labelled(db_path, tmp_path)
    result = run(db_path, "projects", "edit", "p", "--set", "split-policy=drop", ok=False)
    assert result.exit_code == 1 and "Unknown config field(s) 'split-policy'" in result.output
    assert "split_policy" in result.output  # the list of fields shows the right spelling
    assert [v["version"] for v in run_json(db_path, "projects", "show", "p")["config_versions"]] == [1]
    created = run(db_path, "projects", "create", "q", "--set", "overlp=2", ok=False)
    assert created.exit_code == 1 and "Unknown config field(s) 'overlp'" in created.output


def test_an_edit_that_would_reinterpret_or_orphan_stored_labels_is_refused(db_path, tmp_path):
    make_labelled(db_path, tmp_path)
    three = tmp_path / "three.json"  # value 1 would change from 'B is slightly better' to 'B is better'; -2 would go
    three.write_text(json.dumps({"scale": [{"value": -1, "label": "A is better"}, {"value": 0, "label": "Tie"},
                                           {"value": 1, "label": "B is better"}]}))
    result = run(db_path, "projects", "edit", "p", "--config", three, ok=False)
    assert result.exit_code == 1
    assert "1 stored value(s) of 'overall' are -2, which the new scale drops" in result.output
    assert "1 stored value(s) of 'overall' are 1, which would change from 'B is slightly better' to " \
           "'B is better'" in result.output
    assert run_json(db_path, "projects", "show", "p")["config"]["scale"][0]["value"] == -2


def test_a_criterion_with_stored_scores_cannot_be_dropped_but_one_can_be_added(db, tmp_path):
    from annotate.config import Criterion, ProjectConfig
    from annotate.data.importers import ColumnMapping, import_file
    project = project_lib.create_project(db, "r", ProjectConfig(task_type="rubric", criteria=[
        Criterion(name="accuracy", scores={1: "wrong", 2: "right"})]))
    import_file(db, project, write_jsonl(tmp_path / "r.jsonl", [{"id": "1", "prompt": "p", "response": "x", "h": 2}]),
                mapping=ColumnMapping(human_labels={"h": "h"}))
    added = {"name": "style", "scores": {1: "plain", 2: "fine"}}
    accuracy = {"name": "accuracy", "scores": {1: "wrong", 2: "right"}}
    assert project_lib.update_config(db, "r", {"criteria": [accuracy, added]}).config.aspect_names == ["accuracy", "style"]
    with pytest.raises(ConfigError, match="1 stored label value.* use 'accuracy', which the new config drops"):
        project_lib.update_config(db, "r", {"criteria": [added]})
    with pytest.raises(ConfigError, match="are 2, which would change from 'right' to 'excellent'"):
        project_lib.update_config(db, "r", {"criteria": [{**accuracy, "scores": {1: "wrong", 2: "excellent"}}, added]})


def test_archive_hides_a_project_keeps_its_data_and_restore_brings_it_back(db_path, tmp_path):
    make_labelled(db_path, tmp_path)
    run(db_path, "import", write_jsonl(tmp_path / "e.jsonl", pairs(1)), "-p", "other")
    assert "Archived 'p'" in run(db_path, "projects", "archive", "p").output
    assert [p["name"] for p in run_json(db_path, "projects")] == ["other"]
    assert [p["name"] for p in json.loads(run(db_path, "projects", "--archived", "--json").output)] == ["p", "other"]
    conn = storage.connect(db_path)
    assert project_lib.project_names(conn) == ["other"]  # the sidebar's list
    assert project_lib.project_status(conn, "p")["human_labels"] == 2
    conn.close()
    run(db_path, "projects", "restore", "p")
    assert [p["name"] for p in run_json(db_path, "projects")] == ["p", "other"]


def test_delete_needs_the_typed_name_and_removes_every_row_of_the_project(db_path, tmp_path):
    make_labelled(db_path, tmp_path)
    run(db_path, "import", write_jsonl(tmp_path / "e.jsonl", pairs(1, j=["A"])), "-p", "keep", "--map", "judge.j=j")
    run(db_path, "import", write_jsonl(tmp_path / "f.jsonl", pairs(2, j=["A", "B"])), "-p", "p", "--map", "judge.j=j",
        "--on-duplicate", "skip")
    wrong = run(db_path, "projects", "delete", "p", "--confirm", "P", ok=False)
    assert "Type the project's name 'p' to confirm deleting it; nothing was deleted" in wrong.output
    prompted = run(db_path, "projects", "delete", "p", ok=False)
    assert "Take a backup first: python -m annotate backup --out DIR" in prompted.output
    out = run(db_path, "projects", "delete", "p", "--confirm", "p").output
    assert "Deleted project 'p': 2 items, 2 label events, 2 judgments" in out
    assert query(db_path, "SELECT name FROM projects") == [("keep",)]
    assert query(db_path, "SELECT count(*) FROM items") == [(1,)] and query(db_path, "SELECT count(*) FROM responses") == [(2,)]
    assert query(db_path, "SELECT count(*) FROM label_events") == [(0,)]
    assert query(db_path, "SELECT name FROM annotators") == []  # the imported rater had no other labels
    assert query(db_path, "SELECT count(*) FROM judges") == [(1,)] and query(db_path, "SELECT count(*) FROM judgments") == [(1,)]


def test_the_library_refuses_a_delete_without_confirmation(db, tmp_path):
    project_lib.create_project(db, "x", {"task_type": "pairwise"})
    with pytest.raises(AnnotateError, match="Type the project's name 'x'"):
        project_lib.delete_project(db, "x", "")
    assert project_lib.project_names(db) == ["x"]
