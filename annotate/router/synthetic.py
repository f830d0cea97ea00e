"""A synthetic pairwise dataset whose known structure punishes every single routing heuristic.

The held-out public sets of issue 16 cannot be downloaded here, so the benchmark also reports this
set. Its structure (all of it hidden from the router):

- `n_items` items over n_items / 6 prompts; each prompt is answered by 4 models, and its 6 items
  are the pairs of those answers (so responses are shared, as in PandaLM).
- Each response has a latent quality q ~ N(0, 1); the true class of a pair is the sign of
  q_B - q_A, a tie when |q_B - q_A| < 0.3 (about 16% ties). Three annotators each report the
  true class with probability 0.85, else another class at random; gold is their reference label.
- The primary judge judges every item in both A/B orders and is wrong on about 30% of items.
  Each item belongs to one of four hidden segments of equal size, and in each the judge's errors
  show in a different signal, while the other signals fire at their base rate, unrelated to errors:
    * flip: an error makes the verdict flip when A/B are swapped (80%; 5% of correct items);
    * disagree: an error makes the second judge disagree (85%; 10% of correct items);
    * unsure: an error comes with a low top probability (0.40-0.55; correct items 0.60-0.95);
    * length: the judge prefers the longer response (90% of items), so it is wrong whenever the
      humans prefer the shorter one; the two responses differ a lot in length here (elsewhere a
      little), and no heuristic looks at lengths.
  So uncertainty-first, inconsistency-first and disagreement-first each find the errors of one or
  two segments, random finds none in particular, and a model of the judge's errors that combines
  the signals (and sees the length preference) can find all four.

Outside the four signals every probability is drawn from the same distribution for right and
wrong verdicts. The generator is seeded; the benchmark reports a seed that was never used for tuning.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from annotate.signs import VERDICTS

SEGMENTS = ("flip", "disagree", "unsure", "length")
WORDS = np.array("the a model answer is correct wrong because first second better code math list city "
                 "value result steps explain python number text short long".split())


def _other(rng: np.random.Generator, signs: np.ndarray) -> np.ndarray:
    """A class different from each of `signs`, at random."""
    return ((signs + 1 + rng.integers(1, 3, len(signs))) % 3) - 1.0


def synthetic_dataset(n_items: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                                 pd.DataFrame]:
    """Items, responses, combined verdicts of two judges, and human labels (see the module docstring).

    Returns:
        items (item_id, external_id, prompt, context, metadata), responses (item_id, idx, text,
        model), verdicts (annotate.analysis.verdicts.COLUMNS; the primary judge is judge_id 1),
        labels (item_id, annotator_id, annotator, source, value).
    """
    rng = np.random.default_rng(seed)
    n_prompts = max(1, n_items // 6)
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    prompt = np.repeat(np.arange(n_prompts), 6)[:n_items]
    side_a = np.array([pairs[i % 6][0] for i in range(n_items)])
    side_b = np.array([pairs[i % 6][1] for i in range(n_items)])
    if rng.random() < 0.5:
        side_a, side_b = side_b, side_a
    quality = rng.normal(size=(n_prompts, 4))
    segment = rng.integers(0, 4, n_items)
    is_length = segment == SEGMENTS.index("length")
    base_length = rng.integers(30, 60, (n_prompts, 4))
    length_a = base_length[prompt, side_a] + np.where(is_length, 0, rng.integers(0, 10, n_items))
    length_b = base_length[prompt, side_b] + np.where(is_length, 0, rng.integers(0, 10, n_items))
    stretch = rng.random(n_items) < 0.5  # in the length segment one response is 3-5x longer
    factor = rng.uniform(3, 5, n_items)
    length_a = np.where(is_length & stretch, length_a * factor, length_a).astype(int)
    length_b = np.where(is_length & ~stretch, length_b * factor, length_b).astype(int)
    difference = quality[prompt, side_b] - quality[prompt, side_a]
    truth = np.where(np.abs(difference) < 0.3, 0.0, np.sign(difference))

    wrong = rng.random(n_items) < 0.3
    verdict = np.where(wrong, _other(rng, truth), truth)
    longer = np.sign(length_b - length_a).astype(float)
    prefers_longer = is_length & (rng.random(n_items) < 0.9)
    verdict = np.where(prefers_longer, longer, verdict)
    wrong = verdict != truth
    seg = np.array(SEGMENTS)[segment]
    flip = np.where((seg == "flip") & wrong, rng.random(n_items) < 0.8, rng.random(n_items) < 0.05)
    disagree = np.where((seg == "disagree") & wrong, rng.random(n_items) < 0.85, rng.random(n_items) < 0.10)
    top = rng.uniform(0.40, 0.95, n_items)
    top = np.where(seg == "unsure", np.where(wrong, rng.uniform(0.40, 0.55, n_items),
                                             rng.uniform(0.60, 0.95, n_items)), top)
    second = np.where(disagree, _other(rng, verdict), verdict)

    items = pd.DataFrame({"item_id": np.arange(1, n_items + 1), "external_id": [f"syn-{i}" for i in range(n_items)],
                          "prompt": [f"prompt {p}: " + " ".join(rng.choice(WORDS, 6)) for p in prompt],
                          "context": None, "metadata": "{}"})
    texts_a = [f"model {m} on prompt {p}: " + " ".join(rng.choice(WORDS, k)) for m, p, k in zip(side_a, prompt, length_a)]
    texts_b = [f"model {m} on prompt {p}: " + " ".join(rng.choice(WORDS, k)) for m, p, k in zip(side_b, prompt, length_b)]
    responses = pd.DataFrame({"item_id": np.repeat(items["item_id"], 2).to_numpy(), "idx": np.tile([0, 1], n_items),
                              "text": np.ravel(np.c_[texts_a, texts_b]),
                              "model": np.ravel(np.c_[side_a, side_b]).astype(str)})
    verdicts = pd.concat([_verdict_rows(items["item_id"], 1, "judge-1", verdict, top, flip),
                          _verdict_rows(items["item_id"], 2, "judge-2", second, rng.uniform(0.4, 0.95, n_items),
                                        rng.random(n_items) < 0.05)], ignore_index=True)
    labels = _annotators(rng, items["item_id"].to_numpy(), truth)
    return items, responses, verdicts, labels


def _verdict_rows(item_ids: pd.Series, judge_id: int, name: str, verdict: np.ndarray, top: np.ndarray,
                  flip: np.ndarray) -> pd.DataFrame:
    probs = np.repeat(((1 - top) / 2)[:, None], 3, axis=1)
    probs[np.arange(len(verdict)), verdict.astype(int) + 1] = top
    return pd.DataFrame({"item_id": item_ids.to_numpy(), "judge_id": judge_id, "judge": name,
                         "p_a": probs[:, 0], "p_tie": probs[:, 1], "p_b": probs[:, 2],
                         "verdict": np.asarray(VERDICTS, dtype=object)[verdict.astype(int) + 1],
                         "n_judgments": 2, "n_parsed": 2, "is_inconsistent": flip.astype(bool)})


def _annotators(rng: np.random.Generator, item_ids: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    frames = []
    for annotator in (1, 2, 3):
        right = rng.random(len(truth)) < 0.85
        value = np.where(right, truth, _other(rng, truth))
        frames.append(pd.DataFrame({"item_id": item_ids, "annotator_id": annotator, "annotator": f"rater-{annotator}",
                                    "source": "synthetic", "value": value}))
    return pd.concat(frames, ignore_index=True)
