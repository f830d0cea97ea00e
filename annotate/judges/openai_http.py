"""LLM-as-judge through an OpenAI-compatible chat completions endpoint (vLLM, llama.cpp server,
Ollama, hosted APIs).

POST {base_url}/chat/completions with the template's messages; the verdict is parsed from the reply
(the last match of the template's pattern). When the server returns logprobs, the verdict's
probabilities are the top logprobs at the verdict token, restricted to the verdict tokens and
renormalised (see parsing.choice_probs); otherwise probs are left empty.

Failures: 429, 5xx, timeouts, connection errors and malformed JSON are retried with exponential
backoff (backoff_s * 2^(k-1), jittered, or the server's Retry-After when longer, capped at 60 s);
other 4xx are not retried. A request that still fails is returned unparsed with the error as its
raw output; a reply with no verdict (or one outside the allowed set) is asked again up to
max_parse_retries times, then returned unparsed. Requests run on `concurrency` threads.

The URL and the API key come from the operator's endpoint list (annotate.judges.endpoints), never
from the judge config; the host's addresses are checked before the first request and at every new
connection (which goes to the address checked), redirects are not followed, and error text kept
from a reply is cut short with the key blanked out (an endpoint may echo request headers back),
because it is stored and shown on the Judges page.
"""
from __future__ import annotations

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import httpx

from annotate.judges.base import Judge, PairwiseRequest, RubricRequest, Verdict, pairwise_verdict, rubric_verdict, unparsed
from annotate.judges.config import JudgeConfig
from annotate.judges.endpoints import check_addresses, checked_transport, get_endpoint, safe_error_text
from annotate.judges.parsing import choice_probs, parse_pairwise, parse_score, rationale_before, token_at
from annotate.judges.templates import Template
from annotate.signs import VERDICTS

MAX_DELAY_S = 60.0


@dataclass(frozen=True)
class Reply:
    text: str
    logprobs: list[dict] | None
    usage: dict


class RequestFailed(Exception):
    """A request that failed after its retries (internal: becomes an unparsed verdict)."""


class OpenAIJudge(Judge):
    """Pairwise and rubric judge over HTTP; `transport` lets callers swap httpx's transport.

    Raises (when built):
        ConfigError: the endpoint is not on the operator's list, its host resolves to an internal
            address the operator did not allow, or its key variable is not set.
    """

    def __init__(self, config: JudgeConfig, template: Template, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config, template)
        endpoint = get_endpoint(config.endpoint)
        check_addresses(endpoint)
        self.api_key = endpoint.api_key()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.client = httpx.Client(base_url=endpoint.base_url, headers=headers, timeout=config.timeout_s,
                                   transport=transport or checked_transport(endpoint), follow_redirects=False)

    def _safe(self, text: str) -> str:
        return safe_error_text(text, (self.api_key,))

    def close(self) -> None:
        self.client.close()

    def judge_pairwise(self, requests: Sequence[PairwiseRequest]) -> list[Verdict]:
        def one(r: PairwiseRequest) -> Verdict:
            return self.ask(self.template.pairwise_messages(r.prompt, r.first, r.second, r.context, r.reference),
                            self.read_pairwise)
        return self._map(one, requests)

    def judge_rubric(self, requests: Sequence[RubricRequest]) -> list[Verdict]:
        def one(r: RubricRequest) -> Verdict:
            return self.ask(self.template.rubric_messages(r.prompt, r.response, r.criterion, r.context, r.reference),
                            lambda reply, usage: self.read_score(r, reply, usage))
        return self._map(one, requests)

    def _map(self, fn: Callable, requests: Sequence) -> list[Verdict]:
        if self.config.concurrency == 1 or len(requests) <= 1:
            return [fn(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(requests))) as pool:
            return list(pool.map(fn, requests))

    def ask(self, messages: list[dict], read: Callable[[Reply, dict], Verdict]) -> Verdict:
        """Send the messages (again, up to max_parse_retries times, while the reply does not parse)."""
        for _ in range(self.config.max_parse_retries + 1):
            start = time.perf_counter()
            try:
                reply = self.complete(messages)
            except RequestFailed as exc:
                return unparsed(f"error: {exc}", is_error=True, latency_ms=(time.perf_counter() - start) * 1000)
            verdict = read(reply, {"latency_ms": (time.perf_counter() - start) * 1000, **reply.usage})
            if verdict.is_parsed:
                return verdict
        return verdict

    def complete(self, messages: list[dict]) -> Reply:
        """One chat completion, retried on 429 / 5xx / timeouts / malformed replies.

        Raises:
            RequestFailed: after the last retry, or at once for another 4xx.
        """
        body = {"model": self.config.model, "messages": messages, "temperature": self.config.temperature,
                "max_tokens": self.config.max_new_tokens}
        if self.config.top_logprobs:
            body |= {"logprobs": True, "top_logprobs": self.config.top_logprobs}
        problem, wait = "no attempt", 0.0
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(min(MAX_DELAY_S, max(wait, self.config.backoff_s * 2 ** (attempt - 1) *
                                                (0.5 + random.random() / 2))))
            try:
                response = self.client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                problem, wait = f"timed out after {self.config.timeout_s:g} s", 0.0
                continue
            except httpx.TransportError as exc:
                problem, wait = self._safe(f"connection failed: {exc}"), 0.0
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem, wait = self._safe(f"HTTP {response.status_code}: {response.text}"), _retry_after(response)
                continue
            if response.status_code >= 300:  # redirects are not followed: a listed host may not send us elsewhere
                raise RequestFailed(self._safe(f"HTTP {response.status_code}: {response.text}"))
            try:
                return self._reply(response.json())
            except (ValueError, KeyError, IndexError, TypeError):
                problem, wait = self._safe(f"malformed reply: {response.text!r}"), 0.0
        raise RequestFailed(f"{problem} (after {self.config.max_retries + 1} attempts)")

    def _reply(self, data: dict) -> Reply:
        choice = data["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("message content is not text")
        if self.api_key:  # an endpoint that echoes the key must not put it into stored, exported text
            text = text.replace(self.api_key, "[redacted]")
        logprobs = (choice.get("logprobs") or {}).get("content")
        usage = data.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return Reply(text, logprobs if isinstance(logprobs, list) else None,
                     {"prompt_tokens": prompt, "completion_tokens": completion, "cost": self._cost(prompt, completion)})

    def _cost(self, prompt: int | None, completion: int | None) -> float | None:
        prices = (self.config.cost_per_1k_prompt_tokens, self.config.cost_per_1k_completion_tokens)
        if None in prices or prompt is None or completion is None:
            return None
        return (prompt * prices[0] + completion * prices[1]) / 1000

    def read_pairwise(self, reply: Reply, usage: dict) -> Verdict:
        verdict, match = parse_pairwise(reply.text, self.template)
        if verdict is None:
            return unparsed(reply.text, **usage)
        tokens = [self.template.verdicts[v] for v in VERDICTS]
        probs = self._probs(reply, match, tokens)
        return pairwise_verdict(probs, verdict, rationale=rationale_before(reply.text, match),
                                raw_output=reply.text, **usage)

    def read_score(self, request: RubricRequest, reply: Reply, usage: dict) -> Verdict:
        score, match = parse_score(reply.text, self.template, request.criterion)
        if score is None:
            return unparsed(reply.text, **usage)
        probs = self._probs(reply, match, [str(s) for s in request.criterion.scores])
        return rubric_verdict(request.criterion, probs, score, rationale=rationale_before(reply.text, match),
                              raw_output=reply.text, **usage)

    @staticmethod
    def _probs(reply: Reply, match: re.Match, choices: list[str]) -> list[float] | None:
        """The choices' probabilities at the verdict token, only when that one token is the whole
        verdict: a "10" split into "1" + "0" must not be read as a distribution around 1."""
        entry = token_at(reply.logprobs, match.start(1)) if reply.logprobs else None
        if entry is None or (entry.get("token") or "").strip() != match.group(1).strip():
            return None
        return choice_probs(entry, choices)


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", 0))
    except ValueError:
        return 0.0
