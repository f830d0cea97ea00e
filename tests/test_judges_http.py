"""The OpenAI-compatible backend against a stub chat-completions server on 127.0.0.1, scripted per test."""
from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

import storage
from storage.judgments import judgments_frame
from annotate.config import Criterion, ProjectConfig
from annotate.errors import ConfigError
from annotate.data.importers import ColumnMapping, import_file
from annotate.judges import JudgeConfig, get_run, run_judge
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends


class Stub:
    """A scripted chat-completions server: each request takes the next action of the script (the
    last one repeats). Actions: ("reply", text, logprobs | None), ("status", code), ("sleep", s),
    ("raw", body)."""

    def __init__(self) -> None:
        self.script: list[tuple] = [("reply", "[[A]]", None)]
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append(body)
                    stub.headers.append(dict(self.headers))
                    action = stub.script.pop(0) if len(stub.script) > 1 else stub.script[0]
                try:
                    self.answer(action)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up

            def answer(self, action: tuple) -> None:
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    return self.send(200, json.dumps(completion("[[A]]", None)))
                if kind == "status":
                    return self.send(action[1], json.dumps({"error": {"message": "stub error"}}))
                if kind == "raw":
                    return self.send(200, action[1])
                return self.send(200, json.dumps(completion(action[1], action[2])))

            def send(self, code: int, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def completion(text: str, logprobs: list[dict] | None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return {"id": "x", "object": "chat.completion", "choices": [choice],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


def tokens(*parts: str, top: dict[int, dict[str, float]] | None = None) -> list[dict]:
    """Logprobs content for a reply split into `parts`; `top` gives part index -> {token: prob}."""
    top = top or {}
    return [{"token": p, "logprob": math.log(max(top.get(i, {p: 1.0}).get(p, 0.5), 1e-9)),
             "top_logprobs": [{"token": t, "logprob": math.log(q)} for t, q in top.get(i, {p: 1.0}).items()]}
            for i, p in enumerate(parts)]


def register_endpoints(path, monkeypatch, **urls: str) -> None:
    """Write the operator's endpoint list (name -> URL; the stub's key variable is STUB_API_KEY)."""
    entries = [{"name": name, "base_url": url, "api_key_env": "STUB_API_KEY" if name == "keyed" else None}
               for name, url in urls.items()]
    path.write_text(json.dumps({"endpoints": entries}), encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_ENDPOINTS", str(path))


@pytest.fixture
def stub(tmp_path, monkeypatch):
    server = Stub()
    register_endpoints(tmp_path / "endpoints.json", monkeypatch, stub=server.url, keyed=server.url,
                       down="http://127.0.0.1:9/v1")
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def pairs(db, tmp_path):
    project = create_project(db, "pairs", ProjectConfig(task_type="pairwise"))
    rows = [{"id": f"p{i}", "prompt": f"question {i}", "response_a": f"first {i}", "response_b": f"second {i}"}
            for i in range(2)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_file(db, project, path)
    return project


def config(stub: Stub, **extra) -> JudgeConfig:
    settings = {"name": "stub", "backend": "openai", "model": "stub-model", "endpoint": "stub",
                "timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01, "concurrency": 2} | extra
    return JudgeConfig(**settings)


def stored(db, project):
    frame = judgments_frame(storage.cursor(db), project.id)
    return frame.sort_values(["item_id", "presented_order"]).reset_index(drop=True)


def test_logprobs_give_verdict_probabilities_stored_canonically_in_both_orders(db, pairs, stub):
    stub.script = [("reply", "A is more precise. [[A]]",
                    tokens("A is more precise. ", "[[", "A", "]]", top={2: {"A": 0.7, " C": 0.1, "B": 0.2}}))]
    report = run_judge(db, "pairs", config(stub, cost_per_1k_prompt_tokens=1.0, cost_per_1k_completion_tokens=2.0))
    rows = stored(db, pairs)
    assert (report.status, report.n_done, report.n_unparsed) == ("done", 4, 0)
    ab, ba = rows.iloc[0], rows.iloc[1]
    assert (ab["presented_order"], ab["verdict"], ba["presented_order"], ba["verdict"]) == ("AB", "A", "BA", "B")
    assert list(ab["probs"]) == pytest.approx([0.7, 0.1, 0.2])
    assert list(ba["probs"]) == pytest.approx([0.2, 0.1, 0.7])  # un-swapped: the judge preferred response 1
    assert ab["rationale"] == "A is more precise." and ab["raw_output"] == "A is more precise. [[A]]"
    assert (ab["prompt_tokens"], ab["completion_tokens"]) == (100, 20)
    assert ab["cost"] == pytest.approx((100 * 1.0 + 20 * 2.0) / 1000)
    assert stub.requests[0]["logprobs"] is True and stub.requests[0]["top_logprobs"] == 10


def test_reply_without_logprobs_is_parsed_and_has_no_probabilities(db, pairs, stub):
    stub.script = [("reply", "Explanation first. [[C]]", None)]
    run_judge(db, "pairs", config(stub, top_logprobs=0))
    rows = stored(db, pairs)
    assert rows["verdict"].tolist() == ["tie"] * 4 and rows["is_parsed"].all()
    assert rows["probs"].isna().all()
    assert "logprobs" not in stub.requests[0]


def test_both_orders_are_asked_with_the_responses_swapped(db, pairs, stub):
    run_judge(db, "pairs", config(stub, concurrency=1))
    shown = [r["messages"][-1]["content"] for r in stub.requests]
    first_a = [s.index("first 0") < s.index("second 0") for s in shown if "question 0" in s]
    assert sorted(first_a) == [False, True]


def test_rate_limit_then_success_is_retried(db, pairs, stub):
    stub.script = [("status", 429), ("status", 429), ("reply", "[[B]]", None)]
    report = run_judge(db, "pairs", config(stub, concurrency=1), limit=1, batch_size=1)
    rows = stored(db, pairs)
    assert (report.n_errors, rows["verdict"].tolist()) == (0, ["B", "A"])
    assert len(stub.requests) == 4  # two refusals, then one answer per order


def test_server_errors_after_retries_are_stored_unparsed_and_the_run_fails_with_the_first_error(db, pairs, stub):
    stub.script = [("status", 500)]
    report = run_judge(db, "pairs", config(stub))
    rows = stored(db, pairs)
    assert (report.status, report.n_done, report.n_unparsed, report.n_errors) == ("failed", 4, 4, 4)
    run = get_run(db, report.run_id)
    assert run["error"].startswith("Every request failed (4). First error: HTTP 500")
    assert "after 3 attempts" in run["error"] and run["common_error_count"] == 4
    assert not rows["is_parsed"].any() and rows["verdict"].isna().all()
    assert all("HTTP 500" in r and "after 3 attempts" in r for r in rows["raw_output"])
    assert len(stub.requests) == 4 * 3


def test_timeouts_are_retried_then_stored_unparsed(db, pairs, stub):
    stub.script = [("sleep", 1.0)]
    report = run_judge(db, "pairs", config(stub, timeout_s=0.3, max_retries=1, concurrency=4), limit=1)
    rows = stored(db, pairs)
    assert (report.status, report.n_errors) == ("failed", 2)
    assert all(r.startswith("error: timed out after 0.3 s") for r in rows["raw_output"])


def test_malformed_json_is_retried(db, pairs, stub):
    stub.script = [("raw", "{not json"), ("raw", json.dumps({"choices": []})), ("reply", "[[A]]", None)]
    run_judge(db, "pairs", config(stub, concurrency=1), limit=1)
    rows = stored(db, pairs)
    assert rows["is_parsed"].all() and len(stub.requests) == 4


def test_malformed_json_every_time_is_stored_unparsed(db, pairs, stub):
    stub.script = [("raw", "{not json")]
    report = run_judge(db, "pairs", config(stub, max_retries=1), limit=1)
    assert report.n_errors == 2
    assert all("malformed reply" in r for r in stored(db, pairs)["raw_output"])


def test_verdict_outside_the_allowed_set_is_stored_unparsed_with_its_text(db, pairs, stub):
    stub.script = [("reply", "Both fail. [[D]]", None)]
    report = run_judge(db, "pairs", config(stub), limit=1)
    rows = stored(db, pairs)
    assert (report.n_unparsed, report.n_errors) == (2, 0)
    assert rows["verdict"].isna().all() and rows["raw_output"].tolist() == ["Both fail. [[D]]"] * 2


def test_unparseable_verdict_is_asked_again_when_configured(db, pairs, stub):
    stub.script = [("reply", "[[D]]", None), ("reply", "[[B]]", None)]
    report = run_judge(db, "pairs", config(stub, concurrency=1, max_parse_retries=1), limit=1, batch_size=1)
    assert report.n_unparsed == 0 and len(stub.requests) == 3


def test_client_errors_are_not_retried(db, pairs, stub):
    stub.script = [("status", 400)]
    run_judge(db, "pairs", config(stub), limit=1)
    rows = stored(db, pairs)
    assert len(stub.requests) == 2 and all("HTTP 400" in r for r in rows["raw_output"])


def test_api_key_comes_from_the_variable_the_operator_bound_to_the_endpoint(db, pairs, stub, monkeypatch):
    monkeypatch.setenv("STUB_API_KEY", "sk-test")
    run_judge(db, "pairs", config(stub, endpoint="keyed"), limit=1)
    assert stub.headers[0]["Authorization"] == "Bearer sk-test"
    run_judge(db, "pairs", config(stub, name="no-key"), limit=1)
    assert "Authorization" not in stub.headers[-1]
    monkeypatch.delenv("STUB_API_KEY")
    with pytest.raises(ConfigError, match="STUB_API_KEY"):
        run_judge(db, "pairs", config(stub, endpoint="keyed", name="other"), limit=1)


def test_unreachable_server_is_stored_unparsed_and_the_run_fails_saying_why(db, pairs, stub):
    report = run_judge(db, "pairs", config(stub, endpoint="down", name="down", max_retries=1, timeout_s=0.5),
                       limit=1)
    assert (report.status, report.n_errors) == ("failed", 2)
    assert "connection failed" in get_run(db, report.run_id)["error"]


def test_some_failed_requests_keep_the_run_done_with_the_most_common_error(db, pairs, stub):
    stub.script = [("status", 400), ("reply", "[[A]]", None), ("reply", "[[A]]", None), ("reply", "[[A]]", None)]
    report = run_judge(db, "pairs", config(stub, concurrency=1), batch_size=1)
    run = get_run(db, report.run_id)
    assert (report.status, report.n_errors, run["error"]) == ("done", 1, None)
    assert run["common_error"].startswith("HTTP 400") and run["common_error_count"] == 1


def test_rubric_scores_get_a_distribution_over_the_scale(db, stub, tmp_path):
    criteria = [Criterion(name="correctness", scores={1: "wrong", 2: "partly", 3: "right"})]
    project = create_project(db, "grades", ProjectConfig(task_type="rubric", criteria=criteria))
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"id": "g1", "prompt": "2+2?", "response": "4", "ref": "4"}) + "\n", encoding="utf-8")
    import_file(db, project, path, mapping=ColumnMapping(responses=["response"], reference="ref"))
    stub.script = [("reply", "Feedback: correct. [RESULT] 3",
                    tokens("Feedback: correct. ", "[RESULT]", " 3", top={2: {" 3": 0.6, "3": 0.2, " 2": 0.2}}))]
    run_judge(db, "grades", config(stub))
    row = stored(db, project).iloc[0]
    assert (row["aspect"], row["response_idx"], row["verdict"]) == ("correctness", 0, "3")
    assert list(row["probs"]) == pytest.approx([0.0, 0.2, 0.8])
    assert row["score"] == pytest.approx(2 * 0.2 + 3 * 0.8)
    prompt = stub.requests[0]["messages"][-1]["content"]
    assert "###Reference Answer (Score 3):\n4" in prompt and "Score 2: partly" in prompt


def test_a_score_split_over_two_tokens_keeps_its_parsed_value_and_no_distribution(db, stub, tmp_path):
    criteria = [Criterion(name="quality", scores={s: f"level {s}" for s in range(1, 11)})]
    project = create_project(db, "tens", ProjectConfig(task_type="rubric", criteria=criteria))
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "t1", "prompt": "Rate", "response": "Great"}) + "\n", encoding="utf-8")
    import_file(db, project, path, mapping=ColumnMapping(responses=["response"]))
    stub.script = [("reply", "Feedback: great. [RESULT] 10",
                    tokens("Feedback: great. ", "[RESULT]", " 1", "0", top={2: {" 1": 0.9, " 2": 0.1}}))]
    run_judge(db, "tens", config(stub))
    row = stored(db, project).iloc[0]
    assert (row["verdict"], row["score"]) == ("10", 10.0)
    assert row["probs"] is None or row["probs"] is pd.NA  # no distribution made up from the "1"
