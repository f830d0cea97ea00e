"""Optional parts of the install: the local-model stack (torch, transformers, sentence-transformers)
comes with `pip install -r requirements-models.txt`; the annotation app runs without it.

Code that needs it calls `require_models(feature)` before importing it, so the user reads what to
install instead of a ModuleNotFoundError.
"""
from __future__ import annotations

import importlib.util

from annotate.errors import AnnotateError

MODEL_PACKAGES = ("torch", "transformers")
INSTALL_MODELS = "pip install -r requirements-models.txt"


class MissingExtraError(AnnotateError):
    """A feature needs packages that this install does not have."""


def has_models() -> bool:
    """Whether the local-model stack is installed (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in MODEL_PACKAGES)


def require_models(feature: str) -> None:
    """Raise MissingExtraError naming `feature` and the command that installs what it needs."""
    if not has_models():
        raise MissingExtraError(f"{feature} need the local-model packages (torch, transformers), which this "
                                f"install does not have. Install them with: {INSTALL_MODELS}")
