"""LLM-as-judge with a local transformers causal LM.

Logits mode: the prompt is the template's messages in the model's chat template followed by the
template's `answer_prefix` ("[[" or "[RESULT]"), so the next token is the verdict. P(verdict k) is
the next-token softmax restricted to the verdict tokens and renormalised over them:
p_k = exp(l_k) / sum_j exp(l_j). This needs every verdict to be a single token after the prefix
(checked by tokenizing prefix + separator + verdict); no rationale is asked for.
Generate mode (the fallback when a verdict spans several tokens, or when asked for): greedy or
sampled generation, and the verdict parsed from the text; the text before the verdict is the
rationale; no probabilities.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
from transformers import AutoModelForCausalLM

from annotate.errors import ConfigError
from annotate.judges.base import (Judge, PairwiseRequest, RubricRequest, Verdict, normalise, pairwise_verdict,
                                  rubric_verdict, unparsed)
from annotate.judges.config import JudgeConfig
from annotate.judges.hf import chat_text, encode, load_pretrained
from annotate.judges.parsing import parse_pairwise, parse_score, rationale_before
from annotate.judges.templates import Template
from annotate.signs import VERDICTS


class CausalLMJudge(Judge):
    """Pairwise and rubric judge from an AutoModelForCausalLM and a prompt template."""

    def __init__(self, config: JudgeConfig, template: Template) -> None:
        super().__init__(config, template)
        self.model, self.tokenizer = load_pretrained(config, AutoModelForCausalLM, "left")
        self.device = next(self.model.parameters()).device

    def choice_ids(self, choices: Sequence[str]) -> list[int] | None:
        """The token id of each choice right after the answer prefix, or None when a choice is not
        exactly one token there (or two choices share a token)."""
        prefix = self.template.answer_prefix
        prefix_ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        ids = []
        for choice in choices:
            full = self.tokenizer(prefix + self.template.verdict_separator + choice,
                                  add_special_tokens=False)["input_ids"]
            if full[:len(prefix_ids)] != prefix_ids or len(full) != len(prefix_ids) + 1:
                return None
            ids.append(full[-1])
        return ids if len(set(ids)) == len(ids) else None

    def _use_logits(self, ids: list[int] | None, what: str) -> bool:
        if self.config.mode == "logits" and ids is None:
            raise ConfigError(f"Judge '{self.config.name}': {what} are not single tokens after "
                              f"'{self.template.answer_prefix}' for this tokenizer; use mode 'generate' or 'auto'")
        return ids is not None and self.config.mode != "generate"

    def judge_pairwise(self, requests: Sequence[PairwiseRequest]) -> list[Verdict]:
        messages = [self.template.pairwise_messages(r.prompt, r.first, r.second, r.context, r.reference)
                    for r in requests]
        ids = self.choice_ids([self.template.verdicts[v] for v in VERDICTS])
        if self._use_logits(ids, "the verdict tokens"):
            rows, usage = self.next_token_probs(messages, ids)
            return [pairwise_verdict(p, raw_output=_raw(p, VERDICTS), **u) for p, u in zip(rows, usage)]
        texts, usage = self.generate(messages)
        return [self._parsed_pairwise(text, u) for text, u in zip(texts, usage)]

    def judge_rubric(self, requests: Sequence[RubricRequest]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(requests)
        by_scale: dict[tuple[int, ...], list[int]] = {}
        for k, request in enumerate(requests):
            by_scale.setdefault(tuple(request.criterion.scores), []).append(k)
        for scale, positions in by_scale.items():
            group = [requests[k] for k in positions]
            for k, verdict in zip(positions, self._rubric_group(group, [str(s) for s in scale])):
                verdicts[k] = verdict
        return verdicts

    def _rubric_group(self, requests: list[RubricRequest], scores: list[str]) -> list[Verdict]:
        messages = [self.template.rubric_messages(r.prompt, r.response, r.criterion, r.context, r.reference)
                    for r in requests]
        ids = self.choice_ids(scores)
        if self._use_logits(ids, f"the scores {scores}"):
            rows, usage = self.next_token_probs(messages, ids)
            return [rubric_verdict(r.criterion, p, raw_output=_raw(p, scores), **u)
                    for r, p, u in zip(requests, rows, usage)]
        texts, usage = self.generate(messages)
        return [self._parsed_score(r, text, u) for r, text, u in zip(requests, texts, usage)]

    @torch.inference_mode()
    def next_token_probs(self, messages: list[list[dict]], ids: list[int]) -> tuple[list[list[float]], list[dict]]:
        """Per prompt, the next-token distribution after the answer prefix restricted to `ids`."""
        start = time.perf_counter()
        texts = [chat_text(self.tokenizer, m, add_generation_prompt=True) + self.template.answer_prefix
                 for m in messages]
        inputs = encode(self.tokenizer, texts, self.config, self.device)
        mask = inputs["attention_mask"]
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = self.model(**inputs, position_ids=positions).logits[:, -1, :]
        chosen = torch.log_softmax(logits.float(), dim=-1)[:, ids].cpu().tolist()
        latency = (time.perf_counter() - start) * 1000 / max(1, len(texts))
        usage = [{"latency_ms": latency, "prompt_tokens": int(n), "completion_tokens": 1}
                 for n in mask.sum(dim=1).tolist()]
        return [normalise(row) for row in chosen], usage

    @torch.inference_mode()
    def generate(self, messages: list[list[dict]]) -> tuple[list[str], list[dict]]:
        """Generated replies (special tokens removed) and their usage."""
        start = time.perf_counter()
        texts = [chat_text(self.tokenizer, m, add_generation_prompt=True) for m in messages]
        inputs = encode(self.tokenizer, texts, self.config, self.device)
        sampling = {"do_sample": True, "temperature": self.config.temperature} if self.config.temperature > 0 \
            else {"do_sample": False}
        output = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens,
                                     pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new = output[:, inputs["input_ids"].shape[1]:]
        replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        latency = (time.perf_counter() - start) * 1000 / max(1, len(texts))
        lengths = (new != self.tokenizer.pad_token_id).sum(dim=1).tolist()
        usage = [{"latency_ms": latency, "prompt_tokens": int(p), "completion_tokens": int(c)}
                 for p, c in zip(inputs["attention_mask"].sum(dim=1).tolist(), lengths)]
        return replies, usage

    def _parsed_pairwise(self, text: str, usage: dict) -> Verdict:
        verdict, match = parse_pairwise(text, self.template)
        if verdict is None:
            return unparsed(text, **usage)
        return pairwise_verdict(None, verdict, rationale=rationale_before(text, match), raw_output=text, **usage)

    def _parsed_score(self, request: RubricRequest, text: str, usage: dict) -> Verdict:
        score, match = parse_score(text, self.template, request.criterion)
        if score is None:
            return unparsed(text, **usage)
        return rubric_verdict(request.criterion, None, score, rationale=rationale_before(text, match),
                              raw_output=text, **usage)


def _raw(probs: list[float], choices: Sequence[str]) -> str:
    """The restricted distribution as text, the raw output of a logits-mode judgment."""
    return " ".join(f"P({c})={p:.4f}" for c, p in zip(choices, probs))
