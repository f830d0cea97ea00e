"""Read verdicts from a judge's generated text, and verdict probabilities from logprobs.

The last match of the template's `verdict_pattern` is the verdict (judges explain first and
conclude last; an explanation may quote the format). A token outside the template's verdicts, or a
score off the criterion's scale, is not a verdict: the caller stores the reply as unparsed.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from annotate.config import Criterion
from annotate.judges.base import normalise
from annotate.judges.templates import Template


def last_match(text: str, template: Template) -> re.Match | None:
    """The last match of the template's verdict pattern in `text`, or None."""
    matches = list(re.finditer(template.verdict_pattern, text))
    return matches[-1] if matches else None


def parse_pairwise(text: str, template: Template) -> tuple[str | None, re.Match | None]:
    """(canonical verdict 'A' | 'tie' | 'B', the match) in presented terms; (None, match) when the
    token is outside the template's verdicts, (None, None) when nothing matches."""
    match = last_match(text, template)
    if match is None:
        return None, None
    token = match.group(1).strip()
    by_token = {t: v for v, t in template.verdicts.items()}
    return by_token.get(token), match


def parse_score(text: str, template: Template, criterion: Criterion) -> tuple[int | None, re.Match | None]:
    """(score, the match); score None when nothing matches or the number is off the scale."""
    match = last_match(text, template)
    if match is None:
        return None, None
    try:
        score = int(match.group(1).strip())
    except ValueError:
        return None, match
    return (score if score in criterion.scores else None), match


def rationale_before(text: str, match: re.Match) -> str | None:
    """The text a judge wrote before its verdict, stripped, or None when there is none."""
    return text[:match.start()].strip() or None


def token_at(logprob_tokens: Sequence[dict], offset: int) -> dict | None:
    """The logprobs entry whose token covers character `offset` of the reply (OpenAI format:
    [{token, logprob, top_logprobs: [{token, logprob}]}], tokens concatenate to the reply)."""
    position = 0
    for entry in logprob_tokens:
        token = entry.get("token") or ""
        if position <= offset < position + len(token):
            return entry
        position += len(token)
    return None


def choice_probs(entry: dict, choices: Sequence[str]) -> list[float] | None:
    """Probabilities over `choices` from one token's top logprobs, renormalised over the choices.

    Tokens that differ only by surrounding whitespace (' A' and 'A') are the same choice; their
    probabilities add. A choice missing from the top-k list gets 0. None when the token the judge
    wrote is not one of the choices (the verdict was split over several tokens) or no choice
    appears in the list.
    """
    if (entry.get("token") or "").strip() not in choices:
        return None
    top = entry.get("top_logprobs") or [{"token": entry["token"], "logprob": entry["logprob"]}]
    mass = {c: 0.0 for c in choices}
    for candidate in top:
        text = (candidate.get("token") or "").strip()
        if text in mass and candidate.get("logprob") is not None:
            mass[text] += math.exp(float(candidate["logprob"]))
    if not any(mass.values()):
        return None
    return normalise([math.log(m) if m > 0 else float("-inf") for m in mass.values()])
