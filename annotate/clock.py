"""The one clock: naive UTC, the form timestamps take in the store.

A module of its own so that login (`labeling.auth`) and assignment share it without importing
each other, and tests can see which time every module uses.
"""
from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Naive UTC now."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
