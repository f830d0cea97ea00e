"""Prompt templates: versioned JSON data files, each declaring its output format and verdict tokens.

A template has a `system` and a `user` message with {placeholders}, optional blocks that are
filled only when the item has a context or reference, the `answer_prefix` the judge's verdict
follows ("[[" in MT-Bench, "[RESULT]" in Prometheus), and a `verdict_pattern` whose first group is
the verdict in generated text. Pairwise templates map the canonical verdicts to the tokens the
judge writes (`verdicts`: {"A": "A", "tie": "C", "B": "B"}); rubric templates write the integer
score. The template hash is the hash of the file's parsed content, so agreement can be compared
across prompt versions.

A judge config names its template; it never gives a path. The names are those shipped in
annotate/judges/templates/ and those in the operator's template folder ($ANNOTATE_TEMPLATES; a name
in both means the operator's copy). An edited prompt becomes a new file in that folder. Error
messages name the template, never a server path, and an unknown name gets the same answer whether
or not a file of that name exists anywhere on the server.
"""
from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from annotate.config import Criterion
from annotate.errors import ConfigError
from annotate.hashing import stable_hash
from annotate.signs import VERDICTS

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATES_ENV_VAR = "ANNOTATE_TEMPLATES"
TEMPLATE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
PAIRWISE_FIELDS = {"prompt", "response_a", "response_b", "context_block", "reference_block", "context",
                   "reference"}
RUBRIC_FIELDS = {"prompt", "response", "context_block", "reference_block", "reference_intro", "context",
                 "reference", "criterion", "criterion_description", "score_descriptions", "min_score",
                 "max_score", "score", "description"}


class Template(BaseModel):
    """A judge prompt template (see the module docstring)."""
    name: str
    version: int = 1
    task_type: Literal["pairwise", "rubric"]
    source: str = ""
    output_format: str
    system: str = ""
    user: str
    context_block: str = ""
    reference_block: str = ""
    reference_intro: str = ""
    score_line: str = "Score {score}: {description}"
    answer_prefix: str
    verdict_separator: str = ""
    verdicts: dict[str, str] = Field(default_factory=dict)
    verdict_pattern: str

    @model_validator(mode="after")
    def _check(self) -> "Template":
        allowed = PAIRWISE_FIELDS if self.task_type == "pairwise" else RUBRIC_FIELDS
        parts = ["system", "user", "context_block", "reference_block"]
        parts += ["reference_intro", "score_line"] if self.task_type == "rubric" else []
        for part in parts:
            unknown = _placeholders(getattr(self, part)) - allowed
            if unknown:
                raise ValueError(f"'{part}' uses unknown placeholders {sorted(unknown)}; allowed: {sorted(allowed)}")
        if self.task_type == "pairwise" and sorted(self.verdicts) != sorted(VERDICTS):
            raise ValueError("a pairwise template maps exactly the verdicts 'A', 'tie' and 'B' to tokens")
        if self.task_type == "pairwise" and len(set(self.verdicts.values())) != 3:
            raise ValueError("the three verdict tokens must differ")
        if re.compile(self.verdict_pattern).groups < 1:
            raise ValueError("'verdict_pattern' needs a group that captures the verdict")
        return self

    @property
    def hash(self) -> str:
        return stable_hash(self.model_dump())

    def pairwise_messages(self, prompt: str, first: str, second: str, context: str | None,
                          reference: str | None) -> list[dict]:
        """System and user messages for a pair, `first` shown as A and `second` as B."""
        fields = {"prompt": prompt, "response_a": first, "response_b": second, "context": context or "",
                  "reference": reference or ""}
        fields["context_block"] = self.context_block.format_map(fields) if context else ""
        fields["reference_block"] = self.reference_block.format_map(fields) if reference else ""
        return self._messages(fields)

    def rubric_messages(self, prompt: str, response: str, criterion: Criterion, context: str | None,
                        reference: str | None) -> list[dict]:
        """System and user messages asking for `criterion`'s score of one response."""
        scores = list(criterion.scores)
        fields = {"prompt": prompt, "response": response, "context": context or "", "reference": reference or "",
                  "criterion": criterion.name, "criterion_description": criterion.description or criterion.name,
                  "min_score": scores[0], "max_score": scores[-1], "score": "", "description": ""}
        fields["score_descriptions"] = "\n".join(
            self.score_line.format_map(fields | {"score": s, "description": d}) for s, d in criterion.scores.items())
        fields["context_block"] = self.context_block.format_map(fields) if context else ""
        fields["reference_block"] = self.reference_block.format_map(fields) if reference else ""
        fields["reference_intro"] = self.reference_intro.format_map(fields) if reference else ""
        return self._messages(fields)

    def _messages(self, fields: dict) -> list[dict]:
        messages = [{"role": "system", "content": self.system.format_map(fields)}] if self.system else []
        return messages + [{"role": "user", "content": self.user.format_map(fields)}]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def shipped_templates() -> list[str]:
    """Names of the templates shipped with the package."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


def operator_template_dir() -> Path | None:
    """The operator's template folder ($ANNOTATE_TEMPLATES), or None when not set."""
    folder = os.environ.get(TEMPLATES_ENV_VAR)
    return Path(folder) if folder else None


def _template_files() -> dict[str, Path]:
    """{name: file} of every template a judge may name (the operator's copy wins a shared name)."""
    files = {p.stem: p for p in TEMPLATE_DIR.glob("*.json")}
    folder = operator_template_dir()
    if folder is not None and folder.is_dir():
        files |= {p.stem: p for p in folder.glob("*.json")
                  if re.fullmatch(TEMPLATE_NAME_PATTERN, p.stem) and p.is_file()}
    return files


def template_names(task_type: str | None = None) -> list[str]:
    """The template names a judge config may use: shipped and the operator's, sorted; with
    `task_type`, only the valid templates made for that kind of project (for a picker)."""
    names = sorted(_template_files())
    if task_type is None:
        return names
    fitting = []
    for name in names:
        try:
            is_fit = load_template(name).task_type == task_type
        except ConfigError:
            is_fit = False  # an invalid template is not offered; naming it gives its error
        if is_fit:
            fitting.append(name)
    return fitting


def load_template(name: str) -> Template:
    """Load a template by name (shipped, or from the operator's template folder).

    Raises:
        ConfigError: no template of that name, invalid JSON, or an invalid template (naming the field).
    """
    path = _template_files().get(name)
    if path is None:
        raise ConfigError(f"No judge template '{name}'; available: {', '.join(template_names())}. The operator "
                          f"adds templates to the folder named by ${TEMPLATES_ENV_VAR}")
    try:
        return Template.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Template '{name}' line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"Template '{name}': {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"field '{'.'.join(map(str, e['loc'])) or '(root)'}': {e['msg']}" for e in exc.errors())
    return str(exc)
