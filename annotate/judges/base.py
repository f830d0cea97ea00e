"""The judge interface every backend implements, and the verdicts it returns.

A judge answers requests in the order it was shown them: for a pairwise request, 'A' is the
response shown first. `annotate.judges.runs` turns presented verdicts into canonical ones (index 0
is A) before storing. Probabilities are honest or absent: `probs` is None when the backend gave no
distribution (a reply parsed from text without logprobs), never a made-up one-hot.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Sequence

from annotate.config import Criterion
from annotate.judges.config import JudgeConfig
from annotate.judges.templates import Template
from annotate.signs import VERDICTS



@dataclass(frozen=True)
class PairwiseRequest:
    """One pair as the judge sees it: `first` is shown as A, `second` as B."""
    prompt: str
    first: str
    second: str
    context: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class RubricRequest:
    """One response to grade on one criterion."""
    prompt: str
    response: str
    criterion: Criterion
    context: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A judge's answer to one request.

    Pairwise: verdict 'A' | 'tie' | 'B' in presented terms, probs [P(A), P(tie), P(B)].
    Rubric: verdict str(argmax score), score = expected score under probs (the parsed score when
    there are no probs), probs over the criterion's scores in ascending order.
    is_parsed False means verdict, score and probs are None and raw_output says what came back
    (the reply, or the error after retries).
    """
    verdict: str | None
    is_parsed: bool
    probs: list[float] | None = None
    score: float | None = None
    rationale: str | None = None
    raw_output: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    is_error: bool = False

    def swapped(self) -> "Verdict":
        """The same pairwise verdict with A and B exchanged (to un-swap a B/A presentation)."""
        verdict = {"A": "B", "B": "A"}.get(self.verdict, self.verdict)
        probs = list(reversed(self.probs)) if self.probs is not None else None
        return replace(self, verdict=verdict, probs=probs)


def unparsed(raw_output: str | None, is_error: bool = False, **usage) -> Verdict:
    """A verdict that could not be read: kept with its raw output, never guessed."""
    return Verdict(verdict=None, is_parsed=False, raw_output=raw_output, is_error=is_error, **usage)


def pairwise_verdict(probs: Sequence[float] | None, verdict: str | None = None, **fields) -> Verdict:
    """A parsed pairwise verdict; with probs, the verdict is their argmax, and 'tie' when P(A) and
    P(B) are equal and highest (as in annotate.analysis.verdicts), so an order-blind judge stays consistent."""
    if probs is not None:
        probs = [float(p) for p in probs]
        verdict = VERDICTS[max(range(3), key=lambda k: probs[k])]
        if probs[0] == probs[2] >= probs[1]:
            verdict = "tie"
    return Verdict(verdict=verdict, is_parsed=True, probs=probs, **fields)


def rubric_verdict(criterion: Criterion, probs: Sequence[float] | None, score: int | None = None,
                   **fields) -> Verdict:
    """A parsed rubric verdict: with probs, verdict = argmax score and score = expected score."""
    scores = list(criterion.scores)
    if probs is not None:
        probs = [float(p) for p in probs]
        best = scores[max(range(len(scores)), key=lambda k: probs[k])]
        expected = math.fsum(s * p for s, p in zip(scores, probs))
        return Verdict(verdict=str(best), is_parsed=True, probs=probs, score=expected, **fields)
    return Verdict(verdict=str(score), is_parsed=True, score=float(score), **fields)


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Softmax of log-probabilities restricted to a set of tokens: p_k = exp(l_k) / sum_j exp(l_j).

    -inf entries (tokens absent from a top-k list) get probability 0.
    """
    top = max(logprobs)
    weights = [math.exp(v - top) if v != float("-inf") else 0.0 for v in logprobs]
    total = math.fsum(weights)
    return [w / total for w in weights]


class Judge(ABC):
    """A backend: a config, a template (None for reward models), and a way to answer requests."""

    def __init__(self, config: JudgeConfig, template: Template | None) -> None:
        self.config = config
        self.template = template

    @abstractmethod
    def judge_pairwise(self, requests: Sequence[PairwiseRequest]) -> list[Verdict]:
        """One verdict per request, in order, in presented terms."""

    @abstractmethod
    def judge_rubric(self, requests: Sequence[RubricRequest]) -> list[Verdict]:
        """One verdict per request, in order."""

    def close(self) -> None:
        """Release what the judge holds (HTTP clients, models)."""
