"""The one rule of a label that was too fast (light: the review queue and the CLI import it without
the statistics stack).

A label is too fast when the seconds recorded with it are under the project's minimum
(annotate.study.settings.StudySettings.min_seconds; 0 means no minimum). Labels without a recorded
time (imports) are never too fast. Too-fast labels are marked and counted, never hidden.
"""
from __future__ import annotations

import pandas as pd


def is_fast(seconds: pd.Series, min_seconds: float | None) -> pd.Series:
    """True where a label took less than the project's minimum (never where no time was recorded)."""
    if not min_seconds:
        return pd.Series(False, index=seconds.index)
    return seconds.astype(float) < float(min_seconds)
