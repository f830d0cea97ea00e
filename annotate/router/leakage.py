"""The leak guard: drop an opted-in metadata column that alone predicts the human labels.

A metadata column such as a leftover `raw_label` or an annotator's earlier verdict encodes the very
label the router is asked to predict; as a feature it takes simulated accuracy to ~100% and makes
every number meaningless. Before a fit, each metadata column the project opted in
(`router_metadata`) is tested on the calibration slice, the random, unbiased part of the bought
labels: predict each calibration item's human class from the other calibration items that share
its value of the column (the plurality class among them; the overall plurality when no other item
shares it). This leave-one-out accuracy is an honest estimate of what the column alone knows: a
column with one value per item cannot score by memorising. A column whose accuracy exceeds
LEAK_ACCURACY is excluded and named in a warning. With fewer than MIN_CALIBRATION labelled
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


def loo_accuracy(codes: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out accuracy of predicting `labels` from the plurality label of the other items
    with the same code (the overall plurality of the others where none shares it)."""
    classes, y = np.unique(labels, return_inverse=True)
    levels, level = np.unique(codes, return_inverse=True)
    counts = np.zeros((len(levels), len(classes)))
    np.add.at(counts, (level, y), 1)
    totals = counts.sum(axis=0)
    hits = 0
    for i in range(len(labels)):
        own = counts[level[i]].copy()
        own[y[i]] -= 1
        if own.sum() == 0 or codes[i] < 0:
            own = totals.copy()
            own[y[i]] -= 1
        hits += int(np.argmax(own) == y[i])
    return hits / len(labels)


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
        accuracy = loo_accuracy(codes[labelled], known[labelled])
        if accuracy > LEAK_ACCURACY:
            check.excluded.append(key)
            check.warnings.append(f"Metadata column '{key}' alone predicts {accuracy:.0%} of the "
                                  f"{int(labelled.sum())} calibration labels: it probably encodes the label, "
                                  f"so the router does not use it")
    return check
