"""A project's crowd-study settings: the `study` part of its config (annotate.config.ProjectConfig).

Kept apart from the study's logic so that annotate.config can import it without the store. Every
field has a default, so projects made before studies existed read as "no study configured" and
nothing changes for them until a researcher opens a study link.

The main phase is everything after training: `quota` counts the items a participant sees there,
attention checks included (so "30 items" on the platform means 30 screens after the practice).
Attention checks go at `attention_positions` (1-based positions in the main phase) when given, else
one in every block of round(1 / attention_rate) positions after the first `attention_first_after`,
at a position within the block drawn per participant (see annotate.study.flow.is_attention_slot).
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class StudySettings(BaseModel):
    """How a crowd study serves, screens and pays its participants."""
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, never silently ignored
    quota: int = Field(default=30, ge=1, le=10_000, description="items per participant after training")
    max_participants: int | None = Field(default=None, ge=1, description="places in the study (none: no cap)")
    completion_code: str = Field(default="", description="the code shown when the quota is done")
    redirect_url: str = Field(default="", description="where a participant goes back to the platform; "
                                                      "{code} is replaced by their completion code")
    qualification_code: str = Field(default="", description="the code for those who end after training")
    consent_text: str = Field(default="", description="shown before the first item; must be accepted")
    instructions_text: str = Field(default="", description="shown before the first item; must be acknowledged")
    attention_rate: float = Field(default=0.0, ge=0.0, le=0.5, description="share of main-phase items that "
                                                                           "are attention checks")
    attention_positions: list[int] = Field(default_factory=list, description="1-based main-phase positions "
                                                                               "of the checks (wins over the rate)")
    attention_first_after: int = Field(default=0, ge=0, description="no check among the first N items")
    max_attention_failures: int | None = Field(default=None, ge=0, description="stop a participant who fails "
                                                                                "more checks than this")
    exclude_stopped: bool = Field(default=True, description="exclude the labels of a stopped participant")
    training_items: int = Field(default=0, ge=0, le=100, description="K: practice items with feedback first")
    training_pass: float = Field(default=0.0, ge=0.0, le=1.0, description="share of training items to get right")
    min_seconds: float = Field(default=0.0, ge=0.0, description="labels faster than this are marked")
    check_tolerance: int = Field(default=0, ge=0, description="rubric checks: points a score may be off")

    @model_validator(mode="after")
    def _check(self) -> "StudySettings":
        for name in ("completion_code", "qualification_code"):
            code = getattr(self, name)
            if code and not CODE_PATTERN.fullmatch(code):
                raise ValueError(f"the {name.replace('_', ' ')} may hold only letters, digits, '-' and '_' "
                                 f"(1 to 64 of them), not {code!r}")
        if self.redirect_url and not re.match(r"https?://[^\s]+$", self.redirect_url):
            raise ValueError(f"the redirect URL must start with http:// or https:// and hold no spaces, "
                             f"not {self.redirect_url!r}")
        bad = [p for p in self.attention_positions if not 1 <= p <= self.quota]
        if bad:
            raise ValueError(f"attention check positions must be between 1 and the quota ({self.quota}); "
                             f"{bad} are not")
        if len(set(self.attention_positions)) != len(self.attention_positions):
            raise ValueError("attention check positions must not repeat")
        if self.training_pass > 0 and self.training_items == 0:
            raise ValueError("a training pass mark needs training items (training_items > 0)")
        if self.training_pass > 0 and not self.qualification_code:
            raise ValueError("a training pass mark needs a qualification code for those who do not pass")
        return self

    @property
    def has_attention_checks(self) -> bool:
        """Whether attention checks are served at all."""
        return bool(self.attention_positions) or self.attention_rate > 0


def merge_study_changes(current: StudySettings, changes: dict) -> dict:
    """Config `changes` with their study part merged into the `current` settings: `study` given as
    an object changes only the settings it names, and `study.FIELD` keys (from `projects edit --set
    study.quota=30`) one each, so an edit of one setting never resets the others to defaults."""
    dotted = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith("study.")}
    given = changes.get("study")
    if not dotted and not isinstance(given, dict):
        return dict(changes)
    merged = {k: v for k, v in changes.items() if not k.startswith("study.")}
    merged["study"] = current.model_dump() | (given if isinstance(given, dict) else {}) | dotted
    return merged
