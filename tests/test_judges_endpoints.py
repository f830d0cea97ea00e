"""Judge endpoints and templates are the operator's: researchers pick them by name, and the server
never sends a secret, a request or a file's existence anywhere else (issue 17 sections 1 and 5)."""
from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate import projects
from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.data.adapters import import_items
from annotate.errors import ConfigError
from annotate.judges import (JudgeConfig, get_run, list_judges, make_judge, mark_interrupted_runs,
                             parse_judge_config, register_judge, resume_run, run_judge)
from annotate.judges.base import PairwiseRequest
from annotate.judges.endpoints import CheckedBackend, check_addresses, checked_transport, get_endpoint, load_endpoints
from annotate.judges.templates import load_template, template_names
from annotate.labeling.annotators import add_annotator
from storage import judgments as judgment_store

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SECRET = "hf_s3cr3t-value-of-the-server"


class Capture:
    """An endpoint that answers every request with `status` and a body echoing the request's headers
    (what a hostile or careless server does), and records what it received."""

    def __init__(self, status: int = 400, reply: str | None = None) -> None:
        self.headers: list[dict] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                capture.headers.append(dict(self.headers))
                echoed = json.dumps(dict(self.headers)) + " " + "x" * 5000
                body = echoed if reply is None else json.dumps(
                    {"choices": [{"message": {"content": f"{reply} {echoed}"}}]})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def allow(tmp_path: Path, monkeypatch, *entries: dict) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"endpoints": list(entries)}), encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_ENDPOINTS", str(path))


@pytest.fixture
def pairs(db, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    rows = [{"id": f"p{i}", "prompt": f"question {i}", "response_a": f"first {i}", "response_b": f"second {i}"}
            for i in range(2)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_items(db, "pairs", path, task_type="pairwise")
    return projects.get_project(db, "pairs")


@pytest.fixture
def capture():
    server = Capture()
    yield server
    server.close()


def endpoint_judge(endpoint: str, **extra) -> JudgeConfig:
    return JudgeConfig(**({"name": "ep", "backend": "openai", "model": "m", "endpoint": endpoint, "max_retries": 0,
                           "backoff_s": 0.01, "timeout_s": 2.0, "concurrency": 1} | extra))


# ------------------------------------------------------------------------ the operator's list

@pytest.mark.parametrize("field", [{"base_url": "http://evil.example/v1"}, {"api_key_env": "HF_TOKEN"}])
def test_a_judge_config_cannot_carry_a_url_or_a_key_variable(field):
    with pytest.raises(ConfigError, match="operator binds URLs and API keys to named endpoints"):
        parse_judge_config({"name": "exfil", "backend": "openai", "model": "m", "endpoint": "x"} | field)


def test_an_endpoint_judge_must_name_an_endpoint_on_the_operators_list(db, pairs, tmp_path, monkeypatch):
    allow(tmp_path, monkeypatch, {"name": "local-vllm", "base_url": "http://127.0.0.1:8000/v1"})
    with pytest.raises(ConfigError, match="needs 'endpoint'"):
        parse_judge_config({"name": "j", "backend": "openai", "model": "m"})
    with pytest.raises(ConfigError, match=r"'elsewhere' is not on the operator's list .*local-vllm"):
        register_judge(db, endpoint_judge("elsewhere"), "pairwise")
    assert list_judges(db).empty


def test_without_an_endpoint_list_no_endpoint_judge_runs(db, pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATE_ENDPOINTS", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="none yet: the operator lists them"):
        run_judge(db, "pairs", endpoint_judge("anything"))


def test_secrets_go_only_to_the_endpoint_the_operator_bound_them_to(db, pairs, capture, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "aws-" + SECRET)
    allow(tmp_path, monkeypatch, {"name": "open", "base_url": capture.url})
    run_judge(db, "pairs", endpoint_judge("open"), limit=1)
    sent = json.dumps(capture.headers)
    assert capture.headers and SECRET not in sent and "Authorization" not in sent


def test_an_echoed_key_never_reaches_stored_text_and_errors_are_cut_short(db, pairs, capture, tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", SECRET)
    allow(tmp_path, monkeypatch, {"name": "keyed", "base_url": capture.url, "api_key_env": "VLLM_API_KEY"})
    report = run_judge(db, "pairs", endpoint_judge("keyed"), limit=1)
    assert capture.headers[0]["Authorization"] == f"Bearer {SECRET}"  # the bound endpoint does get its key
    stored = judgment_store.judgments_frame(storage.cursor(db), pairs.id)["raw_output"].tolist()
    run = get_run(db, report.run_id)
    for text in stored + [run["error"], run["common_error"]]:
        assert SECRET not in text and len(text) < 400
        assert "[redacted]" in text and "Authorization" in text  # the echo is there, the key is not


def test_an_echoed_key_in_a_reply_is_blanked_before_it_is_stored(db, pairs, tmp_path, monkeypatch):
    server = Capture(status=200, reply="[[A]]")
    try:
        monkeypatch.setenv("VLLM_API_KEY", SECRET)
        allow(tmp_path, monkeypatch, {"name": "keyed", "base_url": server.url, "api_key_env": "VLLM_API_KEY"})
        run_judge(db, "pairs", endpoint_judge("keyed"), limit=1)
    finally:
        server.close()
    stored = judgment_store.judgments_frame(storage.cursor(db), pairs.id)
    assert stored["is_parsed"].all() and not stored["raw_output"].str.contains(SECRET).any()


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.5", "127.0.0.1", "::1", "::ffff:192.168.1.1"])
def test_a_listed_name_that_resolves_inside_the_network_is_refused(tmp_path, monkeypatch, address):
    allow(tmp_path, monkeypatch, {"name": "public", "base_url": "https://api.example.org/v1"},
          {"name": "trusted", "base_url": "https://vllm.internal.example/v1", "allow_private": True})
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    fake_dns = [(family, socket.SOCK_STREAM, 6, "", (address, 0)), (socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                      ("93.184.216.34", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: fake_dns)  # DNS is the outside world
    with pytest.raises(ConfigError, match="api.example.org resolves to the internal address"):
        check_addresses(get_endpoint("public"))
    check_addresses(get_endpoint("trusted"))  # the operator allowed it


def test_a_public_address_and_a_listed_loopback_address_are_allowed(tmp_path, monkeypatch):
    allow(tmp_path, monkeypatch, {"name": "public", "base_url": "https://api.example.org/v1"},
          {"name": "local", "base_url": "http://127.0.0.1:8000/v1"})
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("93.184.216.34", 0))])
    check_addresses(get_endpoint("public"))
    check_addresses(get_endpoint("local"))


def test_a_name_that_resolves_inside_the_network_after_the_first_check_gets_no_request(tmp_path, monkeypatch):
    """DNS rebinding: the name is public when the judge is built, then points at the server's own
    network. Every connection checks the addresses again and goes to the one it checked, so the
    request never reaches the internal server and the verdict says why."""
    internal = Capture(status=200, reply="[[A]]")  # what an internal service would answer
    port = internal.server.server_address[1]
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))]])  # the first answer only
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: next(
        answers, [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]))
    allow(tmp_path, monkeypatch, {"name": "rebinding", "base_url": f"http://judge.example.org:{port}/v1"})
    try:
        judge = make_judge(endpoint_judge("rebinding"), load_template("mt-bench-pairwise"))  # checked: public
        verdict = judge.judge_pairwise([PairwiseRequest("q", "a", "b")])[0]
        judge.close()
    finally:
        internal.close()
    assert internal.headers == []  # nothing was sent to the internal address
    assert not verdict.is_parsed and "resolves to the internal address 127.0.0.1" in verdict.raw_output


def test_each_connection_goes_to_the_address_that_was_checked(tmp_path, monkeypatch):
    class Recorder:  # the network underneath: records where the connection was asked to go
        def __init__(self) -> None:
            self.hosts: list[str] = []

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            self.hosts.append(host)
    allow(tmp_path, monkeypatch, {"name": "public", "base_url": "https://api.example.org/v1"},
          {"name": "local", "base_url": "http://127.0.0.1:8000/v1"},
          {"name": "unicode", "base_url": "https://bücher.example/v1"})
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("93.184.216.34", 0))])
    network = Recorder()
    CheckedBackend(get_endpoint("public"), network).connect_tcp("api.example.org", 443)
    CheckedBackend(get_endpoint("public"), network).connect_tcp("proxy.corp", 3128)  # the operator's proxy
    CheckedBackend(get_endpoint("local"), network).connect_tcp("127.0.0.1", 8000)  # the operator's own address
    CheckedBackend(get_endpoint("unicode"), network).connect_tcp("xn--bcher-kva.example", 443)  # as httpx sends it
    assert network.hosts == ["93.184.216.34", "proxy.corp", "127.0.0.1", "93.184.216.34"]
    assert isinstance(checked_transport(get_endpoint("public"))._pool._network_backend, CheckedBackend)  # httpx's hook


def test_a_broken_endpoint_list_is_named_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "endpoints.json"
    monkeypatch.setenv("ANNOTATE_ENDPOINTS", str(path))
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"endpoints.json line 1: invalid JSON"):
        load_endpoints()
    path.write_text(json.dumps({"endpoints": [{"name": "x", "base_url": "ftp://host/v1"}]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"entry 1: field 'base_url'"):
        load_endpoints()


# ------------------------------------------------------------------------ templates by name

def test_a_template_is_named_never_a_path_and_the_answer_does_not_tell_whether_a_file_exists(tmp_path):
    existing = tmp_path / "real.json"
    existing.write_text(json.dumps(json.loads(load_template("mt-bench-pairwise").model_dump_json())))
    answers = []
    for template in (str(existing), str(tmp_path / "missing.json"), "/etc/passwd", "../../etc/hostname"):
        with pytest.raises(ConfigError) as error:
            parse_judge_config({"name": "j", "backend": "causal_lm", "model": "m", "template": template})
        answers.append(str(error.value))
    assert len(set(answers)) == 1 and "not by path" in answers[0] and str(tmp_path) not in answers[0]


def test_templates_come_from_the_shipped_set_or_the_operators_folder(tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    folder.mkdir()
    edited = json.loads(load_template("mt-bench-pairwise").model_dump_json()) | {"system": "Be strict."}
    (folder / "strict-pairwise.json").write_text(json.dumps(edited), encoding="utf-8")
    (folder / "broken.json").write_text(json.dumps({"name": "broken"}), encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_TEMPLATES", str(folder))
    assert template_names() == ["broken", "mt-bench-pairwise", "prometheus-rubric", "strict-pairwise"]
    assert template_names("pairwise") == ["mt-bench-pairwise", "strict-pairwise"]  # what the page offers
    config = parse_judge_config({"name": "j", "backend": "causal_lm", "model": "m", "template": "strict-pairwise"})
    assert config.load_template("pairwise").system == "Be strict."
    with pytest.raises(ConfigError) as error:
        load_template("broken")
    assert str(error.value).startswith("Template 'broken': field") and str(folder) not in str(error.value)
    with pytest.raises(ConfigError, match="No judge template 'nope'; available: broken, mt-bench-pairwise"):
        load_template("nope")


# ------------------------------------------------------------------------ runs that stop early

def test_runs_left_running_by_a_stopped_server_are_marked_interrupted_and_resume(db, pairs, tmp_path, monkeypatch):
    from test_judges_http import Stub
    stub = Stub()
    try:
        allow(tmp_path, monkeypatch, {"name": "stub", "base_url": stub.url})
        first = run_judge(db, "pairs", endpoint_judge("stub"), limit=1)
        storage.write(db, lambda cur: judgment_store.update_run(cur, first.run_id, status="running"))
        assert mark_interrupted_runs(db) == 1
        assert get_run(db, first.run_id)["status"] == "interrupted"
        resumed = resume_run(db, first.run_id)
        deadline = time.monotonic() + 30
        while get_run(db, resumed)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (get_run(db, resumed)["status"], get_run(db, resumed)["n_done"]) == ("done", 2)  # only the rest
    finally:
        stub.server.shutdown()
        stub.server.server_close()


# ------------------------------------------------------------------------ the Judges page

def researcher(db) -> AppTest:
    _, token = add_annotator(db, "res", "researcher")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["project"] = "pairs"
    at.query_params["token"] = token
    return at.run().switch_page("pages/judges.py").run()


def test_the_page_offers_endpoints_and_templates_by_name_and_no_url_or_variable_field(db, pairs, capture, tmp_path,
                                                                                       monkeypatch):
    allow(tmp_path, monkeypatch, {"name": "capture", "base_url": capture.url})
    at = researcher(db)
    assert {t.label for t in at.text_input} == {"Name", "Model"}
    endpoint = next(s for s in at.selectbox if s.label.startswith("Endpoint"))
    template = next(s for s in at.selectbox if s.label == "Prompt template")
    assert endpoint.options == ["capture"] and "mt-bench-pairwise" in template.options
    next(t for t in at.text_input if t.label == "Name").input("via-capture")
    next(t for t in at.text_input if t.label == "Model").input("m")
    next(s for s in at.selectbox if s.label == "Backend").set_value("openai")
    endpoint.set_value("capture")
    next(b for b in at.button if b.label == "Register").click()
    at.run()
    assert not at.exception and any("Judge 'via-capture' registered" in s.value for s in at.success)
    assert json.loads(list_judges(db)["config"][0])["endpoint"] == "capture"


def test_a_run_whose_requests_all_failed_is_failed_with_its_first_error_on_the_page(db, pairs, capture, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", SECRET)
    allow(tmp_path, monkeypatch, {"name": "keyed", "base_url": capture.url, "api_key_env": "VLLM_API_KEY"})
    run_judge(db, "pairs", endpoint_judge("keyed"))
    at = researcher(db)
    errors = [e.value for e in at.error]
    assert any(e.startswith("Run 1 (ep) failed: Every request failed (4). First error: HTTP 400") for e in errors)
    assert not any(SECRET in e or len(e) > 600 for e in errors)
    table = next(d.value for d in at.dataframe if "Problem" in d.value.columns)
    assert table["Status"].tolist() == ["failed"] and SECRET not in table.to_string()


def test_a_run_with_some_failures_shows_how_many_and_the_most_common_error(db, pairs, tmp_path, monkeypatch):
    from test_judges_http import Stub
    stub = Stub()
    stub.script = [("status", 400), ("status", 400), ("reply", "[[A]]", None)]
    try:
        allow(tmp_path, monkeypatch, {"name": "stub", "base_url": stub.url})
        report = run_judge(db, "pairs", endpoint_judge("stub"), batch_size=1)
    finally:
        stub.server.shutdown()
        stub.server.server_close()
    assert report.status == "done"
    at = researcher(db)
    assert any(w.value.startswith("Run 1 (ep) done: 2 of 4 requests failed; most common error (2 times): HTTP 400")
               for w in at.warning)


def test_judgment_counts_on_the_judges_page_agree_with_status_and_analysis(db, pandalm):
    judges = judgment_store.project_judges(storage.cursor(db), pandalm.id)
    overview = build_report(db, "pandalm", ReportFilters(n_boot=0)).overview
    assert dict(zip(judges["name"], judges["items"])) == overview["judge_verdicts"]
    assert judges["judgments"].sum() == projects.project_status(db, "pandalm")["judge_labels"]


def test_a_judge_stored_with_its_own_url_must_be_registered_again_with_an_endpoint(db, pairs):
    legacy = json.dumps({"name": "old", "backend": "openai", "model": "m", "base_url": "http://evil.example/v1",
                         "api_key_env": "HF_TOKEN"})
    judge_id = storage.write(db, lambda cur: judgment_store.get_or_create_judge(cur, "old", "openai", legacy,
                                                                                 "legacy-hash", None))
    from annotate.judges import judge_config
    with pytest.raises(ConfigError, match="Judge 'old' was registered with its own URL.*register it again"):
        judge_config(db, judge_id)


def test_an_interrupted_run_is_shown_as_such_and_resumed_from_the_page(db, pairs, tmp_path, monkeypatch):
    from test_judges_http import Stub
    stub = Stub()
    try:
        allow(tmp_path, monkeypatch, {"name": "stub", "base_url": stub.url})
        first = run_judge(db, "pairs", endpoint_judge("stub"), limit=1)
        storage.write(db, lambda cur: judgment_store.update_run(cur, first.run_id, status="running"))
        mark_interrupted_runs(db)
        at = researcher(db)
        assert any(w.value.startswith(f"Run {first.run_id} (ep) interrupted (server stopped): The server stopped")
                   for w in at.warning)
        next(b for b in at.button if b.label == "Resume").click()
        at.run()
        assert any(s.value.startswith(f"Run {first.run_id + 1} started where run {first.run_id} stopped")
                   for s in at.success)
        deadline = time.monotonic() + 30
        while get_run(db, first.run_id + 1)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get_run(db, first.run_id + 1)["n_done"] == 2  # only the item the first run had not reached
    finally:
        stub.server.shutdown()
        stub.server.server_close()
