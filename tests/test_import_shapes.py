"""Every common shape of human-eval data imports through the CLI without code (issue 15): each test
writes one small fixture file, imports it with `python -m annotate import` (click runner) and
checks what was stored field by field."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import storage
from annotate.cli import cli
from storage import judgments as judgment_store, labels as label_store

pytestmark = pytest.mark.both_backends


def run(db_path: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", str(db_path), *map(str, args)])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def run_json(db_path: Path, *args: str) -> dict:
    return json.loads(run(db_path, *args, "--json").output)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    conn = storage.connect(db_path)
    try:
        return storage.cursor(conn).execute(sql, params or []).fetchall()
    finally:
        conn.close()


def frames(db_path: Path, project: str = "p") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(current label values, judgments) of a project."""
    conn = storage.connect(db_path)
    try:
        cur = storage.cursor(conn)
        project_id = cur.execute("SELECT id FROM projects WHERE name = ?", [project]).fetchone()[0]
        return label_store.current_label_values(cur, project_id), judgment_store.judgments_frame(cur, project_id)
    finally:
        conn.close()


def pairs(n: int, **columns) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"Question {i}", "response_a": f"a{i}", "response_b": f"b{i}",
             **{k: v[i] for k, v in columns.items()}} for i in range(n)]


# ---------------------------------------------------------------- 1. a judge in both orders


def test_a_judge_in_both_orders_lands_as_one_judge_with_two_presented_orders(db_path, tmp_path):
    path = write_csv(tmp_path / "both.csv", pairs(3, gpt4_ab=["A", "B", "tie"], gpt4_ba=["A", "A", "B"]))
    report = run_json(db_path, "import", path, "-p", "p", "--map", "judge.gpt4=gpt4_ab",
                      "--map", "judge.gpt4@BA=gpt4_ba")
    assert report["judgments_per_judge"] == {"gpt4": {"AB": 3, "BA": 3}}
    _, judgments = frames(db_path)
    assert set(judgments["judge"]) == {"gpt4"} and judgments["judge_id"].nunique() == 1
    got = judgments.set_index(["external_id", "presented_order"])["verdict"].to_dict()
    assert got == {("q0", "AB"): "A", ("q0", "BA"): "A", ("q1", "AB"): "B", ("q1", "BA"): "A",
                   ("q2", "AB"): "tie", ("q2", "BA"): "B"}
    assert set(judgments["source"]) == {"import"} and judgments["is_parsed"].all()


def test_verdicts_in_presented_terms_are_stored_in_canonical_terms(db_path, tmp_path):
    # With B shown first, "A" in presented terms is the first response shown: canonical B.
    path = write_csv(tmp_path / "shown.csv", pairs(2, ab=["A", "tie"], ba=["A", "B"]))
    run(db_path, "import", path, "-p", "p", "--map", "judge.j=ab", "--map", "judge.j@BA=ba",
        "--judge-terms", "presented")
    _, judgments = frames(db_path)
    got = judgments.set_index(["external_id", "presented_order"])["verdict"].to_dict()
    assert got == {("q0", "AB"): "A", ("q0", "BA"): "B", ("q1", "AB"): "tie", ("q1", "BA"): "A"}


def test_a_second_import_adds_the_other_order_to_existing_items_and_a_third_adds_nothing(db_path, tmp_path):
    run(db_path, "import", write_csv(tmp_path / "ab.csv", pairs(2, v=["A", "B"])), "-p", "p", "--map", "judge.j=v")
    both = write_csv(tmp_path / "both.csv", pairs(2, v=["A", "B"], w=["B", "B"]))
    args = ["import", both, "-p", "p", "--on-duplicate", "skip", "--map", "judge.j=v", "--map", "judge.j@BA=w"]
    report = run_json(db_path, *args)
    assert (report["items"], report["skipped_duplicates"], report["judgments"]) == (0, 2, 2)
    assert report["already_present"] == {"labels": 0, "judgments": 2}
    assert report["judgments_per_judge"] == {"j": {"BA": 2}}
    _, judgments = frames(db_path)
    assert sorted(judgments["presented_order"]) == ["AB", "AB", "BA", "BA"] and judgments["judge_id"].nunique() == 1
    again = run_json(db_path, *args)
    assert again["judgments"] == 0 and again["already_present"]["judgments"] == 4


# ---------------------------------------------------------------- 2. long judgments and long labels files


def test_a_long_judgments_file_gives_one_judgment_per_row_with_order_probs_and_rationale(db_path, tmp_path):
    run(db_path, "import", write_jsonl(tmp_path / "items.jsonl", pairs(2)), "-p", "p")
    rows = [{"item": "q0", "model": "judge-x", "shown": "AB", "winner": "A", "p": [0.7, 0.2, 0.1], "why": "clearer"},
            {"item": "q0", "model": "judge-x", "shown": "BA", "winner": "B", "p": [0.1, 0.3, 0.6], "why": "B first"},
            {"item": "q1", "model": "judge-x", "shown": "ab", "winner": "tie", "p": None, "why": None},
            {"item": "q1", "model": "judge-y", "shown": "BA", "winner": "maybe", "p": None, "why": None}]
    report = run_json(db_path, "import", write_jsonl(tmp_path / "judgments.jsonl", rows), "-p", "p",
                      "--shape", "judgments", "--map", "id=item", "--map", "judge=model", "--map", "order=shown",
                      "--map", "value=winner", "--map", "probs=p", "--map", "rationale=why")
    assert report["judgments_per_judge"] == {"judge-x": {"AB": 2, "BA": 1}, "judge-y": {"BA": 1}}
    assert report["unparsed"] == {"judge-y": 1} and report["items"] == 0
    _, judgments = frames(db_path)
    row = judgments[(judgments["external_id"] == "q0") & (judgments["presented_order"] == "BA")].iloc[0]
    assert (row["judge"], row["verdict"], list(row["probs"]), row["rationale"]) == \
        ("judge-x", "B", [0.1, 0.3, 0.6], "B first")
    bad = judgments[judgments["judge"] == "judge-y"].iloc[0]
    assert not bad["is_parsed"] and bad["raw_output"] == "maybe" and pd.isna(bad["verdict"])


def test_a_long_labels_file_gives_one_event_per_item_and_annotator_with_aspects_and_time(db_path, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aspects": [{"name": "helpfulness"}], "overlap": 2}))
    run(db_path, "projects", "create", "p", "--config", config)
    run(db_path, "import", write_jsonl(tmp_path / "items.jsonl", pairs(2)), "-p", "p")
    rows = [{"item": "q0", "who": "ann1", "label": -2, "aspect": "overall", "at": "2024-05-01T12:00:00Z"},
            {"item": "q0", "who": "ann1", "label": -1, "aspect": "helpfulness", "at": "2024-05-01T12:00:00Z"},
            {"item": "q0", "who": "ann2", "label": "B", "aspect": "overall", "at": "2024-05-02T08:30:00+02:00"},
            {"item": "q1", "who": "ann2", "label": "tie", "aspect": "overall", "at": ""}]
    report = run_json(db_path, "import", write_csv(tmp_path / "labels.csv", rows), "-p", "p", "--shape", "labels",
                      "--map", "id=item", "--map", "annotator=who", "--map", "value=label",
                      "--map", "criterion=aspect", "--map", "time=at")
    assert report["label_events"] == 3 and report["labels_per_rater"] == {"import:ann1": 1, "import:ann2": 2}
    labels, _ = frames(db_path)
    got = {(r.external_id, r.annotator, r.aspect): r.value for r in labels.itertuples()}
    assert got == {("q0", "import:ann1", "overall"): -2.0, ("q0", "import:ann1", "helpfulness"): -1.0,
                   ("q0", "import:ann2", "overall"): 1.0, ("q1", "import:ann2", "overall"): 0.0}
    times = {(r.external_id, r.annotator): r.created_at for r in labels.itertuples()}
    assert str(times[("q0", "import:ann1")]) == "2024-05-01 12:00:00"
    assert str(times[("q0", "import:ann2")]) == "2024-05-02 06:30:00"  # stored in UTC


def test_a_labels_file_for_items_the_project_lacks_names_the_line(db_path, tmp_path):
    run(db_path, "import", write_jsonl(tmp_path / "items.jsonl", pairs(1)), "-p", "p")
    path = write_csv(tmp_path / "labels.csv", [{"id": "q0", "annotator": "a", "value": "A"},
                                               {"id": "zz", "annotator": "a", "value": "B"}])
    result = run(db_path, "import", path, "-p", "p", "--shape", "labels", ok=False)
    assert result.exit_code == 1 and "labels.csv line 3: a label for item 'zz', which project 'p' does not have" \
        in result.output
    assert query(db_path, "SELECT count(*) FROM label_events")[0][0] == 0


# ---------------------------------------------------------------- 3. nested dicts


def test_nested_label_and_judge_objects_map_with_one_option_each(db_path, tmp_path):
    rows = pairs(2, human_labels=[{"ann1": "A", "ann2": "B"}, {"ann1": "tie"}],
                 judge_labels=[{"j1": "A", "j2": {"AB": "B", "BA": "A"}}, {"j1": "B"}])
    report = run_json(db_path, "import", write_jsonl(tmp_path / "nested.jsonl", rows), "-p", "p",
                      "--map", "human.*=human_labels", "--map", "judge.*=judge_labels")
    assert report["labels_per_rater"] == {"import:ann1": 2, "import:ann2": 1}
    assert report["judgments_per_judge"] == {"j1": {"AB": 2}, "j2": {"AB": 1, "BA": 1}}
    assert report["metadata_columns"] == []
    labels, judgments = frames(db_path)
    assert {(r.external_id, r.annotator): r.value for r in labels.itertuples()} == \
        {("q0", "import:ann1"): -1.0, ("q0", "import:ann2"): 1.0, ("q1", "import:ann1"): 0.0}
    assert {(r.judge, r.external_id, r.presented_order): r.verdict for r in judgments.itertuples()} == \
        {("j1", "q0", "AB"): "A", ("j2", "q0", "AB"): "B", ("j2", "q0", "BA"): "A", ("j1", "q1", "AB"): "B"}


# ---------------------------------------------------------------- 4. graded data


RELEVANCE = """scale: 0-3
criteria:
  - name: relevance
    description: Does the passage answer the query?
    scores: {0: irrelevant, 1: related, 2: partly answers, 3: answers}
  - name: fluency
"""


def test_graded_long_rows_one_per_criterion_make_one_label_per_rater_and_item(db_path, tmp_path):
    criteria = tmp_path / "criteria.yaml"
    criteria.write_text(RELEVANCE)
    run(db_path, "projects", "create", "g", "--task-type", "rubric", "--criteria", criteria)
    rows = [{"qid": "d1", "query": "q", "passage": "text 1", "criterion": "relevance", "alice": 3, "bob": 2, "llm": 3},
            {"qid": "d1", "query": "q", "passage": "text 1", "criterion": "fluency", "alice": 1, "bob": 0, "llm": 9},
            {"qid": "d2", "query": "q", "passage": "text 2", "criterion": "relevance", "alice": 0, "bob": None,
             "llm": 1}]
    report = run_json(db_path, "import", write_csv(tmp_path / "graded.csv", rows), "-p", "g", "--map", "id=qid",
                      "--map", "prompt=query", "--map", "responses=passage", "--map", "criterion=criterion",
                      "--map", "human.alice=alice", "--map", "human.bob=bob", "--map", "judge.llm=llm")
    assert (report["items"], report["label_events"]) == (2, 3)
    assert report["labels_per_rater"] == {"import:alice": 2, "import:bob": 1}
    assert report["out_of_scale"] == {"judge llm": {"count": 1, "values": ["9"]}}
    labels, judgments = frames(db_path, "g")
    assert {(r.external_id, r.annotator, r.aspect): r.value for r in labels.itertuples()} == {
        ("d1", "import:alice", "fluency"): 1.0, ("d1", "import:alice", "relevance"): 3.0,
        ("d1", "import:bob", "fluency"): 0.0, ("d1", "import:bob", "relevance"): 2.0,
        ("d2", "import:alice", "relevance"): 0.0}
    assert labels["event_id"].nunique() == 3 and set(labels["response_idx"]) == {0}
    scores = {(r.external_id, r.aspect): (r.score, r.is_parsed) for r in judgments.itertuples()}
    assert scores[("d1", "relevance")] == (3.0, True) and scores[("d2", "relevance")] == (1.0, True)
    assert pd.isna(scores[("d1", "fluency")][0]) and not scores[("d1", "fluency")][1]


def test_graded_wide_columns_one_per_rater_and_criterion_on_a_0_to_4_scale(db_path, tmp_path):
    criteria = tmp_path / "helpsteer.json"
    criteria.write_text(json.dumps({"scale": [0, 4], "criteria": [{"name": "helpfulness"},
                                                                   {"name": "correctness"}]}))
    run(db_path, "projects", "create", "hs", "--task-type", "rubric", "--criteria", criteria)
    rows = [{"id": "h1", "prompt": "p", "response": "r", "a_help": 4, "a_corr": 3, "b_help": 2, "b_corr": 2,
             "rm_help": 3, "note": "x"}]
    args = ["import", write_csv(tmp_path / "wide.csv", rows), "-p", "hs", "--map", "metadata=note"]
    for rater, prefix in (("human.ann-a", "a"), ("human.ann-b", "b")):
        args += ["--map", f"{rater}.helpfulness={prefix}_help", "--map", f"{rater}.correctness={prefix}_corr"]
    report = run_json(db_path, *args, "--map", "judge.rm.helpfulness=rm_help")
    assert report["label_events"] == 2 and report["judgments_per_judge"] == {"rm": {"none": 1}}
    assert report["metadata_columns"] == ["note"] and report["ignored_columns"] == []
    labels, judgments = frames(db_path, "hs")
    assert {(r.annotator, r.aspect): r.value for r in labels.itertuples()} == {
        ("import:ann-a", "correctness"): 3.0, ("import:ann-a", "helpfulness"): 4.0,
        ("import:ann-b", "correctness"): 2.0, ("import:ann-b", "helpfulness"): 2.0}
    assert judgments[["judge", "aspect", "score", "response_idx"]].values.tolist() == [["rm", "helpfulness", 3.0, 0]]


# ---------------------------------------------------------------- 5. gold labels


def test_a_gold_column_becomes_the_gold_reference_rater(db_path, tmp_path):
    rows = pairs(3, answer=["A", "B", "B"], j=["A", "A", "B"])
    report = run_json(db_path, "import", write_jsonl(tmp_path / "llmbar.jsonl", rows), "-p", "p",
                      "--map", "gold=answer", "--map", "judge.j=j")
    assert report["labels_per_rater"] == {"gold": 3}
    assert query(db_path, "SELECT name, kind, is_active, token_hash FROM annotators") == [("gold", "gold", False, None)]
    labels, _ = frames(db_path)
    assert labels.set_index("external_id")["value"].to_dict() == {"q0": -1.0, "q1": 1.0, "q2": 1.0}
    assert set(labels["source"]) == {"import:llmbar.jsonl"}
