"""NUL characters (U+0000), which PostgreSQL's text cannot hold and DuckDB's can: the same rule on
both backends (annotate/text_checks.py). An import holding one is refused whole, in one line naming
file, line and field, before anything is written; a name holding one is refused; text typed on the
label screen is stored without it; a judge's reply keeps a replacement character in its place."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import storage
from annotate.errors import AnnotateError, ImportDataError
from annotate.data.adapters import import_items
from annotate.labeling.annotators import add_annotator
from annotate.judges.runs import run_judge
from annotate.labeling.labels import record_flag, record_label, record_skip
from annotate.config import ProjectConfig
from annotate.projects import create_project
from storage import labels as label_store
from storage.judgments import judgments_frame
from tests.test_import_errors import counts, refused
from tests.test_import_shapes import pairs, query, run, write_jsonl
from tests.test_judges_http import Stub, config, register_endpoints
from tests.test_labels import make_project

pytestmark = pytest.mark.both_backends

NUL_MESSAGE = "text contains a NUL character (\\u0000), which PostgreSQL cannot store"


def test_a_jsonl_import_with_a_nul_escape_is_refused_naming_line_and_field(db_path, tmp_path):
    rows = pairs(3)
    rows[1]["prompt"] = "before\u0000after"
    out = refused(db_path, "import", write_jsonl(tmp_path / "d.jsonl", rows), "-p", "p")
    assert f"d.jsonl line 2, field 'prompt': {NUL_MESSAGE}" in out
    assert counts(db_path)[:2] == (0, 0)  # not even the project that the import would create


def test_a_nul_deep_inside_a_record_or_in_a_column_name_names_that_field(db_path, tmp_path):
    rows = pairs(2)
    rows[0]["meta"] = {"tags": ["fine", "bad\u0000tag"]}
    out = refused(db_path, "import", write_jsonl(tmp_path / "d.jsonl", rows), "-p", "p")
    assert f"d.jsonl line 1, field 'meta.tags[1]': {NUL_MESSAGE}" in out
    rows = pairs(2)
    rows[1]["odd\u0000name"] = "x"
    out = refused(db_path, "import", write_jsonl(tmp_path / "e.jsonl", rows), "-p", "p")
    assert f"e.jsonl line 2, field 'odd\\u0000name': {NUL_MESSAGE}" in out


def test_a_csv_cell_or_header_with_a_nul_byte_is_refused(db_path, tmp_path):
    cell = tmp_path / "d.csv"
    cell.write_bytes(b"id,prompt,response_a,response_b\nq1,p,a,b\nq2,p,\"a\x00\",b\n")
    assert f"d.csv line 3, field 'response_a': {NUL_MESSAGE}" in refused(db_path, "import", cell, "-p", "p")
    header = tmp_path / "h.csv"
    header.write_bytes(b"id,prompt,response_a,response_b,no\x00te\nq1,p,a,b,x\n")
    assert f"h.csv line 1, field 'no\\u0000te': {NUL_MESSAGE}" in refused(db_path, "import", header, "-p", "p")


def test_a_parquet_value_with_a_nul_is_refused_naming_the_row(db_path, tmp_path):
    path = tmp_path / "d.parquet"
    frame = pd.DataFrame(pairs(3))
    frame.loc[2, "response_b"] = "\u0000"
    frame.to_parquet(path)
    assert f"d.parquet row 3, field 'response_b': {NUL_MESSAGE}" in refused(db_path, "import", path, "-p", "p")


def test_a_labels_file_with_a_nul_in_a_time_is_refused_and_the_project_keeps_its_items(db_path, tmp_path):
    run(db_path, "import", write_jsonl(tmp_path / "items.jsonl", pairs(2)), "-p", "p")
    labels = [{"id": "q0", "annotator": "alice", "value": "A", "time": "2024-05-01T12:00:00Z"},
              {"id": "q1", "annotator": "bob", "value": "B", "time": "2024-05-01\u000012:00"}]
    out = refused(db_path, "import", write_jsonl(tmp_path / "l.jsonl", labels), "-p", "p", "--shape", "labels",
                  "--map", "time=time")
    assert f"l.jsonl line 2, field 'time': {NUL_MESSAGE}" in out


def test_an_adapter_conversation_given_as_json_text_with_a_nul_is_refused(db, tmp_path):
    turns = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Par\u0000is."}]
    row = {"question_id": 81, "model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "model_a", "judge": "expert_0",
           "turn": 1, "conversation_a": json.dumps(turns), "conversation_b": json.dumps(turns)}
    path = tmp_path / "mt.parquet"
    pd.DataFrame([row]).to_parquet(path)  # the conversation is a JSON string in the cell
    with pytest.raises(ImportDataError, match=r"mt.parquet row 1, field 'conversation_a\[1\].content': text contains"):
        import_items(db, "mt", path, adapter="mtbench")
    assert storage.cursor(db).execute("SELECT count(*) FROM projects").fetchone()[0] == 0


def test_a_backslash_followed_by_u0000_is_ordinary_text_and_imports(db_path, tmp_path):
    rows = pairs(1)
    rows[0]["prompt"] = "Escape a NUL in JSON as \\u0000."
    run(db_path, "import", write_jsonl(tmp_path / "d.jsonl", rows), "-p", "p")
    assert query(db_path, "SELECT prompt FROM items") == [("Escape a NUL in JSON as \\u0000.",)]


def test_names_with_a_nul_are_refused_and_nothing_is_created(db):
    with pytest.raises(AnnotateError, match=r"An annotator name 'al\\x00ice' contains a NUL character"):
        add_annotator(db, "al\u0000ice")
    with pytest.raises(AnnotateError, match=r"A project name 'p\\x00' contains a NUL character"):
        create_project(db, "p\u0000", ProjectConfig(task_type="pairwise"))
    with pytest.raises(ImportDataError, match=r"A project name 'p\\x00' contains a NUL character"):
        import_items(db, "p\u0000", Path(__file__))
    cur = storage.cursor(db)
    assert cur.execute("SELECT (SELECT count(*) FROM annotators) + (SELECT count(*) FROM projects)").fetchone()[0] == 0


def test_text_typed_on_the_label_screen_is_stored_without_nul(db):
    project, items = make_project(db, ProjectConfig(task_type="pairwise", justification="required",
                                                    justification_min_chars=3), n_items=3)
    annotator = add_annotator(db, "ann")[0]["id"]
    with pytest.raises(Exception, match="at least 3 characters is required \\(got 2\\)"):
        record_label(db, project, annotator, items[0], {"overall": -1}, justification="o\u0000k")
    record_label(db, project, annotator, items[0], {"overall": -1}, justification="Clear\u0000er answer")
    record_flag(db, project, annotator, items[1], "Has a \u0000 in it")
    record_skip(db, project, annotator, items[2], "\u0000Unreadable")
    events = label_store.label_events_frame(storage.cursor(db), project.id)
    assert events[["kind", "justification", "note"]].fillna("").values.tolist() == [
        ["label", "Clearer answer", ""], ["flag", "", "Has a  in it"], ["skip", "", "Unreadable"]]


def test_a_judge_reply_with_a_nul_is_stored_with_a_replacement_character(db, tmp_path, monkeypatch):
    server = Stub()
    register_endpoints(tmp_path / "endpoints.json", monkeypatch, stub=server.url)
    server.script = [("reply", "A is better\u0000 [[A]]", None)]
    try:
        project, _ = make_project(db, ProjectConfig(task_type="pairwise"), n_items=1)
        report = run_judge(db, "p", config(server, top_logprobs=0))
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert (report.status, report.n_done) == ("done", 2)
    rows = judgments_frame(storage.cursor(db), project.id)
    assert set(rows["raw_output"]) == {"A is better\ufffd [[A]]"} and set(rows["verdict"]) == {"A", "B"}
