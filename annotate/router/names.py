"""Strategy names and defaults, apart from the models so that the CLI can list them without
loading scikit-learn."""
from __future__ import annotations

HEURISTICS = ("random", "uncertainty", "inconsistency", "disagreement")
STATIC = ("all-ai", "all-human", *HEURISTICS)
LEARNED = ("learned", "hyper")
STRATEGIES = STATIC + LEARNED
# The learned strategy starts from the first available of these and moves on only on evidence.
PRIOR_ORDER = ("disagreement", "inconsistency", "uncertainty", "random")
DEFAULT_STRATEGIES = ("all-ai", "random", "uncertainty", "inconsistency", "disagreement", "hyper", "learned",
                      "oracle", "all-human")
RUBRIC_ONLY = ("spread", "calibration")  # rubric projects: judges' score spread, calibration misses
AI_LABELS = ("judge", "model")
SPLITS = ("all", "dev", "test")
DEFAULT_EVERY_N = 20
