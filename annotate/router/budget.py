"""The human budget: how many items humans label, and the random calibration slice inside it.

A budget is a number of human labels, a share of the items, or money. Money pays for the judge's
calls first (cost per judge call x calls made) and the rest buys human labels (cost per human
label). Every human-routed item costs `overlap` (k) labels, so items = floor(labels / k). A random
calibration slice of round(calibration_fraction x items) items (at least one when any item goes to
humans) is always part of the human set, chosen before any strategy looks at the items, so that
judge-human agreement can be estimated without the router's selection bias.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from annotate.errors import AnnotateError


class BudgetError(AnnotateError):
    """A budget is malformed or cannot pay for what was asked."""


@dataclass(frozen=True)
class Budget:
    """One of labels, fraction or money; the rest are its terms."""
    labels: int | None = None
    fraction: float | None = None
    money: float | None = None
    cost_per_human_label: float | None = None
    cost_per_judge_call: float = 0.0
    overlap: int = 1
    calibration_fraction: float = 0.1

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.labels, self.fraction, self.money)]
        if sum(given) != 1:
            raise BudgetError("A budget needs exactly one of: a number of labels, a fraction of items, or money")
        if self.overlap < 1:
            raise BudgetError(f"Budget overlap k must be at least 1, got {self.overlap}")
        if not 0 <= self.calibration_fraction <= 1:
            raise BudgetError(f"Calibration fraction must be in [0, 1], got {self.calibration_fraction}")
        if self.fraction is not None and not 0 <= self.fraction <= 1:
            raise BudgetError(f"Budget fraction must be in [0, 1], got {self.fraction}")
        if self.money is not None and not self.cost_per_human_label:
            raise BudgetError("A money budget needs a positive cost per human label")
        if min(v for v in (self.labels, self.money, 0) if v is not None) < 0:
            raise BudgetError("A budget cannot be negative")

    def human_labels(self, n_items: int, judge_calls: int = 0) -> int:
        """Human labels this budget pays for on a project of `n_items` items."""
        if self.labels is not None:
            return self.labels
        if self.fraction is not None:
            return round(self.fraction * n_items) * self.overlap
        left = self.money - judge_calls * self.cost_per_judge_call
        if left < 0:
            raise BudgetError(f"The budget of {self.money:g} does not cover {judge_calls} judge calls at "
                              f"{self.cost_per_judge_call:g} each")
        return math.floor(left / self.cost_per_human_label + 1e-9)

    def human_items(self, n_items: int, judge_calls: int = 0) -> int:
        """Items routed to humans: floor(labels / k), at most all items."""
        return min(n_items, self.human_labels(n_items, judge_calls) // self.overlap)

    def calibration_items(self, n_human: int) -> int:
        """Size of the random calibration slice inside `n_human` human-routed items."""
        if n_human == 0 or self.calibration_fraction == 0:
            return 0
        return min(n_human, max(1, round(self.calibration_fraction * n_human)))

    def as_dict(self) -> dict:
        return asdict(self)


def parse_budget(text: str, overlap: int = 1, cost_per_human_label: float | None = None,
                 cost_per_judge_call: float | None = None, calibration_fraction: float = 0.1) -> Budget:
    """Read '300' (human labels), '0.3' or '30%' (share of items), or '$120' (money).

    Raises:
        BudgetError: naming the text when it is none of these.
    """
    value = text.strip()
    terms = {"overlap": overlap, "cost_per_human_label": cost_per_human_label,
             "cost_per_judge_call": cost_per_judge_call or 0.0, "calibration_fraction": calibration_fraction}
    if re.fullmatch(r"\d+", value):
        return Budget(labels=int(value), **terms)
    if re.fullmatch(r"\d*\.\d+|\d+(\.\d+)?%", value):
        share = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
        return Budget(fraction=share, **terms)
    if re.fullmatch(r"\$\d+(\.\d+)?", value):
        return Budget(money=float(value[1:]), **terms)
    raise BudgetError(f"Budget '{text}': expected a number of labels (300), a share of items (0.3 or 30%) "
                      f"or money ($120)")
