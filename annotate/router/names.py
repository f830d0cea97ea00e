"""Strategy names and defaults, apart from the models so that the CLI can list them without
loading scikit-learn."""
from __future__ import annotations

STATIC = ("all-ai", "all-human", "random", "uncertainty", "disagreement")
LEARNED = ("learned", "hyper")
STRATEGIES = STATIC + LEARNED
DEFAULT_STRATEGIES = ("all-ai", "random", "uncertainty", "disagreement", "hyper", "learned", "oracle", "all-human")
DEFAULT_EVERY_N = 20
