"""Judge parts tested alone: templates, configs and their hashes, parsing, probabilities."""
from __future__ import annotations

import json
import math

import pytest

from annotate.config import Criterion
from annotate.errors import ConfigError
from annotate.judges.base import Verdict, normalise, rubric_verdict
from annotate.judges.config import JudgeConfig, parse_judge_config
from annotate.judges.parsing import choice_probs, parse_pairwise, parse_score, rationale_before, token_at
from annotate.judges.reward_model import sigmoid, tie_band_probs
from annotate.judges.templates import load_template, shipped_templates

PAIRWISE = load_template("mt-bench-pairwise")
RUBRIC = load_template("prometheus-rubric")
CRITERION = Criterion(name="helpfulness", description="Is it helpful?", scores={1: "no", 2: "somewhat", 3: "yes"})


def test_shipped_templates_declare_their_format_and_verdicts():
    assert shipped_templates() == ["mt-bench-pairwise", "prometheus-rubric"]
    assert PAIRWISE.verdicts == {"A": "A", "tie": "C", "B": "B"} and PAIRWISE.answer_prefix == "[["
    assert RUBRIC.task_type == "rubric" and "[RESULT]" in RUBRIC.output_format


def test_pairwise_prompt_shows_first_as_a_and_adds_context_only_when_present():
    plain = PAIRWISE.pairwise_messages("Q?", "one", "two", None, None)
    assert plain[0]["role"] == "system" and "[[C]]\" for a tie" in plain[0]["content"]
    assert "[User Question]\nQ?" in plain[1]["content"] and "Conversation so far" not in plain[1]["content"]
    assert plain[1]["content"].index("one") < plain[1]["content"].index("two")
    with_context = PAIRWISE.pairwise_messages("Q?", "one", "two", "earlier turn {braces}", None)
    assert "[Conversation so far]\nearlier turn {braces}" in with_context[1]["content"]


def test_rubric_prompt_lists_the_criterion_scale_and_the_optional_reference():
    text = RUBRIC.rubric_messages("Q?", "answer", CRITERION, None, "gold")[1]["content"]
    assert "[helpfulness: Is it helpful?]\nScore 1: no\nScore 2: somewhat\nScore 3: yes" in text
    assert "between 1 and 3" in text and "###Reference Answer (Score 3):\ngold" in text
    without = RUBRIC.rubric_messages("Q?", "answer", CRITERION, None, None)[1]["content"]
    assert "Reference Answer" not in without and "reference answer" not in without


def test_invalid_templates_are_refused_naming_the_problem(tmp_path, monkeypatch):
    data = json.loads(PAIRWISE.model_dump_json())
    monkeypatch.setenv("ANNOTATE_TEMPLATES", str(tmp_path))
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data | {"user": "{prompt} {answer}"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"Template 't': .*unknown placeholders \['answer'\]"):
        load_template("t")
    path.write_text(json.dumps(data | {"verdicts": {"A": "A", "B": "B"}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="'A', 'tie' and 'B'"):
        load_template("t")
    with pytest.raises(ConfigError, match="No judge template 'nope'"):
        load_template("nope")


def test_config_hash_follows_content_and_template_but_not_runtime_settings():
    base = JudgeConfig(name="j", backend="openai", model="m", endpoint="local")
    assert base.content_hash(PAIRWISE) == base.model_copy(update={"timeout_s": 5, "concurrency": 9}).content_hash(PAIRWISE)
    assert base.content_hash(PAIRWISE) != base.model_copy(update={"temperature": 0.7}).content_hash(PAIRWISE)
    edited = PAIRWISE.model_copy(update={"system": PAIRWISE.system + " Be brief."})
    assert base.content_hash(PAIRWISE) != base.content_hash(edited) and PAIRWISE.hash != edited.hash


def test_template_for_the_wrong_task_type_is_refused():
    config = JudgeConfig(name="j", backend="causal_lm", model="m", template="prometheus-rubric")
    with pytest.raises(ConfigError, match="for rubric projects, not pairwise"):
        config.load_template("pairwise")


def test_judge_config_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "judge.json"
    path.write_text(json.dumps({"name": "x", "backend": "gpt"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"judge.json: field 'backend'"):
        parse_judge_config(path)
    path.write_text(json.dumps({"name": "x", "backend": "causal_lm"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="needs 'model'"):
        parse_judge_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        parse_judge_config(tmp_path / "missing.json")


def test_last_verdict_in_the_text_counts_and_unknown_tokens_do_not_parse():
    text = 'The format is "[[A]]" or "[[B]]". Having compared them: [[C]]'
    verdict, match = parse_pairwise(text, PAIRWISE)
    assert verdict == "tie" and rationale_before(text, match).endswith("Having compared them:")
    assert parse_pairwise("Neither. [[D]]", PAIRWISE)[0] is None
    assert parse_pairwise("no verdict here", PAIRWISE) == (None, None)


def test_scores_off_the_scale_do_not_parse():
    assert parse_score("Feedback: good. [RESULT] 3", RUBRIC, CRITERION)[0] == 3
    assert parse_score("[RESULT] (2)", RUBRIC, CRITERION)[0] == 2
    assert parse_score("Feedback: good. [RESULT] 7", RUBRIC, CRITERION)[0] is None
    assert parse_score("Feedback only", RUBRIC, CRITERION) == (None, None)


def test_choice_probabilities_merge_whitespace_variants_and_renormalise():
    entry = {"token": " A", "logprob": math.log(0.5),
             "top_logprobs": [{"token": " A", "logprob": math.log(0.5)}, {"token": "A", "logprob": math.log(0.1)},
                              {"token": "B", "logprob": math.log(0.2)}, {"token": "Hmm", "logprob": math.log(0.2)}]}
    assert choice_probs(entry, ["A", "C", "B"]) == pytest.approx([0.75, 0.0, 0.25])
    assert choice_probs({"token": "[[A", "logprob": 0.0, "top_logprobs": []}, ["A", "C", "B"]) is None


def test_token_at_finds_the_token_covering_a_character():
    parts = [{"token": "ab"}, {"token": "[["}, {"token": "A"}]
    assert token_at(parts, 4)["token"] == "A" and token_at(parts, 1)["token"] == "ab" and token_at(parts, 9) is None


def test_tie_band_probabilities_follow_rao_kupper():
    assert tie_band_probs(2.0, 1.0, 0.0) == pytest.approx([sigmoid(1.0), 0.0, sigmoid(-1.0)])
    # equal rewards and delta = ln 3: P(A) = P(B) = 1 / (1 + 3) = 0.25, P(tie) = 0.5
    assert tie_band_probs(0.7, 0.7, math.log(3)) == pytest.approx([0.25, 0.5, 0.25])
    assert sum(tie_band_probs(800.0, -800.0, 2.0)) == pytest.approx(1.0)
    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0


def test_swapping_a_verdict_exchanges_a_and_b():
    verdict = Verdict(verdict="A", is_parsed=True, probs=[0.6, 0.3, 0.1])
    assert (verdict.swapped().verdict, verdict.swapped().probs) == ("B", [0.1, 0.3, 0.6])
    tie = Verdict(verdict="tie", is_parsed=True)
    assert tie.swapped().verdict == "tie" and tie.swapped().probs is None


def test_rubric_verdict_is_the_argmax_and_score_the_expected_score():
    verdict = rubric_verdict(CRITERION, [0.2, 0.3, 0.5])
    assert verdict.verdict == "3" and verdict.score == pytest.approx(0.2 + 0.6 + 1.5)
    assert normalise([math.log(1), math.log(3), float("-inf")]) == pytest.approx([0.25, 0.75, 0.0])


def test_equal_probabilities_for_a_and_b_are_a_tie_so_an_order_blind_judge_stays_consistent():
    from annotate.judges.base import pairwise_verdict
    assert pairwise_verdict([0.5, 0.0, 0.5]).verdict == "tie"
    assert pairwise_verdict([0.4, 0.2, 0.4]).verdict == "tie"
    assert pairwise_verdict([0.3, 0.4, 0.3]).verdict == "tie"
    assert pairwise_verdict([0.5, 0.1, 0.4]).verdict == "A"
