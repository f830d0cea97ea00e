"""Writing export rows: JSONL, Parquet and CSV files (streamed in chunks), and Hugging Face datasets.

CSV cells that begin with =, +, -, @, a tab or a carriage return get a leading single quote so a
spreadsheet shows them as text instead of running them as formulas (OWASP, "CSV Injection").
Nested cells (lists of label values, judge probabilities) become JSON text in CSV. Only CSV is
escaped: JSONL, Parquet and Hugging Face datasets are read by programs (training code), so they
keep every text byte for byte. Every CSV the app writes goes through `csv_safe`: export files here,
and page downloads through `csv_bytes`.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import storage
from storage import export as export_store
from storage.db import Connection
from annotate.errors import AnnotateError

FILE_FORMATS = ("jsonl", "parquet", "csv")
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(AnnotateError):
    """An export cannot be made as asked (wrong kind for the task type, offline push, ...)."""


def csv_safe(rows: pd.DataFrame) -> pd.DataFrame:
    """A copy with nested cells as JSON text and every formula-like text cell escaped."""
    out = rows.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object and series.map(lambda v: isinstance(v, (list, dict, np.ndarray))).any():
            series = series.map(_json_cell)
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            is_formula = series.astype("string").str.startswith(CSV_TRIGGERS).fillna(False).astype(bool)
            series = series.where(~is_formula, "'" + series.astype("string"))
        out[column] = series
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV bytes with formula-like cells escaped (for download buttons)."""
    return csv_safe(frame).to_csv(index=False).encode("utf-8")


def _json_cell(value: object) -> object:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=_plain)
    return value


def _plain(value: object) -> object:
    return value.tolist() if isinstance(value, np.ndarray) else str(value)


def write_chunks(conn: Connection, chunks: Iterable[pd.DataFrame], path: str | Path,
                 file_format: str, schema: pa.Schema | None = None) -> int:
    """Write row chunks to one file, chunk by chunk so memory stays bounded; return the row count.

    Args:
        file_format: 'jsonl' (one object a line, UTF-8; NaN as null), 'parquet', or 'csv' (one
            header; formula cells escaped).
        schema: the Arrow schema of Parquet chunks (needed when a column can be all-null in one
            chunk and text in another); inferred from the first chunk when None.
    """
    if file_format not in FILE_FORMATS:
        raise ExportError(f"Unknown file format '{file_format}' (use {', '.join(FILE_FORMATS)})")
    if file_format == "parquet":
        return _write_parquet(chunks, Path(path), schema)
    rows = 0
    with open(path, "wb") as out, tempfile.TemporaryDirectory() as folder:
        part = Path(folder) / "part"
        for number, chunk in enumerate(chunks):
            frame = csv_safe(chunk) if file_format == "csv" else chunk
            export_store.write_text_rows(storage.cursor(conn), frame, str(part),
                                         "csv" if file_format == "csv" else "json", header=number == 0)
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, out)
            rows += len(chunk)
    return rows


def _write_parquet(chunks: Iterable[pd.DataFrame], path: Path, schema: pa.Schema | None) -> int:
    rows, writer = 0, None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table)
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return rows


def save_hf(rows: pd.DataFrame, card: str, out: Path, push_to: str | None = None) -> None:
    """Save rows as a DatasetDict (split 'train') with the README.md card; push when asked.

    Raises:
        ExportError: push_to given while offline (HF_HUB_OFFLINE) or without HF_TOKEN, or the
            push failed. The dataset is on disk in every case.
    """
    from datasets import Dataset, DatasetDict

    dataset = DatasetDict({"train": Dataset.from_pandas(rows, preserve_index=False)})
    dataset.save_to_disk(str(out))
    (out / "README.md").write_text(card, encoding="utf-8")
    if push_to:
        _push(dataset, card, push_to)


def _push(dataset, card: str, repo_id: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ExportError(f"Cannot push to the Hugging Face Hub repo '{repo_id}': this machine is offline "
                          f"(HF_HUB_OFFLINE is set). The dataset was saved to disk")
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ExportError(f"Cannot push to '{repo_id}': set HF_TOKEN to a Hugging Face write token. "
                          f"The dataset was saved to disk")
    from huggingface_hub import DatasetCard

    try:
        dataset.push_to_hub(repo_id, token=token)
        DatasetCard(card).push_to_hub(repo_id, token=token, repo_type="dataset")
    except Exception as exc:  # the hub client raises many kinds of network and HTTP errors
        raise ExportError(f"Pushing to '{repo_id}' failed: {exc}. The dataset was saved to disk") from exc
