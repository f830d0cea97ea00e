"""Benchmark the router: features + routing for 100K synthetic items, and the PandaLM simulation table.

Run: `python bench/bench_router.py [--items 100000] [--seeds 10] [--encode 200]`. Prints tables.
Target (issue 6): features + routing of 100K items < 10 s without embeddings. The embedding row
times the cached path (a warm cache holding a vector for every text: lookup + cosine); encoding
cost is measured on `--encode` fresh texts and extrapolated per text.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import storage  # noqa: E402
from annotate.data.adapters import import_items  # noqa: E402
from annotate.hashing import stable_hash  # noqa: E402
from annotate.router.embeddings import MODEL_NAME, embed_texts, response_cosine  # noqa: E402
from annotate.router.features import build_features  # noqa: E402
from annotate.router.routing import _decisions  # noqa: E402
from annotate.router.simulate import simulate  # noqa: E402
from annotate.router.strategies import make_router, top_k  # noqa: E402
from storage import routing as store  # noqa: E402

PANDALM = Path(__file__).resolve().parents[2] / "shared" / "data" / "pandalm"
WORDS = np.array("the a model answer is correct wrong because first second better code math list city "
                 "value result steps explain python number text short long".split())


def synthetic(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """n items over n/6 prompts, two judges with probabilities (judge 1) and hard verdicts (judge 2)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    prompts = [f"prompt {i // 6} " + " ".join(rng.choice(WORDS, 8)) for i in range(n)]
    items = pd.DataFrame({"item_id": ids, "prompt": prompts, "context": None,
                          "metadata": [f'{{"topic": "t{i % 12}"}}' for i in range(n)]})
    texts = [" ".join(rng.choice(WORDS, rng.integers(5, 60))) for _ in range(2 * n)]
    responses = pd.DataFrame({"item_id": np.repeat(ids, 2), "idx": np.tile([0, 1], n), "text": texts,
                              "model": rng.choice(["m1", "m2", "m3", "m4", "m5"], 2 * n)})
    probs = rng.dirichlet([1, 0.3, 1], n)
    verdicts = pd.DataFrame({"item_id": np.r_[ids, ids], "judge_id": np.repeat([1, 2], n),
                             "judge": np.repeat(["j1", "j2"], n), "p_a": np.r_[probs[:, 0], np.zeros(n)],
                             "p_tie": np.r_[probs[:, 1], np.zeros(n)], "p_b": np.r_[probs[:, 2], np.ones(n)],
                             "n_judgments": 2, "n_parsed": 2, "is_inconsistent": rng.random(2 * n) < 0.1})
    verdicts["verdict"] = np.array(["A", "tie", "B"])[verdicts[["p_a", "p_tie", "p_b"]].to_numpy().argmax(1)]
    return items, responses, verdicts


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_scale(n: int, encode: int) -> pd.DataFrame:
    items, responses, verdicts = synthetic(n)
    rows = []
    features, t_features = timed(lambda: build_features(items, responses, verdicts, 1))
    rng = np.random.default_rng(0)
    known = np.full(n, np.nan)
    sample = rng.choice(n, 1000, replace=False)
    known[sample] = rng.choice([-1.0, 0.0, 1.0], 1000)
    for strategy in ("disagreement", "learned"):
        def route():
            router = make_router(strategy, rng).fit(features, known)
            human = ~np.isnan(known)
            human[top_k(router.gain_, ~human, n // 10, rng)] = True
            return _decisions(features, router, human, np.zeros(n, dtype=bool))
        _, t_route = timed(route)
        rows.append({"items": n, "embeddings": "none", "strategy": strategy, "features_s": t_features,
                     "routing_s": t_route, "total_s": t_features + t_route})
    with tempfile.TemporaryDirectory() as folder:
        conn = storage.connect(Path(folder) / "bench.duckdb")
        texts = responses.sort_values(["item_id", "idx"])["text"].tolist()
        _, t_encode = timed(lambda: embed_texts(conn, texts[:encode]))
        hashes = sorted({stable_hash(t) for t in texts})
        vectors = np.random.default_rng(1).normal(size=(len(hashes), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        storage.write(conn, lambda cur: store.insert_embeddings(cur, MODEL_NAME, hashes, vectors))
        cosine, t_cached = timed(lambda: response_cosine(conn, texts[0::2], texts[1::2]))
        conn.close()
    with_cosine, t_features_cos = timed(lambda: build_features(items, responses, verdicts, 1, cosine))
    rows.append({"items": n, "embeddings": "cached", "strategy": "features only", "features_s": t_features_cos + t_cached,
                 "routing_s": np.nan, "total_s": t_features_cos + t_cached})
    print(f"MiniLM encoding on this machine: {encode} fresh texts in {t_encode:.1f} s "
          f"({1000 * t_encode / max(encode, 1):.1f} ms/text, so {2 * n} texts ~ {2 * n * t_encode / max(encode, 1) / 60:.0f} min "
          f"uncached, once); cache lookup + cosine for {2 * n} texts: {t_cached:.2f} s")
    return pd.DataFrame(rows)


def bench_pandalm(seeds: int) -> None:
    if not (PANDALM / "testset-v1.json").is_file():
        print(f"PandaLM data not found at {PANDALM}; skipping the simulation table")
        return
    with tempfile.TemporaryDirectory() as folder:
        conn = storage.connect(Path(folder) / "pandalm.duckdb")
        import_items(conn, "pandalm", PANDALM, adapter="pandalm")
        result, seconds = timed(lambda: simulate(conn, "pandalm", "gpt-3.5-turbo", [0.1, 0.2, 0.3, 0.5], seeds))
        conn.close()
    table = result.summary.assign(cell=lambda f: f["mean"].map("{:.3f}".format) + " ± " + f["std"].map("{:.3f}".format))
    print(f"\nPandaLM, judge gpt-3.5-turbo (+ pandalm-7b), {result.n_items} items, {seeds} seeds, "
          f"accuracy of final labels vs gold (mean ± std), {seconds:.0f} s")
    print(table.pivot(index="strategy", columns="budget", values="cell").fillna("").to_string())
    print("\nArea under the budget curve (budgets 0.1-0.5)")
    print(result.auc.sort_values("mean").round(4).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--encode", type=int, default=200)
    args = parser.parse_args()
    print(bench_scale(args.items, args.encode).round(2).to_string(index=False))
    bench_pandalm(args.seeds)


if __name__ == "__main__":
    main()
