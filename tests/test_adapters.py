"""MT-Bench and MultiPref adapters on small files in the published Hugging Face schemas."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import storage
from annotate.data.adapters import import_items
from annotate.errors import ImportDataError
from annotate.projects import get_project
from storage import judgments as judgment_store, labels as label_store


def conversation(question: str, answer: str, question2: str = "And then?", answer2: str = "Then this.") -> list:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer},
            {"role": "user", "content": question2}, {"role": "assistant", "content": answer2}]


def mtbench_row(judge: str, model_a: str, model_b: str, winner: str, turn: int = 1) -> dict:
    """A row of lmsys/mt_bench_human_judgments: conversations belong to model_a and model_b."""
    answers = {"gpt-4": "Paris.", "vicuna-13b": "Lyon, I think."}
    return {"question_id": 81, "model_a": model_a, "model_b": model_b, "winner": winner, "judge": judge,
            "turn": turn, "conversation_a": conversation("Capital of France?", answers[model_a]),
            "conversation_b": conversation("Capital of France?", answers[model_b])}


def test_mtbench_votes_in_either_model_order_land_on_one_canonical_item(db, tmp_path):
    rows = [mtbench_row("expert_0", "gpt-4", "vicuna-13b", "model_a"),
            mtbench_row("expert_1", "vicuna-13b", "gpt-4", "model_b"),          # same preference, swapped
            mtbench_row("author_2", "vicuna-13b", "gpt-4", "tie (bothbad)"),
            mtbench_row("gpt4_pair", "gpt-4", "vicuna-13b", "model_a")]
    path = tmp_path / "mt.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = import_items(db, "mt", path, adapter="mtbench")
    assert (report.items, report.label_events, report.judgments) == (1, 3, 1)
    cur = storage.cursor(db)
    project = get_project(db, "mt")
    labels = label_store.current_label_values(cur, project.id).set_index("annotator")
    # canonical A is gpt-4 (models sorted): both experts prefer gpt-4, i.e. A (negative)
    assert labels.loc["import:expert_0", "value"] == -1 and labels.loc["import:expert_1", "value"] == -1
    assert labels.loc["import:author_2", "value"] == 0 and bool(labels.loc["import:author_2", "both_bad"])
    judgments = judgment_store.judgments_frame(cur, project.id)
    assert judgments[["judge", "verdict"]].values.tolist() == [["gpt4_pair", "A"]]


def test_mtbench_second_turn_keeps_the_first_turn_as_context(db, tmp_path):
    path = tmp_path / "mt.parquet"
    frame = pd.DataFrame([mtbench_row("expert_0", "gpt-4", "vicuna-13b", "tie", turn=2)])
    frame[["conversation_a", "conversation_b"]] = frame[["conversation_a", "conversation_b"]].map(json.dumps)
    frame.to_parquet(path)
    import_items(db, "mt", path, adapter="mtbench")
    cur = storage.cursor(db)
    item = cur.execute("SELECT prompt, context FROM items").fetchone()
    assert item[0] == "And then?" and item[1].startswith("User: Capital of France?\n\nAssistant: Paris.")


def test_mtbench_unknown_winner_names_the_row_and_field(db, tmp_path):
    path = tmp_path / "mt.jsonl"
    path.write_text(json.dumps(mtbench_row("expert_0", "gpt-4", "vicuna-13b", "model_c")) + "\n")
    with pytest.raises(ImportDataError, match=r"mt\.jsonl line 1, field 'winner': expected one of"):
        import_items(db, "mt", path, adapter="mtbench")


def multipref_row(comparison_id: str, prefs: list[str]) -> dict:
    return {"comparison_id": comparison_id, "prompt_id": "p1", "text": "How do I boil an egg?",
            "model_a": "tulu-2-70b", "completion_a": "Boil water, add the egg, wait 9 minutes.",
            "model_b": "gpt-3.5", "completion_b": "Put it in the microwave.", "source": "anthropic_helpful",
            "category": "Open QA", "subject_study": "Cooking",
            "normal_worker_annotations": [
                {"evaluator": f"w{n}", "overall_pref": p, "helpful_pref": p, "truthful_pref": "Tie",
                 "harmless_pref": "Tie", "overall_confidence": "fairly-confident", "time_spent": 120}
                for n, p in enumerate(prefs)],
            "expert_worker_annotations": []}


def test_multipref_keeps_the_five_point_strength_and_every_aspect(db, tmp_path):
    path = tmp_path / "mp.jsonl"
    path.write_text(json.dumps(multipref_row("c1", ["A-is-clearly-better", "B-is-slightly-better"])) + "\n")
    report = import_items(db, "mp", path, adapter="multipref")
    assert (report.items, report.label_events) == (1, 2)
    project = get_project(db, "mp")
    assert [a.name for a in project.config.aspects] == ["helpfulness", "truthfulness", "harmlessness"]
    labels = label_store.current_label_values(storage.cursor(db), project.id)
    overall = labels[labels["aspect"] == "overall"].set_index("annotator")["value"].to_dict()
    assert overall == {"import:w0": -2.0, "import:w1": 1.0}
    assert set(labels["confidence"]) == {4} and set(labels["seconds"]) == {120.0}
    assert len(labels) == 8


def test_multipref_unknown_preference_is_refused_with_its_place(db, tmp_path):
    path = tmp_path / "mp.jsonl"
    path.write_text(json.dumps(multipref_row("c1", ["A-is-better-ish"])) + "\n")
    with pytest.raises(ImportDataError, match=r"mp\.jsonl line 1, field 'normal_worker_annotations\.overall_pref'"):
        import_items(db, "mp", path, adapter="multipref")


def test_hf_dataset_offline_gives_a_clear_error(db):
    with pytest.raises(ImportDataError, match="Cannot load Hugging Face dataset 'allenai/multipref'"):
        import_items(db, "mp", hf_dataset="allenai/multipref", adapter="multipref")
