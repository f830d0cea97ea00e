"""Per-item features for routing: text statistics, judge confidence and agreement, sibling evidence.

Static features (computed once per project and judge):
- lengths: prompt characters, log(1 + characters) of each response and their difference (B - A);
- lexical overlap: token Jaccard |T_a & T_b| / |T_a | T_b| over lower-cased word tokens, and
  whether the two responses are identical after stripping (identical responses are usually ties);
- embedding cosine of the two responses (all-MiniLM-L6-v2; optional, see router/embeddings.py);
- per judge: P(A), P(tie), P(B) of its combined verdict (annotate.analysis.verdicts), margin = p(1) - p(2)
  of the sorted probabilities, normalised entropy H = -sum p log p / log 3, unparsed, A/B swap
  inconsistency; across judges: share of the other judges whose verdict differs from the primary's;
- sibling consistency per judge: items that share a prompt and a response text (the same model
  answering the same prompt, compared against different opponents) imply a per-response score
  (wins minus losses); a verdict that contradicts the judge's own verdicts on the siblings
  (sign(score_B - score_A) != sign(verdict)) is intransitive, hence suspect;
- categories: one-hot of the response models, and of the metadata columns a project names in
  `router_metadata` (opt-in: a leftover column that encodes the label would otherwise leak it into
  the model; `annotate/router/leakage.py` drops a named column that alone predicts the
  calibration slice's human labels). A named column with 2..MAX_LEVELS distinct values is one-hot
  encoded; a numeric column with more values enters as one numeric feature.
- derived: the primary judge's verdict sign, and how much longer the response it prefers is
  (length difference x verdict sign; a length bias is an error signal no single heuristic sees).

Dynamic features (`human_evidence`) use the human labels bought so far on sibling items, the same
score computed from human verdicts, excluding the item's own label.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from annotate.errors import AnnotateError
from annotate.signs import verdict_signs

MAX_LEVELS = 64
TOKEN = re.compile(r"\w+")
VERDICT = {-1.0: "A", 0.0: "tie", 1.0: "B"}
HUMAN_COLUMNS = ["human_sibling_score", "human_sibling_strength", "has_human_sibling", "human_sibling_agrees_ai"]


@dataclass
class ItemFeatures:
    """Features of a project's items in item order.

    Attributes:
        item_ids: item ids, the row order of everything below.
        frame: named static features (rows = items), the feature snapshot and the explanations.
        ai_label: the AI's final label per item as a signed class (-1 A, 0 tie, 1 B; NaN when no
            judge parsed): the primary judge's verdict, else the first other judge that parsed.
        ai_source: the judge name that gave ai_label (None where NaN).
        judge_signs: {judge name: signed verdict, NaN when unparsed}; the primary judge first.
        text_a, text_b: codes of (prompt, response text) for sibling evidence; n_texts codes in all.
        has_both_orders: whether the primary judge judged some items in both A/B orders (the
            inconsistency heuristic needs it).
        metadata_groups: {metadata column: the frame's feature columns built from it}.
        metadata_codes: {metadata column: a level code per item (-1 missing)}, for the leak guard.
        external_ids: the dataset's own item ids (item order), when the items frame has them.
    """
    item_ids: np.ndarray
    frame: pd.DataFrame
    ai_label: np.ndarray
    ai_source: list
    judge_signs: dict[str, np.ndarray]
    text_a: np.ndarray
    text_b: np.ndarray
    n_texts: int
    primary: str
    has_both_orders: bool = False
    metadata_groups: dict[str, list[str]] = field(default_factory=dict)
    metadata_codes: dict[str, np.ndarray] = field(default_factory=dict)
    external_ids: np.ndarray | None = None
    matrix_: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.matrix_ = standardize(self.frame.to_numpy(dtype=float))

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def n_judges(self) -> int:
        return len(self.judge_signs)

    def matrix(self, excluded: tuple[str, ...] | list[str] = ()) -> np.ndarray:
        """The standardised feature matrix without the columns built from the `excluded`
        metadata columns (see leakage.py)."""
        drop = {c for key in excluded for c in self.metadata_groups.get(key, [])}
        if not drop:
            return self.matrix_
        keep = ~self.frame.columns.isin(list(drop))
        return self.matrix_[:, keep]

    def column_names(self, excluded: tuple[str, ...] | list[str] = ()) -> list[str]:
        """Names of the columns of `matrix(excluded)`."""
        drop = {c for key in excluded for c in self.metadata_groups.get(key, [])}
        return [c for c in self.frame.columns if c not in drop]


def standardize(x: np.ndarray) -> np.ndarray:
    """Z-score each column over all items (unsupervised); constant columns become 0."""
    x = np.nan_to_num(x, nan=0.0)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def build_features(items: pd.DataFrame, responses: pd.DataFrame, verdicts: pd.DataFrame, primary_judge_id: int,
                   cosine: np.ndarray | None = None, metadata_columns: list[str] | tuple[str, ...] = ()) -> ItemFeatures:
    """Compute the static features of a pairwise project.

    Args:
        items: storage.items.items_frame (item_id, prompt, context, metadata).
        responses: storage.items.responses_frame (item_id, idx 0/1, text, model).
        verdicts: annotate.analysis.verdicts.combined_verdicts of every judge of the project.
        primary_judge_id: the judge whose verdict is the AI label.
        cosine: embedding cosine per item (item order), or None to leave the feature out.
        metadata_columns: the metadata keys the project opted in as features (`router_metadata`).

    Raises:
        AnnotateError: a named metadata column is missing or has text values with too many levels.
    """
    items = items.sort_values("item_id").reset_index(drop=True)
    pairs = responses.pivot(index="item_id", columns="idx").reindex(items["item_id"])
    text_a = pairs[("text", 0)].fillna("").astype(str).to_numpy()
    text_b = pairs[("text", 1)].fillna("").astype(str).to_numpy()
    prompt_key = (items["prompt"].astype(str) + "\x00" + items["context"].fillna("").astype(str)).to_numpy()
    frame = text_features(items["prompt"].astype(str).to_numpy(), text_a, text_b)
    if cosine is not None:
        frame["embedding_cosine"] = cosine
    judge_frame, signs = judge_features(verdicts, items["item_id"].to_numpy(), primary_judge_id)
    codes, uniques = pd.factorize(np.concatenate([prompt_key + "\x01" + text_a, prompt_key + "\x01" + text_b]))
    n = len(items)
    ai_label, ai_source = _ai_labels(signs)
    for name, sign in signs.items():
        score, _ = sibling_evidence(codes[:n], codes[n:], len(uniques), sign)
        judge_frame[f"{name}:sibling_score"] = score
        judge_frame[f"{name}:sibling_consistency"] = np.nan_to_num(np.sign(score) * sign)
        judge_frame[f"{name}:sibling_agrees_ai"] = np.nan_to_num(np.sign(score) * ai_label)
    judge_frame["ai_sign"] = np.nan_to_num(ai_label)
    judge_frame["ai_prefers_longer"] = np.nan_to_num(frame["length_difference"].to_numpy() * ai_label)
    categories = category_features(items["metadata"], pairs[("model", 0)], pairs[("model", 1)])
    metadata, groups, level_codes = metadata_features(items["metadata"], list(metadata_columns))
    frame = pd.concat([frame, judge_frame, categories, metadata], axis=1)
    frame.index = items["item_id"].to_numpy()
    primary_rows = verdicts[verdicts["judge_id"] == primary_judge_id]
    both_orders = bool((primary_rows["n_judgments"] >= 2).any()) if "n_judgments" in primary_rows else False
    return ItemFeatures(items["item_id"].to_numpy(), frame, ai_label, ai_source, signs, codes[:n], codes[n:],
                        len(uniques), next(iter(signs)), both_orders, groups, level_codes,
                        items["external_id"].astype(str).to_numpy() if "external_id" in items else None)


def text_features(prompts: np.ndarray, text_a: np.ndarray, text_b: np.ndarray) -> pd.DataFrame:
    """Lengths, length difference, token Jaccard overlap and identity of the two responses."""
    len_a = np.log1p(np.fromiter(map(len, text_a), float, len(text_a)))
    len_b = np.log1p(np.fromiter(map(len, text_b), float, len(text_b)))
    overlap = np.fromiter((_jaccard(a, b) for a, b in zip(text_a, text_b)), float, len(text_a))
    identical = np.fromiter((a.strip() == b.strip() for a, b in zip(text_a, text_b)), float, len(text_a))
    return pd.DataFrame({"prompt_length": np.log1p(np.fromiter(map(len, prompts), float, len(prompts))),
                         "length_a": len_a, "length_b": len_b, "length_difference": len_b - len_a,
                         "token_overlap": overlap, "is_identical": identical})


def _jaccard(a: str, b: str) -> float:
    tokens_a, tokens_b = set(TOKEN.findall(a.lower())), set(TOKEN.findall(b.lower()))
    union = len(tokens_a | tokens_b)
    return len(tokens_a & tokens_b) / union if union else 1.0


def judge_features(verdicts: pd.DataFrame, item_ids: np.ndarray,
                   primary_judge_id: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per-judge probabilities, margin, entropy, unparsed and inconsistency flags, and disagreement.

    Returns:
        (frame in item order, {judge name: signed verdict (NaN unparsed)} with the primary first).
    """
    judges = verdicts[["judge_id", "judge"]].drop_duplicates().sort_values("judge_id")
    if primary_judge_id not in set(judges["judge_id"]):
        raise AnnotateError(f"Judge {primary_judge_id} has no verdicts on the {len(item_ids)} items being routed")
    order = [primary_judge_id] + [j for j in judges["judge_id"] if j != primary_judge_id]
    names = dict(zip(judges["judge_id"], judges["judge"]))
    columns, signs = {}, {}
    for judge_id in order:
        rows = verdicts[verdicts["judge_id"] == judge_id].set_index("item_id").reindex(item_ids)
        probs = rows[["p_a", "p_tie", "p_b"]].to_numpy(dtype=float)
        parsed = ~np.isnan(probs).any(axis=1)
        probs = np.where(parsed[:, None], probs, 1 / 3)
        ordered = np.sort(probs, axis=1)
        entropy = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1) / np.log(3)
        name = names[judge_id]
        columns.update({f"{name}:p_a": probs[:, 0], f"{name}:p_tie": probs[:, 1], f"{name}:p_b": probs[:, 2],
                        f"{name}:margin": ordered[:, 2] - ordered[:, 1], f"{name}:entropy": entropy,
                        f"{name}:is_unparsed": (~parsed).astype(float),
                        f"{name}:is_inconsistent": rows["is_inconsistent"].fillna(False).astype(float).to_numpy()})
        signs[name] = verdict_signs(rows["verdict"])
    columns["judges_disagree"] = _disagreement(list(signs.values()))
    return pd.DataFrame(columns), signs


def _disagreement(signs: list[np.ndarray]) -> np.ndarray:
    """Share of the other judges whose verdict differs from the primary's (unparsed counts as
    differing); 0 with a single judge."""
    if len(signs) < 2:
        return np.zeros(len(signs[0]))
    primary = signs[0]
    differs = [~(other == primary) for other in signs[1:]]
    return np.mean(differs, axis=0).astype(float)


def sibling_evidence(text_a: np.ndarray, text_b: np.ndarray, n_texts: int,
                     signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sibling score difference and evidence count per item, from verdicts on other items.

    Each known verdict v (signed, negative = A better) adds -v to the score of its A text and +v to
    its B text. For item i, score_B - score_A is summed over all known verdicts except i's own
    (leave-one-out, so a training row never sees its own label); NaN signs are unknown.

    Returns:
        (score difference, number of sibling verdicts touching the item's two texts).
    """
    known = ~np.isnan(signs)
    v = np.where(known, signs, 0.0)
    score = np.bincount(text_b, v, n_texts) - np.bincount(text_a, v, n_texts)
    count = np.bincount(text_a, known, n_texts) + np.bincount(text_b, known, n_texts)
    difference = (score[text_b] - v) - (score[text_a] + v)
    same = text_a == text_b  # both responses the same text: every verdict on it cancels out
    difference = np.where(same, 0.0, difference)
    return difference, count[text_a] + count[text_b] - 2 * known * (1 + same)


def human_evidence(features: ItemFeatures, known: np.ndarray) -> np.ndarray:
    """HUMAN_COLUMNS plus `human_sibling_agrees:<judge>` per judge, from the human classes in
    `known` (NaN = not bought), standardised.

    Only `known` is read: the caller passes exactly the labels it has bought.
    """
    score, count = sibling_evidence(features.text_a, features.text_b, features.n_texts, known)
    agrees = [np.nan_to_num(np.sign(score) * sign) for sign in [features.ai_label, *features.judge_signs.values()]]
    return standardize(np.c_[score, np.abs(score), (count > 0).astype(float), *agrees])


def category_features(metadata: pd.Series, model_a: pd.Series, model_b: pd.Series) -> pd.DataFrame:
    """One-hot columns `model_a=M` / `model_b=M` of the response models (2..MAX_LEVELS models)."""
    columns = {}
    columns.update(_one_hot("model_a", pd.Series(model_a.to_numpy())))
    columns.update(_one_hot("model_b", pd.Series(model_b.to_numpy())))
    return pd.DataFrame(columns, index=range(len(metadata)))


def metadata_features(metadata: pd.Series, keys: list[str]) -> tuple[pd.DataFrame, dict[str, list[str]],
                                                                      dict[str, np.ndarray]]:
    """Features of the opted-in metadata columns `keys`.

    A column with 2..MAX_LEVELS distinct values becomes one-hot columns `meta:KEY=VALUE`; a numeric
    column with more values becomes `meta:KEY`. Level codes per item (numeric columns in deciles)
    feed the leak guard.

    Returns:
        (frame, {key: its columns}, {key: level code per item, -1 where missing}).

    Raises:
        AnnotateError: a key is in no item's metadata, or is text with more than MAX_LEVELS values.
    """
    parsed = [json.loads(m) if isinstance(m, str) and m else {} for m in metadata]
    columns, groups, codes = {}, {}, {}
    for key in keys:
        values = pd.Series([r.get(key) if isinstance(r, dict) else None for r in parsed], dtype=object)
        values = values.map(lambda v: v if isinstance(v, (str, int, float, bool)) else None)
        distinct = values.dropna().astype(str).unique()
        if len(distinct) == 0:
            raise AnnotateError(f"Router metadata column '{key}': no item has it (check the project's "
                                f"router_metadata setting)")
        numeric = pd.to_numeric(values, errors="coerce")
        if len(distinct) <= MAX_LEVELS:
            new = _one_hot(f"meta:{key}", values)
            codes[key] = pd.factorize(values.astype(str).where(values.notna(), None), sort=True)[0]
        elif numeric.notna().sum() == values.notna().sum():
            new = {f"meta:{key}": numeric.to_numpy(dtype=float)}
            codes[key] = pd.qcut(numeric, 10, labels=False, duplicates="drop").fillna(-1).to_numpy(dtype=int)
        else:
            raise AnnotateError(f"Router metadata column '{key}' has {len(distinct)} distinct text values; "
                                f"the router uses text columns with at most {MAX_LEVELS} values, or numbers")
        columns.update(new)
        groups[key] = list(new)
    return pd.DataFrame(columns, index=range(len(parsed))), groups, codes


def _one_hot(prefix: str, values: pd.Series) -> dict[str, np.ndarray]:
    levels = values.dropna().astype(str)
    distinct = levels.unique()
    if not 2 <= len(distinct) <= MAX_LEVELS:
        return {}
    text = values.astype(object).where(values.notna(), None)
    return {f"{prefix}={level}": (text.astype(str) == level).to_numpy(dtype=float) for level in sorted(distinct)}


def _ai_labels(signs: dict[str, np.ndarray]) -> tuple[np.ndarray, list]:
    label = np.full(len(next(iter(signs.values()))), np.nan)
    source = np.full(len(label), None, dtype=object)
    for name, sign in signs.items():
        fill = np.isnan(label) & ~np.isnan(sign)
        label[fill], source[fill] = sign[fill], name
    return label, list(source)
