"""Exports: round trips through pandas and datasets, the PandaLM majority, swapped presentation,
CSV escaping, filters, rubric tables, audit tables, the dataset card and the CLI."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from click.testing import CliRunner
from datasets import load_from_disk

import storage
from annotate.labeling.annotators import add_annotator
from annotate.cli import cli
from annotate.config import Criterion, ProjectConfig
from annotate.data.export import ExportError, ExportFilters, build_export, export_dataset, helpsteer2_strength
from annotate.data.importers import ColumnMapping, import_file
from annotate.labeling.labels import canonical_values, record_label
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends

PANDALM_CODES = {1: "response1", 2: "response2"}


def pandalm_majority(pandalm_dir) -> dict[str, int]:
    """The majority code (0 tie, 1 response1, 2 response2) of each PandaLM test item, from the raw file."""
    records = json.loads((pandalm_dir / "testset-v1.json").read_text())
    out = {}
    for record in records:
        code, votes = Counter(record[f"annotator{i}"] for i in (1, 2, 3)).most_common(1)[0]
        out[str(record["idx"])] = code if votes >= 2 else 0
    return out


def as_text(value) -> str:
    """A response as the importer stores it (six PandaLM responses are JSON booleans)."""
    return value if isinstance(value, str) else json.dumps(value)


def test_pandalm_exports_every_item_and_the_894_non_tie_majorities(db, pandalm, pandalm_dir):
    majority = pandalm_majority(pandalm_dir)
    everything = build_export(db, "pandalm", "dpo")
    assert len(everything.rows) == 999 and everything.counts["items"] == 999
    pairs = build_export(db, "pandalm", "dpo", ExportFilters(exclude_ties=True)).rows
    assert len(pairs) == 894 == sum(code != 0 for code in majority.values())
    assert set(pairs["id"]) == {i for i, code in majority.items() if code != 0}
    records = {str(r["idx"]): r for r in json.loads((pandalm_dir / "testset-v1.json").read_text())}
    for row in pairs.itertuples():
        winner = PANDALM_CODES[majority[row.id]]
        loser = PANDALM_CODES[3 - majority[row.id]]
        assert (row.chosen, row.rejected) == (as_text(records[row.id][winner]), as_text(records[row.id][loser]))
    assert set(pairs["source"]) == {"human"} and (pairs["n_annotators"] == 3).all()


@pytest.fixture
def pairs(db, tmp_path):
    rows = [{"id": f"q{i}", "prompt": f"Prompt {i}", "response_a": f"Alpha {i}", "response_b": f"Beta {i}",
             "model_a": "m-a", "model_b": "m-b"} for i in range(4)]
    rows[3]["response_b"] = "=cmd|' /C calc'!A0"
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise", license="cc-by-4.0"))
    import_file(db, project, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    return project


def label(db, project, who: str, external_id: str, on_screen: int, order: str = "AB", both_bad: bool = False):
    found = storage.annotators.get_annotator(storage.cursor(db), name=who)
    annotator_id = found["id"] if found else add_annotator(db, who)[0]["id"]
    item_id = storage.items.item_id_for(storage.cursor(db), project.id, external_id)
    values = canonical_values({"overall": on_screen}, order)
    return record_label(db, project, annotator_id, item_id, values, presented_order=order, both_bad=both_bad)


def test_label_given_with_b_on_the_left_exports_b_as_chosen(db, pairs):
    label(db, pairs, "ann", "q0", -2, order="BA")  # "left is much better" while B was on the left
    row = build_export(db, "pairs", "dpo").rows.iloc[0]
    assert (row["chosen"], row["rejected"], row["label"], row["strength"]) == ("Beta 0", "Alpha 0", 2.0, 2.0)
    assert row["margin"] == 1.0 and row["chosen_model"] == "m-b"


def test_formula_cells_are_escaped_in_csv(db, pairs, tmp_path):
    label(db, pairs, "ann", "q3", 1)
    out = tmp_path / "pairs.csv"
    export_dataset(db, "pairs", "dpo-csv", out)
    frame = pd.read_csv(out)
    assert frame.loc[0, "chosen"] == "'=cmd|' /C calc'!A0"
    assert frame.loc[0, "label"] == 1.0  # numbers stay numbers
    assert "\n'=cmd" in out.read_text() or ",'=cmd" in out.read_text()


@pytest.mark.parametrize("fmt", ["dpo-jsonl", "dpo-parquet", "dpo-csv", "helpsteer2-jsonl"])
def test_file_round_trip_keeps_counts_and_labels(db, pandalm, tmp_path, fmt):
    expected = build_export(db, "pandalm", fmt.split("-")[0]).rows
    out = tmp_path / f"export.{fmt}"
    report = export_dataset(db, "pandalm", fmt, out)
    file_format = fmt.rsplit("-", 1)[1]
    loaded = {"jsonl": lambda p: pd.read_json(p, lines=True, dtype={"id": str}),
              "parquet": pd.read_parquet, "csv": lambda p: pd.read_csv(p, dtype={"id": str})}[file_format](out)
    assert len(loaded) == report["rows"] == 999
    assert loaded["id"].astype(str).tolist() == expected["id"].tolist()
    for column in ("label", "preference_strength"):
        if column in expected:
            assert loaded[column].tolist() == expected[column].tolist()
    assert loaded["source"].tolist() == expected["source"].tolist()


def test_hf_round_trip_through_load_from_disk(db, pandalm, tmp_path):
    expected = build_export(db, "pandalm", "dpo", ExportFilters(exclude_ties=True)).rows
    export_dataset(db, "pandalm", "hf", tmp_path / "hf", ExportFilters(exclude_ties=True))
    train = load_from_disk(str(tmp_path / "hf"))["train"]
    assert train.num_rows == 894
    assert train["label"] == expected["label"].tolist() and train["chosen"] == expected["chosen"].tolist()
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "| rows in this export | 894 |" in card and "`exclude_ties`: true" in card
    assert "| human | 894 |" in card and "Distinct human annotators: 3" in card and "mean agreement: " in card


def test_push_while_offline_is_a_clear_error(db, pandalm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ExportError, match="offline.*saved to disk"):
        export_dataset(db, "pandalm", "hf", tmp_path / "hf", push_to="someone/pandalm-prefs")
    assert (tmp_path / "hf" / "dataset_dict.json").is_file()


def test_push_without_token_is_a_clear_error(db, pandalm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ExportError, match="set HF_TOKEN"):
        export_dataset(db, "pandalm", "hf", tmp_path / "hf", push_to="someone/pandalm-prefs")


def test_filters_report_the_rows_each_leaves(db, pairs):
    label(db, pairs, "ann", "q0", -2)
    label(db, pairs, "bob", "q0", -1)
    label(db, pairs, "ann", "q1", 0)
    label(db, pairs, "bob", "q1", 0)
    label(db, pairs, "ann", "q2", 1, both_bad=True)
    label(db, pairs, "bob", "q2", -1, both_bad=True)
    result = build_export(db, "pairs", "dpo", ExportFilters(min_agreement=1.0, exclude_ties=True))
    assert result.counts == {"items": 4, "final_labels": 3, "min_agreement": 2, "exclude_ties": 1, "rows": 1}
    assert result.rows["id"].tolist() == ["q0"] and result.rows["label"].tolist() == [-1.5]
    both_bad = build_export(db, "pairs", "dpo", ExportFilters(exclude_both_bad=True)).rows
    assert both_bad["id"].tolist() == ["q0", "q1"]
    only_bob = build_export(db, "pairs", "dpo", ExportFilters(annotators=("bob",))).rows
    assert only_bob["label"].tolist() == [-1.0, 0.0, -1.0]
    assert build_export(db, "pairs", "dpo", ExportFilters(sources=("ai",))).rows.empty


def test_date_range_counts_labels_created_inside_it(db, pairs):
    label(db, pairs, "ann", "q0", 1)
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # stored times are naive UTC
    assert len(build_export(db, "pairs", "dpo", ExportFilters(since=now - timedelta(hours=1))).rows) == 1
    assert build_export(db, "pairs", "dpo", ExportFilters(until=now - timedelta(hours=1))).rows.empty


def test_helpsteer2_strength_mapping():
    five = [-2, -1, 0, 1, 2]
    assert helpsteer2_strength([-2, -1, 0, 1, 2, 1.5], five).tolist() == [-3, -1, 0, 1, 3, 2]
    assert helpsteer2_strength([-1, 0, 1], [-1, 0, 1]).tolist() == [-2, 0, 2]
    assert helpsteer2_strength([-3, -2, 1], list(range(-3, 4))).tolist() == [-3, -2, 1]


def test_wrong_kind_and_unknown_aspect_are_refused(db, pairs):
    with pytest.raises(ExportError, match="'rubric' export needs a rubric project"):
        build_export(db, "pairs", "rubric")
    with pytest.raises(ExportError, match=r"no aspect or criterion \['honesty'\]"):
        build_export(db, "pairs", "dpo", ExportFilters(aspects=("honesty",)))


@pytest.fixture
def rubric(db, tmp_path):
    rows = [{"id": "r0", "prompt": "Task", "response": "-1 is the answer"},
            {"id": "r1", "prompt": "Task 2", "response": "Fine"}]
    path = tmp_path / "rubric.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    criteria = [Criterion(name="accuracy", scores={1: "wrong", 2: "partly", 3: "right"}),
                Criterion(name="style", scores={1: "poor", 2: "fine", 3: "great"})]
    project = create_project(db, "rubric", ProjectConfig(task_type="rubric", criteria=criteria))
    import_file(db, project, path)
    item_id = storage.items.item_id_for(storage.cursor(db), project.id, "r0")
    for who, accuracy in (("ann", 1), ("bob", 3), ("cy", 3)):
        annotator_id = add_annotator(db, who)[0]["id"]
        record_label(db, project, annotator_id, item_id, {0: {"accuracy": accuracy, "style": 2}})
    return project


def test_rubric_export_has_one_row_per_response_and_a_column_per_criterion(db, rubric, tmp_path):
    mean = build_export(db, "rubric", "rubric").rows
    assert mean.columns.tolist()[:8] == ["id", "prompt", "context", "response_idx", "response", "model",
                                         "accuracy", "style"]
    row = mean.iloc[0]
    assert len(mean) == 1 and row["accuracy"] == pytest.approx(7 / 3) and row["style"] == 2
    assert row["n_annotators"] == 3 and row["agreement"] == pytest.approx((1 / 3 + 1) / 2)
    assert build_export(db, "rubric", "rubric", method="median").rows.iloc[0]["accuracy"] == 3
    only_style = build_export(db, "rubric", "rubric", ExportFilters(aspects=("style",))).rows
    assert "accuracy" not in only_style and only_style["style"].tolist() == [2]
    export_dataset(db, "rubric", "rubric-csv", tmp_path / "r.csv")
    assert pd.read_csv(tmp_path / "r.csv").loc[0, "response"] == "'-1 is the answer"


def test_audit_exports_keep_every_event_and_judgment(db, pandalm, tmp_path):
    events = build_export(db, "pandalm", "events")
    judgments = build_export(db, "pandalm", "judgments")
    assert len(events.rows) == 2997 and len(judgments.rows) == 1998
    export_dataset(db, "pandalm", "events-parquet", tmp_path / "e.parquet")
    export_dataset(db, "pandalm", "judgments-csv", tmp_path / "j.csv")
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 2997
    assert len(pd.read_csv(tmp_path / "j.csv")) == 1998


def test_edited_label_exports_the_new_value_and_audit_keeps_both(db, pairs):
    first = label(db, pairs, "ann", "q0", -1)
    annotator_id = storage.annotators.get_annotator(storage.cursor(db), name="ann")["id"]
    item_id = storage.items.item_id_for(storage.cursor(db), pairs.id, "q0")
    record_label(db, pairs, annotator_id, item_id, {"overall": 2}, presented_order="AB", supersedes=first)
    assert build_export(db, "pairs", "dpo").rows["label"].tolist() == [2.0]
    assert len(build_export(db, "pairs", "events").rows) == 2


def test_card_names_license_sources_and_filters(db, pairs, tmp_path):
    label(db, pairs, "ann", "q0", 1)
    export_dataset(db, "pairs", "dpo-jsonl", tmp_path / "p.jsonl", ExportFilters(sources=("human",)),
                   card=tmp_path / "README.md")
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    assert '`sources`: ["human"]' in card and "| human | 1 |" in card and "| rows in this export | 1 |" in card


def test_cli_export_writes_the_file_and_reports_counts(db, db_path, pandalm, tmp_path):
    db.close()
    out = tmp_path / "prefs.parquet"
    result = CliRunner().invoke(cli, ["--db", str(db_path), "export", "--project", "pandalm", "--format",
                                      "dpo-parquet", "--out", str(out), "--exclude-ties", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 894 and len(pd.read_parquet(out)) == 894
    bad = CliRunner().invoke(cli, ["--db", str(db_path), "export", "--project", "pandalm", "--format", "rubric-csv",
                                   "--out", str(tmp_path / "r.csv")])
    assert bad.exit_code == 1 and "needs a rubric project" in bad.output


def test_cli_filters_method_judge_and_card(db, db_path, pandalm, tmp_path):
    db.close()
    out, card = tmp_path / "hs2.csv", tmp_path / "card.md"
    result = CliRunner().invoke(cli, [
        "--db", str(db_path), "export", "-p", "pandalm", "--format", "helpsteer2-csv", "--out", str(out),
        "--since", "2000-01-01", "--annotator", "import:pandalm-annotator-1",
        "--annotator", "import:pandalm-annotator-2",
        "--method", "dawid-skene", "--judge", "pandalm-7b", "--source", "both", "--card", str(card)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == 999 and set(rows["source"]) == {"both"} and set(rows["judge"]) == {"pandalm-7b"}
    assert set(rows["preference_strength"]) <= {-2, 0, 2} and (rows["n_annotators"] == 2).all()
    text = card.read_text()
    assert '`annotators`: ["import:pandalm-annotator-1", "import:pandalm-annotator-2"]' in text
    assert "`fallback_judge`: \"pandalm-7b\"" in text and "`dawid-skene`" in text


def test_counts_table_says_how_many_rows_each_filter_removed(pandalm, db):
    from annotate.data.export import ExportFilters, build_export, counts_table
    result = build_export(db, "pandalm", "dpo", ExportFilters(min_agreement=0.5, exclude_ties=True,
                                                              exclude_both_bad=True))
    table = counts_table(result).set_index("step")
    steps = ["Minimum agreement filter", "Ties excluded", "'Both bad' pairs excluded"]
    assert table.loc[steps, "removed"].sum() == table.loc["Items (and aspects) with a final label", "rows"] - \
        table.loc["Rows exported", "rows"]
    assert table.loc["Ties excluded", "removed"] > 0
    assert table.loc[["Items in the project", "Rows exported"], "removed"].isna().all()


def test_gold_labels_never_join_the_human_votes_and_fill_items_no_human_labeled(db, tmp_path):
    rows = [{"id": "q0", "prompt": "P0", "response_a": "a0", "response_b": "b0", "alice": "A", "answer": "B"},
            {"id": "q1", "prompt": "P1", "response_a": "a1", "response_b": "b1", "answer": "B"},
            {"id": "q2", "prompt": "P2", "response_a": "a2", "response_b": "b2", "alice": "tie"}]
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, "bench", ProjectConfig(task_type="pairwise"))
    import_file(db, project, path, mapping=ColumnMapping.model_validate(
        {"human_labels": {"alice": "alice"}, "gold": "answer"}))
    final = build_export(db, "bench", "dpo").final.set_index("item_id")
    ids = dict(storage.cursor(db).execute("SELECT external_id, id FROM items").fetchall())
    q0, q1, q2 = (final.loc[ids[q]] for q in ("q0", "q1", "q2"))
    assert (q0["source"], q0["value"], q0["n_labels"]) == ("human", -1, 1)   # alice's A, not a 1-1 split
    assert (q1["source"], q1["value"], q1["n_labels"]) == ("gold", 1, 0)     # only the answer key
    assert (q2["source"], q2["value"]) == ("human", 0)
