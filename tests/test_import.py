"""Imports: the PandaLM adapter on real data, generic files, and all-or-nothing on bad input."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import storage
from annotate.data.adapters import import_items
from annotate.config import Criterion, ProjectConfig
from annotate.errors import ImportDataError
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project, get_project, project_status
from storage import items as item_store, judgments as judgment_store, labels as label_store

pytestmark = pytest.mark.both_backends


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def pair(i: int, **extra) -> dict:
    return {"id": f"x{i}", "prompt": f"Question {i}?", "response_a": f"Answer A{i}",
            "response_b": f"Answer B{i}", **extra}


def table_counts(conn) -> dict:
    cur = storage.cursor(conn)
    tables = ["projects", "items", "responses", "annotators", "label_events", "label_values", "judges",
              "judgments"]

    return {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


# ---------------------------------------------------------------- PandaLM (real data)


def test_pandalm_import_gives_999_items_2997_labels_1998_judgments(db, pandalm_dir):
    report = import_items(db, "pandalm", pandalm_dir, adapter="pandalm")
    assert (report.items, report.label_events, report.judgments) == (999, 2997, 1998)
    status = project_status(db, "pandalm")
    assert status["items"] == 999 and status["human_labels"] == 2997 and status["judge_labels"] == 1998
    assert status["annotators"] == 3


def test_pandalm_majority_label_distribution_matches_published(pandalm, db):
    # Source: PandaLM README (github.com/WeOpenML/PandaLM), test set label distribution 0:105, 1:422, 2:472.
    labels = label_store.current_label_values(storage.cursor(db), pandalm.id)
    signs = labels.assign(sign=labels["value"].apply(lambda v: (v > 0) - (v < 0)))
    majority = signs.groupby("item_id")["sign"].agg(lambda s: Counter(s).most_common(1)[0][0])
    assert Counter(majority) == {0: 105, -1: 422, 1: 472}


def test_pandalm_boolean_responses_keep_their_text_and_are_reported(pandalm_dir, db):
    report = import_items(db, "pandalm", pandalm_dir, adapter="pandalm")
    assert "converted 6 boolean responses to their JSON text form" in report.notes
    project = get_project(db, "pandalm")
    cur = storage.cursor(db)
    item = item_store.get_item(cur, item_store.item_id_for(cur, project.id, "157"))
    assert item["responses"][0]["text"] == "true"


def test_pandalm_unparseable_judge_verdicts_are_stored_unparsed_with_raw_output(pandalm, db):
    judgments = judgment_store.judgments_frame(storage.cursor(db), pandalm.id)
    unparsed = judgments[~judgments["is_parsed"]]
    assert len(unparsed) == 25
    assert set(unparsed["judge"]) == {"gpt-3.5-turbo"}
    assert unparsed["verdict"].isna().all() and (unparsed["raw_output"] == '"garbage"').all()


def test_pandalm_import_twice_is_refused_then_skipped_on_request(pandalm, db, pandalm_dir):
    before = table_counts(db)
    with pytest.raises(ImportDataError, match="already exists in project 'pandalm'"):
        import_items(db, "pandalm", pandalm_dir, adapter="pandalm")
    assert table_counts(db) == before
    report = import_items(db, "pandalm", pandalm_dir, adapter="pandalm", on_duplicate="skip")
    assert report.items == 0 and report.skipped_duplicates == 999
    assert table_counts(db) == before


# ---------------------------------------------------------------- generic files


def test_generic_jsonl_with_mapping_imports_items_labels_and_judgments(db, tmp_path):
    rows = [{"qid": i, "instruction": f"Q{i}", "out1": "a", "out2": "b", "human": "A", "gpt": "tie",
             "category": "math"} for i in range(3)]
    mapping = ColumnMapping(id="qid", prompt="instruction", response_a="out1", response_b="out2",
                            human_labels={"alice": "human"}, judge_labels={"gpt-4": "gpt"})
    report = import_items(db, "p", write_jsonl(tmp_path / "d.jsonl", rows), mapping=mapping)
    assert (report.items, report.label_events, report.judgments) == (3, 3, 3)
    project = get_project(db, "p")
    cur = storage.cursor(db)
    labels = label_store.current_label_values(cur, project.id)
    assert set(labels["value"]) == {-1.0} and set(labels["annotator"]) == {"import:alice"}
    assert set(labels["source"]) == {"import:d.jsonl"}
    item = item_store.get_item(cur, labels["item_id"].iloc[0])
    assert json.loads(item["metadata"]) == {"category": "math"}
    assert set(judgment_store.judgments_frame(cur, project.id)["verdict"]) == {"tie"}


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_csv_parquet_and_json_arrays_import_like_jsonl(db, tmp_path, suffix):
    frame = pd.DataFrame([pair(i) for i in range(5)])
    path = tmp_path / f"d.{suffix}"
    {"csv": lambda: frame.to_csv(path, index=False), "parquet": lambda: frame.to_parquet(path),
     "json": lambda: frame.to_json(path, orient="records")}[suffix]()
    assert import_items(db, "p", path).items == 5


def test_rubric_file_imports_several_responses_and_criterion_scores(db, tmp_path):
    config = ProjectConfig(task_type="rubric", criteria=[
        Criterion(name="helpfulness", scores={1: "bad", 2: "ok", 3: "good"})])
    project = create_project(db, "r", config)
    rows = [{"id": "r1", "prompt": "Explain", "r1": "one", "r2": "two",
             "bob": [{"helpfulness": 3}, {"helpfulness": 1}]}]
    mapping = ColumnMapping(responses=["r1", "r2"], human_labels={"bob": "bob"})
    report = import_file(db, project, write_jsonl(tmp_path / "r.jsonl", rows), mapping=mapping)
    assert report.responses == 2
    labels = label_store.current_label_values(storage.cursor(db), project.id)
    assert labels[["response_idx", "value"]].values.tolist() == [[0, 3.0], [1, 1.0]]


def test_one_megabyte_response_and_emoji_rtl_text_import_intact(db, tmp_path):
    big = "x" * 1_000_000
    exotic = "مرحبا بالعالم 👋🏽 שלום ‮reversed‬ 🇫🇷 e\u0301"
    import_items(db, "p", write_jsonl(tmp_path / "d.jsonl", [pair(1, response_a=big, response_b=exotic)]))
    cur = storage.cursor(db)
    item = item_store.get_item(cur, item_store.item_id_for(cur, get_project(db, "p").id, "x1"))
    assert [r["text"] for r in item["responses"]] == [big, exotic]


# ---------------------------------------------------------------- bad input: named error, nothing written


BAD_INPUTS = {
    "truncated JSON line": (lambda p: p.write_text(json.dumps(pair(1)) + "\n" + json.dumps(pair(2))[:-9] + "\n"),
                            r"d\.jsonl line 2: invalid JSON"),
    "missing field": (lambda p: write_jsonl(p, [pair(1), {k: v for k, v in pair(2).items() if k != "response_b"}]),
                      r"d\.jsonl line 2, field 'response_b': missing"),
    "wrong type": (lambda p: write_jsonl(p, [pair(1), pair(2, prompt=42)]),
                   r"d\.jsonl line 2, field 'prompt': expected text, got a number"),
    "empty file": (lambda p: p.write_text(""), r"d\.jsonl: file is empty"),
    "duplicate id": (lambda p: write_jsonl(p, [pair(1), pair(2), pair(1)]),
                     r"d\.jsonl line 3, field 'id': duplicate id 'x1' \(first seen at d\.jsonl line 1\)"),
    "non-UTF-8 bytes": (lambda p: p.write_bytes(json.dumps(pair(1)).encode() + b"\n" +
                                                json.dumps(pair(2)).encode().replace(b"B2", b"B\xff2")),
                        r"d\.jsonl line 2: not valid UTF-8 \(byte 0xff"),
    "label off the scale": (lambda p: write_jsonl(p, [pair(1, h=7)]), r"line 1, field 'h': label 7"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_named_error_and_leaves_database_unchanged(db, tmp_path, case):
    create_project(db, "p", ProjectConfig(task_type="pairwise"))
    import_items(db, "p", write_jsonl(tmp_path / "first.jsonl", [pair(100)]))
    before = table_counts(db)
    make, message = BAD_INPUTS[case]
    path = tmp_path / "d.jsonl"
    make(path)
    with pytest.raises(ImportDataError, match=message):
        import_items(db, "p", path, mapping=ColumnMapping(human_labels={"ann": "h"}))
    assert table_counts(db) == before


def test_duplicate_of_an_existing_item_is_refused_unless_skipped(db, tmp_path):
    import_items(db, "p", write_jsonl(tmp_path / "a.jsonl", [pair(1), pair(2)]))
    before = table_counts(db)
    path = write_jsonl(tmp_path / "b.jsonl", [pair(3), pair(2)])
    with pytest.raises(ImportDataError, match=r"b\.jsonl line 2: item id 'x2' already exists in project 'p'"):
        import_items(db, "p", path)
    assert table_counts(db) == before
    report = import_items(db, "p", path, on_duplicate="skip")
    assert (report.items, report.skipped_duplicates) == (1, 1)


def test_rubric_label_for_the_wrong_number_of_responses_is_refused(db, tmp_path):
    config = ProjectConfig(task_type="rubric", criteria=[Criterion(name="c", scores={1: "a", 2: "b"})])
    project = create_project(db, "r", config)
    before = table_counts(db)
    rows = [{"id": "r1", "prompt": "p", "response": "x", "ann": [{"c": 1}, {"c": 2}]}]
    with pytest.raises(ImportDataError, match=r"r\.jsonl line 1, field 'ann': expected an object of criterion"):
        import_file(db, project, write_jsonl(tmp_path / "r.jsonl", rows),
                    mapping=ColumnMapping(human_labels={"ann": "ann"}))
    assert table_counts(db) == before


def test_a_failed_import_into_a_new_project_leaves_no_empty_project(db, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [pair(1), pair(2, prompt=None)])
    with pytest.raises(ImportDataError, match="field 'prompt': missing"):
        import_items(db, "never", path)
    assert table_counts(db)["projects"] == 0


def test_adapter_labels_that_do_not_fit_an_existing_project_are_refused(db, tmp_path):
    """MultiPref's 5-point labels and aspects cannot go into a 3-point project without aspects."""
    from annotate.config import THREE_POINT_SCALE
    create_project(db, "small", ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE))
    row = {"comparison_id": "c1", "text": "q", "completion_a": "a", "completion_b": "b",
           "normal_worker_annotations": [{"evaluator": "w", "overall_pref": "Tie", "helpful_pref": "Tie",
                                          "truthful_pref": "Tie", "harmless_pref": "Tie"}]}
    before = table_counts(db)
    with pytest.raises(ImportDataError, match=r"mp\.jsonl line 1: item 'c1': aspect or criterion 'helpfulness' is not in"):
        import_items(db, "small", write_jsonl(tmp_path / "mp.jsonl", [row]), adapter="multipref")
    assert table_counts(db) == before


def test_rubric_judge_scores_in_csv_text_cells_are_parsed_per_response(db, tmp_path):
    config = ProjectConfig(task_type="rubric", criteria=[Criterion(name="accuracy", scores={1: "a", 2: "b", 3: "c"})])
    project = create_project(db, "r", config)
    path = tmp_path / "r.csv"
    pd.DataFrame([{"id": "r1", "prompt": "p", "r1": "x", "r2": "y",
                   "judge": json.dumps([{"accuracy": 3}, {"accuracy": 1}]), "bad": "not json"}]).to_csv(path, index=False)
    import_file(db, project, path, mapping=ColumnMapping(responses=["r1", "r2"],
                                                         judge_labels={"j": "judge", "broken": "bad"}))
    judgments = judgment_store.judgments_frame(storage.cursor(db), project.id).set_index(["judge", "response_idx"])
    assert judgments.loc[("j", 0), "score"] == 3 and judgments.loc[("j", 1), "score"] == 1
    assert not judgments.loc["broken", "is_parsed"].any() and len(judgments.loc["broken"]) == 2
    assert (judgments.loc["broken", "raw_output"] == "not json").all()


def test_a_models_mapping_shorter_than_the_responses_is_refused(db, tmp_path):
    config = ProjectConfig(task_type="rubric", criteria=[Criterion(name="c", scores={1: "a", 2: "b"})])
    project = create_project(db, "r", config)
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": "r1", "prompt": "p", "r1": "x", "r2": "y", "m1": "m"}])
    with pytest.raises(ImportDataError, match="'models' names 1 columns but 'responses' names 2"):
        import_file(db, project, path, mapping=ColumnMapping(responses=["r1", "r2"], models=["m1"]))
