"""Issue 15's errors and silences: each is now a one-line error naming the place, or a stored and
reported value; nothing is half-imported. Imports run through the CLI as a user would."""
from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.labeling.annotators import add_annotator
from tests.test_import_shapes import frames, pairs, query, run, run_json, write_csv, write_jsonl

import storage

pytestmark = pytest.mark.both_backends


def counts(db_path: Path) -> tuple:
    tables = ["projects", "items", "responses", "annotators", "label_events", "judges", "judgments"]
    if isinstance(db_path, Path) and not db_path.exists():  # a DuckDB file not yet created
        return (0,) * len(tables)
    return tuple(query(db_path, f"SELECT count(*) FROM {t}")[0][0] for t in tables)


def refused(db_path: Path, *args) -> str:
    """Run an import that must fail: one line, no traceback, the database unchanged."""
    before = counts(db_path)
    result = run(db_path, *args, ok=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("Error: ")
    assert result.output.strip().count("\n") == 0, result.output
    assert counts(db_path) == before
    return result.output


def test_a_mapped_column_that_does_not_exist_is_an_error_naming_it(db_path, tmp_path):
    for suffix, write in (("jsonl", write_jsonl), ("csv", write_csv)):
        path = write(tmp_path / f"d.{suffix}", pairs(2))
        out = refused(db_path, "import", path, "-p", "p", "--map", "human.gold=missing_column")
        assert f"d.{suffix}: column 'missing_column' (mapped to 'human.gold') is not in the file" in out


def test_judge_scores_off_the_scale_are_stored_unparsed_and_counted(db_path, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", pairs(3, j=["A", 7, "7"], k=["B", "nonsense", -3]))
    report = run_json(db_path, "import", path, "-p", "p", "--map", "judge.j=j", "--map", "judge.k=k")
    assert report["out_of_scale"] == {"judge j": {"count": 2, "values": [7, "7"]}, "judge k": {"count": 1, "values": [-3]}}
    assert report["unparsed"] == {"j": 2, "k": 2}
    _, judgments = frames(db_path)
    assert sorted(judgments[~judgments["is_parsed"]]["raw_output"]) == ["-3", "7", "7", "nonsense"]
    text = run(db_path, "import", write_jsonl(tmp_path / "e.jsonl", pairs(1, j=[9])), "-p", "q",
               "--map", "judge.j=j").output
    assert "off the scale, judge j: 1 (e.g. 9); stored as unparsed" in text


def test_human_labels_off_the_scale_stop_the_import_and_are_counted(db_path, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", pairs(4, h=["A", 7, 9, "B"], g=["A", "A", "A", 5]))
    out = refused(db_path, "import", path, "-p", "p", "--map", "human.h=h", "--map", "gold=g")
    assert "d.jsonl line 2, field 'h': label 7 is not 'A', 'B', 'tie' or one of [-2, -1, 0, 1, 2]" in out
    assert "3 label(s) in all are off the scale (import:h: 2, gold: 1); nothing was imported" in out


def test_an_empty_csv_response_cell_is_an_empty_response_and_an_absent_column_is_missing(db_path, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,prompt,response_a,response_b\nq1,Say nothing,,"B"\nq2,"",a,b\n', encoding="utf-8")
    run(db_path, "import", path, "-p", "p")
    rows = query(db_path, "SELECT i.external_id, i.prompt, r.idx, r.text FROM items i JOIN responses r ON "
                          "r.item_id = i.id ORDER BY 1, 3")
    assert rows == [("q1", "Say nothing", 0, ""), ("q1", "Say nothing", 1, "B"), ("q2", "", 0, "a"), ("q2", "", 1, "b")]
    absent = tmp_path / "e.csv"
    absent.write_text("id,prompt,response_a\nq1,p,a\n", encoding="utf-8")
    assert "e.csv: column 'response_b' (mapped to 'response_b') is not in the file" in \
        refused(db_path, "import", absent, "-p", "p2")


def test_one_judge_name_in_two_projects_stays_that_name_in_each(db_path, tmp_path):
    run(db_path, "import", write_jsonl(tmp_path / "one.jsonl", pairs(2, j=["A", "B"])), "-p", "p1", "--map", "judge.gpt4=j")
    report = run_json(db_path, "import", write_csv(tmp_path / "two.csv", pairs(2, v=["B", "B"])), "-p", "p2",
                      "--map", "judge.gpt4=v")
    assert report["judgments_per_judge"] == {"gpt4": {"AB": 2}} and report["notes"] == []
    assert sorted(query(db_path, "SELECT name FROM judges")) == [("gpt4",), ("gpt4",)]
    for project in ("p1", "p2"):
        assert set(frames(db_path, project)[1]["judge"]) == {"gpt4"}


def test_a_second_judge_of_the_same_name_in_one_project_is_versioned_and_said(db_path, tmp_path):
    run(db_path, "import", write_jsonl(tmp_path / "one.jsonl", pairs(2, j=["A", "B"])), "-p", "p", "--map", "judge.gpt4=j")
    conn = storage.connect(db_path)
    cur = storage.cursor(conn)
    cur.execute("UPDATE judges SET config = '{\"backend\": \"external\", \"name\": \"other\"}', "
                "config_hash = 'another-config'")  # the project's 'gpt4' is now a different judge config
    conn.close()
    report = run_json(db_path, "import", write_jsonl(tmp_path / "three.jsonl", pairs(3, j=["A", "B", "A"])), "-p", "p",
                      "--on-duplicate", "skip", "--map", "judge.gpt4=j")
    assert report["judgments_per_judge"] == {"gpt4 v2": {"AB": 3}}
    assert report["notes"] == ["judge 'gpt4': project 'p' already has another judge of that name, so these "
                               "verdicts are stored as 'gpt4 v2'"]


@pytest.mark.parametrize("header, named", [("id,prompt,response_a,response_b,note,note", "'note'"),
                                           ("id,prompt,response_a,response_b,,", "no name for column(s) 5, 6")])
def test_a_csv_header_with_repeated_or_empty_names_is_refused_naming_them(db_path, tmp_path, header, named):
    path = tmp_path / "d.csv"
    path.write_text(f"{header}\nq1,p,a,b,x,y\n", encoding="utf-8")
    out = refused(db_path, "import", path, "-p", "p")
    assert out.startswith("Error: d.csv line 1: the header") and named in out


def test_jsonl_lines_split_on_newline_only_keep_unicode_line_separators_in_text(db_path, tmp_path):
    text = "first\u2028second\u0085third\u2029fourth\x0cfifth"
    path = tmp_path / "d.jsonl"
    path.write_bytes((json.dumps(pairs(1)[0] | {"response_a": text}, ensure_ascii=False) + "\n").encode("utf-8"))
    run(db_path, "import", path, "-p", "p")
    assert query(db_path, "SELECT text FROM responses WHERE idx = 0") == [(text,)]


def test_parquet_timestamp_decimal_and_binary_columns_are_stored_as_json_safe_metadata(db_path, tmp_path):
    table = pa.table({"id": ["q1"], "prompt": ["p"], "response_a": ["a"], "response_b": ["b"],
                      "when": pa.array([dt.datetime(2024, 5, 1, 12, 30)], pa.timestamp("us")),
                      "price": pa.array([decimal.Decimal("12.345")], pa.decimal128(10, 3)),
                      "blob": pa.array([b"\x00\xffhi"], pa.binary()), "score": [float("nan")]})
    pq.write_table(table, tmp_path / "d.parquet")
    run(db_path, "import", tmp_path / "d.parquet", "-p", "p")
    metadata = json.loads(query(db_path, "SELECT metadata FROM items")[0][0])
    assert metadata == {"when": "2024-05-01T12:30:00", "price": "12.345", "blob": "AP9oaQ==", "score": None}


def test_json_nan_and_infinity_are_read_as_null_and_counted(db_path, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "q1", "prompt": "p", "response_a": "a", "response_b": "b", "x": NaN, "y": -Infinity, '
                    '"z": 1}\n', encoding="utf-8")
    report = run_json(db_path, "import", path, "-p", "p")
    assert report["non_finite_as_null"] == 2 and "2 JSON NaN/Infinity value(s) read as null" in report["notes"][0]
    assert json.loads(query(db_path, "SELECT metadata FROM items")[0][0]) == {"z": 1}


def test_a_lone_surrogate_deep_nesting_and_an_unclosed_quote_are_one_line_errors_with_the_line(db_path, tmp_path):
    good = json.dumps(pairs(1)[0])
    surrogate = tmp_path / "s.jsonl"
    surrogate.write_text(good + "\n" + good.replace('"a0"', '"a\\ud800"').replace("q0", "q1") + "\n")
    assert "s.jsonl line 2: text contains a lone surrogate" in refused(db_path, "import", surrogate, "-p", "p")
    array = tmp_path / "s.json"
    array.write_text("[\n" + good + ",\n" + good.replace('"a0"', '"a\\udc00"').replace("q0", "q1") + "\n]")
    assert "s.json line 3: text contains a lone surrogate" in refused(db_path, "import", array, "-p", "p")
    deep = tmp_path / "n.jsonl"
    deep.write_text(good + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "n.jsonl line 2: JSON nested too deeply to read" in refused(db_path, "import", deep, "-p", "p")
    deep_json = tmp_path / "n.json"
    deep_json.write_text("[" + "{\"a\": " * 100_000 + "1" + "}" * 100_000 + "]")
    assert "n.json: JSON nested too deeply to read" in refused(db_path, "import", deep_json, "-p", "p")
    quote = tmp_path / "q.csv"
    quote.write_text('id,prompt,response_a,response_b\nq1,p,a,b\nq2,"never closed,a,b\nq3,p,a,b\n')
    assert "q.csv line 3: not valid CSV (a quoted cell is never closed)" in refused(db_path, "import", quote, "-p", "p")


def test_imported_raters_are_their_own_kind_and_never_take_an_accounts_labels(db_path, tmp_path):
    conn = storage.connect(db_path)
    add_annotator(conn, "admin", "admin")
    conn.close()
    run(db_path, "import", write_jsonl(tmp_path / "d.jsonl", pairs(2, admin=["A", "B"])), "-p", "p",
        "--map", "human.admin=admin")
    rows = query(db_path, "SELECT name, kind, is_active, token_hash IS NULL FROM annotators ORDER BY id")
    assert rows == [("admin", "account", True, False), ("import:admin", "imported", False, True)]
    assert query(db_path, "SELECT count(*) FROM label_events e JOIN annotators a ON a.id = e.annotator_id "
                          "WHERE a.name = 'admin'") == [(0,)]
    for bad in ("human.=admin", "human. =admin"):
        assert "needs a rater name" in refused(db_path, "import", tmp_path / "d.jsonl", "-p", "p2", "--map", bad)
    nested = write_jsonl(tmp_path / "n.jsonl", pairs(1, h=[{"": "A"}]))
    assert "field 'h': a rater or judge with an empty name" in refused(db_path, "import", nested, "-p", "p3",
                                                                          "--map", "human.*=h")


def test_every_import_reports_what_it_read_and_what_it_ignored(db_path, tmp_path):
    rows = pairs(3, h=["A", None, "B"], j=["A", "junk", "B"], k=["B", "A", "A"], extra=["x", "y", "z"],
                 unused=[1, 2, 3])
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    report = run_json(db_path, "import", path, "-p", "p", "--map", "human.ann=h", "--map", "judge.j=j",
                      "--map", "judge.j@BA=k", "--map", "metadata=extra")
    assert {k: report[k] for k in ("items", "responses", "records", "label_events", "judgments")} == \
        {"items": 3, "responses": 6, "records": 3, "label_events": 2, "judgments": 6}
    assert report["labels_per_rater"] == {"import:ann": 2}
    assert report["judgments_per_judge"] == {"j": {"AB": 3, "BA": 3}} and report["unparsed"] == {"j": 1}
    assert report["metadata_columns"] == ["extra"] and report["ignored_columns"] == ["unused"]
    text = run(db_path, "import", write_jsonl(tmp_path / "e.jsonl", rows), "-p", "p2", "--map", "human.ann=h",
               "--map", "judge.j=j", "--map", "judge.j@BA=k", "--map", "metadata=extra").output.splitlines()
    assert text == ["Imported 3 items, 2 human labels and 6 judgments into 'p2' (read 3 records)",
                    "  labels by import:ann: 2",
                    "  judgments by j: 3 with A shown first, 3 with B shown first (1 unparsed, kept raw)",
                    "  kept as item metadata: extra", "  columns ignored: unused"]


def test_a_dry_run_reports_and_previews_but_writes_nothing(db_path, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", pairs(7, h=["A"] * 7, topic=["math"] * 7))
    before = counts(db_path)
    report = run_json(db_path, "import", path, "-p", "p", "--map", "human.ann=h", "--dry-run")
    assert report["dry_run"] and report["items"] == 7 and report["label_events"] == 7
    assert len(report["preview"]) == 5
    assert report["preview"][0] == {"item": "q0", "prompt": "Question 0", "response A": "a0", "response B": "b0",
                                    "metadata": "topic = math", "labels": "import:ann: A is slightly better", "judges": ""}
    assert counts(db_path)[1:] == before[1:] and query(db_path, "SELECT count(*) FROM projects") == [(0,)]


def test_import_as_a_new_rubric_project_says_how_to_create_one(db_path, tmp_path):
    out = refused(db_path, "import", write_jsonl(tmp_path / "d.jsonl", pairs(1)), "-p", "r", "--task-type", "rubric")
    assert "No project 'r' yet: a rubric project needs its criteria, so create it first with: python -m annotate " \
           "projects create r --task-type rubric --criteria CRITERIA.json" in out


def test_invalid_json_in_a_mapping_file_is_a_one_line_error(db_path, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text('{"prompt": "instruction",')
    out = refused(db_path, "import", write_jsonl(tmp_path / "d.jsonl", pairs(1)), "-p", "p", "--mapping", mapping)
    assert "m.json line 1: not valid JSON" in out


def test_a_file_read_in_several_chunks_is_still_all_or_nothing(db_path, tmp_path, monkeypatch):
    from annotate.data import import_batch
    monkeypatch.setattr(import_batch, "CHUNK_SIZE", 2)
    rows = pairs(5, h=["A", "B", "tie", "A", "B"])
    report = run_json(db_path, "import", write_jsonl(tmp_path / "d.jsonl", rows), "-p", "p", "--map", "human.h=h")
    assert (report["items"], report["label_events"]) == (5, 5)
    repeated = rows + [rows[1]]  # the duplicate is in the last chunk; four items are written before it
    out = refused(db_path, "import", write_jsonl(tmp_path / "e.jsonl", repeated), "-p", "p2")
    assert "e.jsonl line 6: duplicate id 'q1' (first seen earlier in this file)" in out
    late = rows + [pairs(6, h=[7] * 6)[5]]
    assert "e2.jsonl line 6, field 'h': label 7" in refused(db_path, "import", write_jsonl(tmp_path / "e2.jsonl", late),
                                                           "-p", "p2", "--map", "human.h=h")
