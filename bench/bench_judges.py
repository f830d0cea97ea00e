"""Benchmark: items/s of a pairwise judge run on CPU, and the pipeline's overhead over bare forward passes.

Target (issue 4): our overhead <= 20% over the model's own forward passes on the same batches.

For each backend (the tiny reward model and the tiny causal LM of annotate.judges.tiny, and a
larger "small" variant whose forward pass costs more like a real model's share) and batch size:
- pipeline: `run_judge` over N items in both orders into a fresh DuckDB file, the model already
  loaded (pending-unit query, prompts, tokenization, forward, verdict math, un-swapping, the
  batch's DataFrame insert and run-row update, the cancel check);
- bare: only the model's forward passes on exactly the batches the pipeline built (the same
  tokenized tensors), timed alone.
overhead = pipeline time / bare time - 1. Items come from the PandaLM test set when it is there
(real instruction/response lengths), else synthetic text.

Times are the best of --repeats runs (the machine may be shared).

Usage: python bench/bench_judges.py [--items 200] [--batch-sizes 8,32] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PANDALM = ROOT.parent / "shared" / "data" / "pandalm" / "testset-v1.json"


def load_items(n: int) -> list[dict]:
    """n pairwise items: PandaLM's instructions and responses when available, else synthetic."""
    if PANDALM.is_file():
        rows = json.loads(PANDALM.read_text(encoding="utf-8"))[:n]
        return [{"id": str(r["idx"]), "prompt": r["instruction"] + ("\n" + r["input"] if r.get("input") else ""),
                 "response_a": str(r["response1"]), "response_b": str(r["response2"])} for r in rows]
    words = "the answer is likely correct because it explains each step clearly and briefly".split()
    return [{"id": f"s{i}", "prompt": " ".join(words[(i + k) % len(words)] for k in range(30)),
             "response_a": " ".join(words[(i * 3 + k) % len(words)] for k in range(80)),
             "response_b": " ".join(words[(i * 5 + k) % len(words)] for k in range(90))} for i in range(n)]


def fresh_project(folder: Path, items: list[dict], tag: str):
    import storage
    from annotate.config import ProjectConfig
    from annotate.data.importers import import_file
    from annotate.projects import create_project
    conn = storage.connect(folder / f"{tag}.duckdb")
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    import_file(conn, create_project(conn, "bench", ProjectConfig(task_type="pairwise")), path)
    return conn


def bare_seconds(judge, backend: str, units: list, batch_size: int) -> float:
    """Time only the forward passes, on the batches the pipeline gives the judge (same tensors)."""
    import torch
    from annotate.judges.hf import chat_text, encode
    total = 0.0
    for start in range(0, len(units), batch_size):
        requests = [u.request for u in units[start:start + batch_size]]
        if backend == "reward_model":
            pairs = list(dict.fromkeys((r.prompt, t) for r in requests for t in (r.first, r.second)))
            inputs = judge.inputs(pairs)
            model_call = lambda: judge.model(**inputs).logits  # noqa: E731
        else:
            texts = [chat_text(judge.tokenizer, judge.template.pairwise_messages(r.prompt, r.first, r.second, None, None),
                               True) + judge.template.answer_prefix for r in requests]
            inputs = encode(judge.tokenizer, texts, judge.config, judge.device)
            positions = (inputs["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)
            model_call = lambda: judge.model(**inputs, position_ids=positions).logits[:, -1, :]  # noqa: E731
        with torch.inference_mode():
            began = time.perf_counter()
            model_call()
            total += time.perf_counter() - began
    return total


def measure(folder: Path, items: list[dict], paths: dict, backend: str, batch_size: int, repeats: int) -> dict:
    """Best of `repeats` for the pipeline (each into a fresh store) and for the bare forward passes."""
    from annotate.judges import JudgeConfig, make_judge, run_judge
    from annotate.judges.runs import pending_units, register_judge
    from annotate.projects import get_project
    config = JudgeConfig(name=f"bench-{backend}", backend=backend, model=str(paths[backend]), device="cpu",
                         mode="logits")
    judge, pipeline, bare = None, [], []
    for repeat in range(repeats):
        conn = fresh_project(folder, items, f"{backend}-{batch_size}-{repeat}-{time.monotonic_ns()}")
        judge_id, template = register_judge(conn, config, "pairwise")
        judge = judge or make_judge(config, template)
        units = pending_units(conn, get_project(conn, "bench"), judge_id)
        bare_seconds(judge, backend, units[:batch_size], batch_size)  # warm-up
        bare.append(bare_seconds(judge, backend, units, batch_size))
        began = time.perf_counter()
        report = run_judge(conn, "bench", config, batch_size=batch_size, judge=judge)
        pipeline.append(time.perf_counter() - began)
        conn.close()
    return {"backend": backend, "batch": batch_size, "judgments": report.n_done,
            "items/s": len(items) / min(pipeline), "bare items/s": len(items) / min(bare),
            "overhead %": 100 * (min(pipeline) / min(bare) - 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-sizes", default="8,32")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    import torch
    from transformers.utils import logging as hf_logging
    from annotate.judges.tiny import build_tiny_models
    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    items = load_items(args.items)
    texts = [" ".join(r.values()) for r in items]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = {"tiny (h=32, 2 layers)": build_tiny_models(folder / "tiny", texts),
                 "small (h=256, 4 layers)": build_tiny_models(folder / "small", texts, hidden_size=256, layers=4)}
        for size, paths in sizes.items():
            for backend in ("reward_model", "causal_lm"):
                for batch_size in (int(b) for b in args.batch_sizes.split(",")):
                    rows.append({"model": size} | measure(folder, items, paths, backend, batch_size,
                                                              args.repeats))
    print(f"\nPairwise judge runs, {args.items} items x 2 orders, CPU, {args.threads} torch threads")
    header = ["model", "backend", "batch", "judgments", "items/s", "bare items/s", "overhead %"]
    print(" | ".join(f"{h:>23}" if i == 0 else f"{h:>12}" for i, h in enumerate(header)))
    for row in rows:
        print(" | ".join(f"{row[h]:>23}" if i == 0 else (f"{row[h]:>12.1f}" if isinstance(row[h], float) else
                                                         f"{row[h]:>12}") for i, h in enumerate(header)))


if __name__ == "__main__":
    main()
