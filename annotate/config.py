"""Project configuration, validated with pydantic.

Pairwise scale values are signed integers: negative means response A (index 0) is better, 0 is a
tie, positive means B is better; the magnitude is the strength. The default is the 5-point
MultiPref scale. Rubric criteria carry a description per score (Prometheus 1-5 or HelpSteer2 0-4).
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from annotate.errors import ConfigError

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
    cost_per_human_label: float | None = Field(default=None, ge=0)
    cost_per_judge_call: float | None = Field(default=None, ge=0)
    license: str = "unspecified"

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
