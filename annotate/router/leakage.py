"""The leak guard: drop an opted-in metadata column that alone predicts the human labels.

A metadata column such as a leftover `raw_label` or an annotator's earlier verdict encodes the very
label the router is asked to predict; as a feature it takes simulated accuracy to ~100% and makes
every number meaningless. Before a fit, each metadata column the project opted in
(`router_metadata`) is tested on the calibration slice, the random, unbiased part of the bought
labels: predict each calibration item's human class from the other calibration items that share
its value of the column (the plurality class among them; an item no other shares its value with
is not counted). This leave-one-out accuracy is an honest estimate of what the column alone knows: a
column with one value per item cannot score by memorising. A column whose accuracy exceeds
LEAK_ACCURACY (over at least MIN_CALIBRATION / 2 items that share their value with another
calibration item) is excluded and named in a warning. With fewer than MIN_CALIBRATION labelled
calibration items the test has no power, so the opted-in columns are left out until it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotate.router.features import ItemFeatures

LEAK_ACCURACY = 0.98
MIN_CALIBRATION = 8


@dataclass
class LeakCheck:
    """excluded: metadata columns left out of the features; warnings: one sentence per column."""
    excluded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def loo_accuracy(codes: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """Leave-one-out accuracy of predicting `labels` from the plurality label of the other items
    with the same code, over the items that share their code with at least one other item (an
    item alone in its level, or without a value, says nothing about the column).

    Returns:
        (accuracy, NaN when no item can be evaluated; the number of items evaluated).
    """
    classes, y = np.unique(labels, return_inverse=True)
    _, level = np.unique(codes, return_inverse=True)
    counts = np.zeros((level.max() + 1 if len(level) else 0, len(classes)))
    np.add.at(counts, (level, y), 1)
    hits, evaluated = 0, 0
    for i in range(len(labels)):
        own = counts[level[i]].copy()
        own[y[i]] -= 1
        if own.sum() == 0 or codes[i] < 0:
            continue
        evaluated += 1
        hits += int(np.argmax(own) == y[i])
    return (hits / evaluated if evaluated else float("nan")), evaluated


def check_leaks(features: ItemFeatures, known: np.ndarray, calibration: np.ndarray) -> LeakCheck:
    """Test each opted-in metadata column on the labelled calibration items (see the module docstring).

    Args:
        known: the bought human classes per item (NaN = not bought).
        calibration: boolean mask of the calibration slice.
    """
    check = LeakCheck()
    labelled = calibration & ~np.isnan(known)
    for key, codes in features.metadata_codes.items():
        if labelled.sum() < MIN_CALIBRATION:
            check.excluded.append(key)
            continue
        accuracy, evaluated = loo_accuracy(codes[labelled], known[labelled])
        if evaluated >= MIN_CALIBRATION // 2 and accuracy > LEAK_ACCURACY:
            check.excluded.append(key)
            check.warnings.append(f"Metadata column '{key}' alone predicts {accuracy:.0%} of the "
                                  f"{int(labelled.sum())} calibration labels: it probably encodes the label, "
                                  f"so the router does not use it")
    return check
