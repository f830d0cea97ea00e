"""Local transformers judges end to end: tiny models built here, saved, reloaded offline, run into the store."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import storage
from storage.judgments import judgments_frame
from annotate.cli import cli
from annotate.config import Criterion, ProjectConfig
from annotate.errors import ConfigError
from annotate.data.importers import ColumnMapping, import_file
from annotate.judges import JudgeConfig, cancel_run, get_run, list_judges, run_judge, start_background_run
from annotate.judges.hf import chat_text
from annotate.judges.runs import create_run, execute_run
from annotate.judges.reward_model import tie_band_probs
from annotate.judges.templates import load_template
from annotate.judges.tiny import build_tiny_models
from annotate.projects import create_project
from annotate.analysis.verdicts import combined_verdicts

pytestmark = pytest.mark.both_backends

os.environ["HF_HUB_OFFLINE"] = "1"
PAIRS = [{"id": f"p{i}", "prompt": f"What is {i} plus {i}?", "response_a": f"The answer is {2 * i}.",
          "response_b": f"It is {2 * i + 1}, I think."} for i in range(6)]
CRITERIA = [Criterion(name="correctness", scores={1: "wrong", 2: "partly right", 3: "right"}),
            Criterion(name="clarity", scores={0: "unclear", 1: "clear"})]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    texts = [" ".join(p.values()) for p in PAIRS]
    return build_tiny_models(tmp_path_factory.mktemp("tiny"), texts=texts)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def pairwise(db, tmp_path):
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise"))
    import_file(db, project, write_jsonl(tmp_path / "pairs.jsonl", PAIRS))
    return project


@pytest.fixture
def rubric(db, tmp_path):
    project = create_project(db, "grades", ProjectConfig(task_type="rubric", criteria=CRITERIA))
    rows = [{"id": p["id"], "prompt": p["prompt"], "r0": p["response_a"], "r1": p["response_b"]} for p in PAIRS[:3]]
    import_file(db, project, write_jsonl(tmp_path / "grades.jsonl", rows), mapping=ColumnMapping(responses=["r0", "r1"]))
    return project


def stored(db, project) -> pd.DataFrame:
    frame = judgments_frame(storage.cursor(db), project.id)
    return frame[frame["source"] == "run"].reset_index(drop=True)


def rm_config(tiny, **extra) -> JudgeConfig:
    return JudgeConfig(name="tiny-rm", backend="reward_model", model=str(tiny["reward_model"]), device="cpu", **extra)


def lm_config(tiny, **extra) -> JudgeConfig:
    return JudgeConfig(name="tiny-lm", backend="causal_lm", model=str(tiny["causal_lm"]), device="cpu", **extra)


def test_reward_model_stores_both_orders_with_rao_kupper_probabilities(db, pairwise, tiny):
    report = run_judge(db, "pairs", rm_config(tiny, tie_band=0.5), batch_size=4)
    rows = stored(db, pairwise)
    assert (report.status, report.n_done, len(rows)) == ("done", 12, 12)
    assert sorted(rows.groupby("item_id")["presented_order"].apply(sorted).map(tuple)) == [("AB", "BA")] * 6
    for row in rows.itertuples():
        assert sum(row.probs) == pytest.approx(1.0)
        rewards = [float(part.split("=")[1]) for part in row.raw_output.split()]
        first, second = rewards if row.presented_order == "AB" else rewards[::-1]
        assert list(row.probs) == pytest.approx(tie_band_probs(first, second, 0.5))
    combined = combined_verdicts(rows)
    assert not combined["is_inconsistent"].any()  # rewards do not depend on the order shown


def test_causal_lm_pairwise_probs_are_the_next_token_distribution_over_verdict_tokens(db, pairwise, tiny):
    run_judge(db, "pairs", lm_config(tiny, mode="logits"), batch_size=5)
    rows = stored(db, pairwise)
    assert len(rows) == 12 and rows["is_parsed"].all()
    assert all(sum(p) == pytest.approx(1.0) for p in rows["probs"])
    # recompute one judgment without batching or padding: the pipeline must give the same numbers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tiny["causal_lm"])
    model = AutoModelForCausalLM.from_pretrained(tiny["causal_lm"]).eval()
    template = load_template("mt-bench-pairwise")
    pair = PAIRS[2]
    messages = template.pairwise_messages(pair["prompt"], pair["response_b"], pair["response_a"], None, None)
    ids = tokenizer(chat_text(tokenizer, messages, True) + "[[", add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**ids).logits[0, -1]
    choice = [tokenizer.convert_tokens_to_ids(t) for t in ("A", "C", "B")]
    expected = torch.softmax(logits[choice], dim=0).tolist()  # presented B/A: A is response 1
    row = rows[(rows["external_id"] == "p2") & (rows["presented_order"] == "BA")].iloc[0]
    assert list(row["probs"]) == pytest.approx(expected[::-1], abs=1e-4)  # stored canonically
    assert row["verdict"] == ("A", "tie", "B")[max(range(3), key=lambda k: row["probs"][k])]


def test_causal_lm_grades_every_response_on_every_criterion(db, rubric, tiny):
    report = run_judge(db, "grades", lm_config(tiny), batch_size=4)
    rows = stored(db, rubric)
    assert report.n_done == len(rows) == 3 * 2 * 2
    assert set(zip(rows["response_idx"], rows["aspect"])) == {(i, c.name) for i in (0, 1) for c in CRITERIA}
    for row in rows.itertuples():
        scale = list(next(c for c in CRITERIA if c.name == row.aspect).scores)
        assert len(row.probs) == len(scale) and sum(row.probs) == pytest.approx(1.0)
        assert row.score == pytest.approx(sum(s * p for s, p in zip(scale, row.probs)))
        assert row.verdict == str(scale[max(range(len(scale)), key=lambda k: row.probs[k])])
        assert row.presented_order is None


def test_generate_mode_stores_every_reply_and_keeps_unparseable_text(db, pairwise, tiny):
    report = run_judge(db, "pairs", lm_config(tiny, mode="generate", max_new_tokens=4), batch_size=6, limit=2)
    rows = stored(db, pairwise)
    assert len(rows) == report.n_done == 4
    assert report.n_unparsed == int((~rows["is_parsed"]).sum())
    for row in rows.itertuples():
        assert row.raw_output is not None and row.completion_tokens >= 1
        assert (row.verdict is None) == (not row.is_parsed)
        assert row.probs is None or row.probs is pd.NA  # generated text carries no distribution


def test_run_interrupted_by_limit_resumes_with_only_the_rest(db, pairwise, tiny):
    first = run_judge(db, "pairs", rm_config(tiny), batch_size=3, limit=2)
    second = run_judge(db, "pairs", rm_config(tiny), batch_size=3)
    third = run_judge(db, "pairs", rm_config(tiny), batch_size=3)
    rows = stored(db, pairwise)
    assert (first.n_done, second.n_total, third.n_total) == (4, 8, 0)
    assert first.judge_id == second.judge_id
    assert not rows.duplicated(["item_id", "presented_order"]).any() and len(rows) == 12


def test_cancelled_run_stops_after_the_batch_and_a_rerun_finishes(db, pairwise, tiny):
    cancel = threading.Event()
    report = run_judge(db, "pairs", lm_config(tiny), batch_size=4, cancel=cancel,
                       progress=lambda done, total: cancel.set() if done >= 4 else None)
    assert (report.status, report.n_done, report.n_total) == ("cancelled", 4, 12)
    assert get_run(db, report.run_id)["status"] == "cancelled"
    rest = run_judge(db, "pairs", lm_config(tiny), batch_size=4)
    assert (rest.status, rest.n_total) == ("done", 8)
    assert len(stored(db, pairwise)) == 12


def test_background_run_finishes_and_records_its_progress(db, pairwise, tiny):
    run_id = start_background_run(db, "pairs", rm_config(tiny), batch_size=2)
    run = wait_for(db, run_id)
    assert (run["status"], run["n_done"], run["n_total"], run["finished_at"] is not None) == ("done", 12, 12, True)


def test_cancel_requested_in_the_store_stops_a_run_before_its_next_batch(db, pairwise, tiny):
    run_id = create_run(db, "pairs", rm_config(tiny), batch_size=2)
    cancel_run(db, run_id)
    report = execute_run(db, run_id, rm_config(tiny))
    assert (report.status, report.n_done, report.n_total) == ("cancelled", 0, 12)
    assert stored(db, pairwise).empty


def test_background_run_records_a_model_that_cannot_load(db, pairwise, tmp_path):
    config = JudgeConfig(name="missing", backend="reward_model", model=str(tmp_path / "no-such-model"))
    run = wait_for(db, start_background_run(db, "pairs", config))
    assert run["status"] == "failed" and "cannot load model" in run["error"]


def wait_for(db, run_id: int, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while (run := get_run(db, run_id))["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    return run


def test_edited_template_is_a_new_judge_that_judges_everything_again(db, pairwise, tiny, tmp_path, monkeypatch):
    first = run_judge(db, "pairs", lm_config(tiny), limit=1)
    template = json.loads(load_template("mt-bench-pairwise").model_dump_json())
    template["system"] += " Be brief."
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "brief-pairwise.json").write_text(json.dumps(template), encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_TEMPLATES", str(tmp_path / "templates"))  # the operator's template folder
    second = run_judge(db, "pairs", lm_config(tiny, template="brief-pairwise"), limit=1)
    judges = list_judges(db, "pairs").set_index("id")
    assert first.judge_id != second.judge_id and second.n_done == 2
    assert judges.loc[first.judge_id, "template_hash"] != judges.loc[second.judge_id, "template_hash"]
    name = judges.loc[first.judge_id, "name"]
    assert judges.loc[second.judge_id, "name"] == f"{name} v2"  # reports and the router tell them apart


def test_reward_model_refuses_a_rubric_project(db, rubric, tiny):
    with pytest.raises(ConfigError, match="cannot grade rubric"):
        run_judge(db, "grades", rm_config(tiny))


def test_cli_runs_a_judge_and_lists_it_beside_imported_judges(db_path, pandalm_dir, tiny, tmp_path):
    config = tmp_path / "judge.json"
    config.write_text(json.dumps({"name": "tiny-rm", "backend": "reward_model", "model": str(tiny["reward_model"]),
                                  "device": "cpu"}), encoding="utf-8")
    runner = CliRunner()
    base = ["--db", str(db_path)]
    assert runner.invoke(cli, base + ["import", str(pandalm_dir), "-p", "pandalm", "--adapter", "pandalm"]).exit_code == 0
    result = runner.invoke(cli, base + ["judge", "run", "-p", "pandalm", "--judge", str(config), "--limit", "3",
                                        "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "Run 1 (done): 6 of 6 judgments stored, 0 unparsed" in result.output
    listed = runner.invoke(cli, base + ["judge", "list", "-p", "pandalm", "--json"])
    judges = {j["name"]: j for j in json.loads(listed.output)}
    assert judges["tiny-rm"]["judgments"] == 6 and judges["tiny-rm"]["runs"] == 1
    assert judges["gpt-3.5-turbo"]["backend"] == "external" and judges["pandalm-7b"]["items"] == 999
    missing = runner.invoke(cli, base + ["judge", "run", "-p", "nope", "--judge", str(config)])
    assert missing.exit_code == 1 and "No project 'nope'" in missing.output
