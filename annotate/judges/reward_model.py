"""Reward-model judge: a sequence classifier that scores each response; a pair's verdict follows
from the difference of the two rewards.

With d = (r_A - r_B) / reward_scale and the tie band delta >= 0 (Rao & Kupper 1967, "Ties in
paired-comparison experiments", JASA 62(317), the Bradley-Terry model with a tie threshold):
P(A) = sigmoid(d - delta), P(B) = sigmoid(-d - delta), P(tie) = 1 - P(A) - P(B). With delta = 0
this is Bradley-Terry, P(A) = sigmoid(r_A - r_B), and ties get probability 0. Rewards do not depend
on the order the pair is shown in, so both orders give the same canonical verdict; each distinct
(prompt, response) is scored once per batch.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import torch
from transformers import AutoModelForSequenceClassification

from annotate.errors import ConfigError
from annotate.judges.base import Judge, PairwiseRequest, RubricRequest, Verdict, pairwise_verdict
from annotate.judges.config import JudgeConfig
from annotate.judges.hf import chat_text, encode, has_chat_template, load_pretrained
from annotate.judges.templates import Template


def sigmoid(x: float) -> float:
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def tie_band_probs(reward_a: float, reward_b: float, tie_band: float, scale: float = 1.0) -> list[float]:
    """[P(A), P(tie), P(B)] under the Rao-Kupper model (see the module docstring)."""
    d = (reward_a - reward_b) / scale
    p_a, p_b = sigmoid(d - tie_band), sigmoid(-d - tie_band)
    return [p_a, max(0.0, 1.0 - p_a - p_b), p_b]


class RewardModelJudge(Judge):
    """Pairwise judge from an AutoModelForSequenceClassification with one output (the reward)."""

    def __init__(self, config: JudgeConfig, template: Template | None = None) -> None:
        super().__init__(config, template)
        self.model, self.tokenizer = load_pretrained(config, AutoModelForSequenceClassification, "right")
        if self.model.config.num_labels != 1:
            raise ConfigError(f"Judge '{config.name}': '{config.model}' has {self.model.config.num_labels} "
                              f"outputs; a reward model has exactly one")
        self.device = next(self.model.parameters()).device

    def inputs(self, pairs: Sequence[tuple[str, str]]) -> dict:
        """Tokenized (prompt, response) inputs: the chat template as a user/assistant exchange when
        the tokenizer has one, else the classic text pair."""
        if has_chat_template(self.tokenizer):
            texts = [chat_text(self.tokenizer, [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                               add_generation_prompt=False) for p, r in pairs]
            return encode(self.tokenizer, texts, self.config, self.device)
        return encode(self.tokenizer, [p for p, _ in pairs], self.config, self.device, pairs=[r for _, r in pairs])

    @torch.inference_mode()
    def rewards(self, inputs: dict) -> list[float]:
        """One reward per input row."""
        return self.model(**inputs).logits[:, 0].float().cpu().tolist()

    def judge_pairwise(self, requests: Sequence[PairwiseRequest]) -> list[Verdict]:
        start = time.perf_counter()
        keys = [(_full_prompt(r), text) for r in requests for text in (r.first, r.second)]
        unique = list(dict.fromkeys(keys))
        inputs = self.inputs(unique)
        reward_of = dict(zip(unique, self.rewards(inputs)))
        tokens_of = dict(zip(unique, inputs["attention_mask"].sum(dim=1).tolist()))
        latency = (time.perf_counter() - start) * 1000 / max(1, len(requests))
        verdicts = []
        for request in requests:
            a, b = (_full_prompt(request), request.first), (_full_prompt(request), request.second)
            probs = tie_band_probs(reward_of[a], reward_of[b], self.config.tie_band, self.config.reward_scale)
            verdicts.append(pairwise_verdict(probs, raw_output=f"reward_A={reward_of[a]:.6g} reward_B={reward_of[b]:.6g}",
                                             latency_ms=latency, prompt_tokens=int(tokens_of[a] + tokens_of[b])))
        return verdicts

    def judge_rubric(self, requests: Sequence[RubricRequest]) -> list[Verdict]:
        raise ConfigError(f"Judge '{self.config.name}': a reward model gives one reward per response, not "
                          f"scores on a rubric; use a causal_lm or openai judge for rubric projects")


def _full_prompt(request: PairwiseRequest) -> str:
    return f"{request.context}\n\n{request.prompt}" if request.context else request.prompt
