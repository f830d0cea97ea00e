"""Project configuration, validated with pydantic.

Pairwise scale values are signed integers: negative means response A (index 0) is better, 0 is a
tie, positive means B is better; the magnitude is the strength. The default is the 5-point
MultiPref scale. Rubric criteria carry a description per score (Prometheus 1-5 or HelpSteer2 0-4).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from annotate.errors import ConfigError
from annotate.study.settings import StudySettings

# How agreement treats a tie: a category of its own (MT-Bench S1) or a reason to drop the comparison (S2).
TIE_POLICIES = ("with_ties", "without_ties")


class ScalePoint(BaseModel):
    value: int
    label: str


MULTIPREF_SCALE = [
    ScalePoint(value=-2, label="A is much better"),
    ScalePoint(value=-1, label="A is slightly better"),
    ScalePoint(value=0, label="Tie"),
    ScalePoint(value=1, label="B is slightly better"),
    ScalePoint(value=2, label="B is much better"),
]
THREE_POINT_SCALE = [
    ScalePoint(value=-1, label="A is better"),
    ScalePoint(value=0, label="Tie"),
    ScalePoint(value=1, label="B is better"),
]


class Aspect(BaseModel):
    """An extra pairwise row (e.g. helpfulness) answered on the same scale as overall."""
    name: str = Field(min_length=1)
    description: str = ""


class Criterion(BaseModel):
    """A rubric criterion: scores (e.g. 1..5) each with a description."""
    name: str = Field(min_length=1)
    description: str = ""
    scores: dict[int, str]

    @field_validator("scores")
    @classmethod
    def _contiguous(cls, scores: dict[int, str]) -> dict[int, str]:
        keys = sorted(scores)
        if len(keys) < 2 or keys != list(range(keys[0], keys[-1] + 1)):
            raise ValueError("scores must be at least two consecutive integers, e.g. 1..5")
        return dict(sorted(scores.items()))


class ProjectConfig(BaseModel):
    """Everything a project's screens, router and export need to know."""
    task_type: Literal["pairwise", "rubric"]
    scale: list[ScalePoint] = Field(default_factory=lambda: list(MULTIPREF_SCALE))
    aspects: list[Aspect] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    overlap: int = Field(default=3, ge=1, description="k: human labels wanted per item")
    guidelines: str = ""
    justification: Literal["off", "optional", "required"] = "optional"
    justification_min_chars: int = Field(default=0, ge=0)
    ask_confidence: bool = True
    both_bad_flag: bool = True
    highlight_diff: bool = False
    # Images in item text are shown as links unless their host is listed here (annotators' browsers
    # would fetch them, telling the host who saw what); data: URIs and same-server paths need
    # allow_embedded_images. See annotate/labeling/item_text.py.
    allowed_image_hosts: list[str] = Field(default_factory=list)
    allow_embedded_images: bool = False
    cost_per_human_label: float | None = Field(default=None, ge=0)
    cost_per_judge_call: float | None = Field(default=None, ge=0)
    license: str = "unspecified"
    # What a human reference label is when votes split evenly (annotate.analysis.reference; default
    # 'tie': keeps every labeled item in every number) and, for rubrics, the mean or median of scores.
    split_policy: Literal["tie", "drop", "mean-sign"] = "tie"
    rubric_reference: Literal["mean", "median"] = "mean"
    router_metadata: list[str] = Field(default_factory=list, description="metadata columns the router may use as features (opt-in)")
    # Crowd studies (study links, quota, attention checks, training): annotate/study/settings.py.
    study: StudySettings = Field(default_factory=StudySettings)

    @model_validator(mode="after")
    def _check(self) -> "ProjectConfig":
        values = [p.value for p in self.scale]
        if self.task_type == "pairwise":
            if len(set(values)) != len(values) or sorted(values) != sorted(-v for v in values) or 0 not in values:
                raise ValueError("a pairwise scale needs distinct values symmetric around a 0 tie, "
                                 "e.g. -2..2")
        if self.task_type == "rubric" and not self.criteria:
            raise ValueError("a rubric project needs at least one criterion")
        names = [a.name for a in self.aspects] + [c.name for c in self.criteria]
        if len(set(names)) != len(names) or "overall" in names:
            raise ValueError("aspect and criterion names must be distinct and not 'overall'")
        return self

    @property
    def aspect_names(self) -> list[str]:
        """The rows a label has values for: 'overall' plus aspects (pairwise) or the criteria."""
        if self.task_type == "pairwise":
            return ["overall", *(a.name for a in self.aspects)]
        return [c.name for c in self.criteria]

    def criterion(self, name: str) -> Criterion:
        return next(c for c in self.criteria if c.name == name)


def parse_config(data: dict | str, where: str = "project config") -> ProjectConfig:
    """Validate a config given as a dict or JSON text.

    Raises:
        ConfigError: naming each invalid field.
    """
    try:
        raw = json.loads(data) if isinstance(data, str) else data
        return ProjectConfig.model_validate(raw)
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"field '{'.'.join(map(str, e['loc'])) or '(root)'}': {e['msg']}" for e in exc.errors())
    return str(exc)


def read_config_file(path: str | Path) -> Any:
    """The data of a JSON or YAML file (by extension: .yaml/.yml is YAML, anything else JSON).

    Raises:
        ConfigError: a missing file or one that does not parse, naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read the file ({exc})") from None
    return parse_config_text(text, path.name)


def parse_config_text(text: str, name: str) -> Any:
    """The data of JSON or YAML text; `name` (a file name, or 'criteria') names it in errors and
    says which: a name ending in .json is JSON, anything else YAML (JSON is YAML too).

    Raises:
        ConfigError: text that does not parse, naming the line.
    """
    if name.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise ConfigError(f"{name}: JSON nested too deeply to read") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise ConfigError(f"{name}: nested too deeply to read") from None


def parse_criteria(data: Any, where: str = "criteria") -> list[dict]:
    """Rubric criteria from a criteria file's data, as dicts for `Criterion`.

    Accepted: a list of criteria, or {"scale": ..., "criteria": [...]}. Each criterion has a
    `name`, an optional `description`, and either `scores` ({score: description}) or `scale`
    ([low, high] or "low-high", e.g. [0, 3] for relevance, "1-5" for Likert); a top-level
    `scale` applies to criteria without one. Scores without a description are described by
    their number.

    Raises:
        ConfigError: naming the criterion and field.
    """
    default_scale = None
    if isinstance(data, dict):
        default_scale, data = data.get("scale"), data.get("criteria")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{where}: expected a list of criteria (or an object with 'criteria'), each with a "
                          f"name and scores or a scale")
    criteria = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: criterion {number}: expected an object with a name and scores")
        label = f"{where}: criterion {number} ('{item.get('name', '')}')"
        unknown = sorted(set(item) - {"name", "description", "scores", "scale"})
        if unknown:
            raise ConfigError(f"{label}: unknown field(s) {', '.join(unknown)}")
        scores = item.get("scores")
        if scores is None:
            scores = {str(v): str(v) for v in _scale_range(item.get("scale", default_scale), label)}
        elif not isinstance(scores, dict):
            raise ConfigError(f"{label}: 'scores' must map each score to its description, e.g. {{1: 'poor'}}")
        criteria.append({"name": item.get("name"), "description": item.get("description") or "",
                         "scores": {k: ("" if v is None else str(v)) for k, v in scores.items()}})
    return criteria


def _scale_range(scale: Any, label: str) -> range:
    if isinstance(scale, str):
        match = re.fullmatch(r"\s*(-?\d+)\s*(?:-|\.\.|to)\s*(-?\d+)\s*", scale)
        scale = match.groups() if match else None
    try:
        low, high = (int(v) for v in scale)
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: needs 'scores' or a 'scale' such as [1, 5] or \"0-3\"") from None
    if high <= low:
        raise ConfigError(f"{label}: scale {low}..{high} needs at least two scores, lowest first")
    return range(low, high + 1)


def build_config(task_type: str, criteria: Any = None, extra: dict | None = None,
                 where: str = "project config") -> ProjectConfig:
    """A new project's config from its task type, the data of a criteria file (see
    `parse_criteria`) and other fields.

    Raises:
        ConfigError: naming the file, criterion or field.
    """
    data = dict(extra or {})
    if "task_type" in data and data["task_type"] != task_type:
        raise ConfigError(f"{where}: task_type '{data['task_type']}' does not match --task-type {task_type}")
    data["task_type"] = task_type
    if criteria is not None:
        if task_type != "rubric":
            raise ConfigError(f"{where}: criteria belong to a rubric project (use --task-type rubric)")
        data["criteria"] = parse_criteria(criteria, where)
    return parse_config(data, where)
