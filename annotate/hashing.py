"""Stable content hashes, so that judge configs and prompt templates are versioned by content."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(obj: Any) -> str:
    """First 16 hex digits of the SHA-256 of `obj` as canonical JSON (sorted keys), or of text."""
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
