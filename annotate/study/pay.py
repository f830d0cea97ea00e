"""Fair pay for a crowd study: what a reward per participant comes to per hour, from the study's times.

Platforms ask for a reward per participant (Prolific's minimum and recommended rates are per hour),
so the researcher types the reward and reads the hourly rate it gives at the median time a
completed participant took (annotate.study.reports.study_status: first visit to completion code).
The median, not the mean: a participant who left the tab open for an hour would pull a mean up.
"""
from __future__ import annotations


def estimated_pay(status: dict, reward: float) -> dict:
    """The hourly pay a reward per participant gives, and what it costs per labeled item.

    Args:
        status: annotate.study.reports.study_status's dict (median_minutes_per_participant, quota,
            median_seconds_per_item).
        reward: the reward per participant, in the platform's currency.

    Returns:
        {per_hour: reward / (median minutes of completed participants / 60), or None when nobody
        completed yet or the median is 0; per_item: reward / quota; minutes: that median;
        item_seconds: the median seconds per item (None without labels)}.
    """
    minutes = status.get("median_minutes_per_participant")
    per_hour = reward * 60 / minutes if minutes else None
    return {"per_hour": per_hour, "per_item": reward / status["quota"] if status.get("quota") else None,
            "minutes": minutes, "item_seconds": status.get("median_seconds_per_item")}
