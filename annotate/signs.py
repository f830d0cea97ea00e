"""The one mapping between pairwise verdicts and signed values.

A pairwise verdict is 'A', 'tie' or 'B' (canonical order: response index 0 is A). A stored
pairwise value is a signed integer: negative means A is better, 0 a tie, positive B is better,
and the magnitude is the strength on the project's scale (1 = slightly on the 5-point scale).
Every module that turns one into the other imports it from here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

VERDICTS = ("A", "tie", "B")
SIGN = {"A": -1, "tie": 0, "B": 1}
VERDICT = {-1: "A", 0: "tie", 1: "B"}


def verdict_signs(verdicts: pd.Series) -> np.ndarray:
    """-1 / 0 / +1 per verdict as floats; NaN for a missing or unknown verdict."""
    return verdicts.map(SIGN).to_numpy(dtype=float)


def verdict_of(value: float) -> str:
    """The verdict of a signed value (its sign): 'A', 'tie' or 'B'."""
    return VERDICT[int(np.sign(value))]
