"""Export labels as training and evaluation datasets, with provenance on every row.

Kinds of table (each written as JSONL, Parquet or CSV; `hf` saves a `datasets.DatasetDict`):
- `dpo`: one preference pair per item and aspect: prompt, chosen, rejected, label (the signed
  canonical value), strength (|label| on the project's scale), margin (strength / the scale's
  largest strength, 0..1, for margin losses as in Llama 2: Touvron et al. 2023, arXiv 2307.09288,
  section 3.2.2), soft label in chosen terms (p_chosen, p_tie, p_rejected), source, n_annotators,
  agreement, judge. A tie keeps A as `chosen` and B as `rejected` with strength 0 and is_tie true.
- `helpsteer2`: binarized pairs with HelpSteer2-Preference's preference_strength in -3..3
  (negative: response_1 better; Wang et al. 2024, arXiv 2410.01257). Mapping from our scales: a
  strength m among the scale's positive values p_1 < ... < p_K maps to round(1 + 2 (m - p_1) /
  (p_K - p_1)), signed; so the 5-point scale's "slightly better" (1) is 1 and "much better" (2) is 3,
  a 3-point scale (K = 1) maps "better" to 2, a 7-point scale -3..3 maps onto itself, and a tie is 0.
- `rubric`: one row per response with one column per criterion (HelpSteer2 style).
- `events`, `judgments`: every raw label event and judgment, for audit.

Files are written by annotate.data.export_files (CSV cells escaped against formula injection);
preference pairs are built and written in chunks of CHUNK_ROWS so that a million pairs fit in
a modest amount of memory.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

import storage
from storage import export as export_store, items as item_store, judgments as judgment_store, labels as label_store
from storage.db import Connection
from annotate.data.aggregate import final_labels, human_labels
from annotate.data.dataset_card import render_card
from annotate.data.export_types import CHUNK_ROWS, FORMATS, KINDS, PROVENANCE, SOURCES, ExportFilters, ExportResult
from annotate.data.export_files import ExportError, save_hf, write_chunks
from annotate.projects import Project, get_project
from annotate.study.exclusion import ids_per_item, participant_ids, read_exclusion

def default_kind(project: Project) -> str:
    """The main table of a project: 'dpo' for pairwise, 'rubric' for rubric."""
    return "dpo" if project.task_type == "pairwise" else "rubric"


def build_export(conn: Connection, project_name: str, kind: str,
                 filters: ExportFilters = ExportFilters(), *, method: str | None = None,
                 judge: str | None = None, materialize: bool = True) -> ExportResult:
    """Build the rows of one export kind after the filters, with the counts each filter leaves.

    Args:
        kind: one of KINDS.
        method: human label aggregation (annotate.data.aggregate): majority | dawid-skene (pairwise),
            mean | median | dawid-skene (rubric).
        judge: fallback judge (name or id) whose verdict labels items without human labels and
            without a routed judge.
        materialize: build the rows now (False: leave preference rows to iter_rows).

    Raises:
        ExportError: a kind that does not fit the task type, or a filter that does not apply.
        NotFoundError: unknown project, judge or annotator.
    """
    project = get_project(conn, project_name)
    _check(project, kind, filters)
    if kind in ("events", "judgments"):
        return _audit(conn, project, kind, filters)
    labels = human_labels(conn, project, since=filters.since, until=filters.until, annotators=filters.annotators)
    labels, excluded = read_exclusion(conn, project, filters.include_excluded).apply(labels)
    final = final_labels(conn, project, method=method, judge=judge, labels=labels)
    ids = ids_per_item(labels, participant_ids(conn, project)) if filters.with_participant_ids else None
    counts = {"items": export_store.count_items(storage.cursor(conn), project.id),
              "final_labels": len(final)}
    if kind == "rubric":
        final = _filter_aspects(final, filters, counts)
        rows = _filter_rows(rubric_rows(conn, project, final), filters, counts)
        if ids is not None:
            rows["participant_ids"] = rows["item_id"].map(ids).fillna("")
        summary, final = label_summary(rows), final[final["item_id"].isin(rows["item_id"])]
        rows = rows.drop(columns="item_id")
    else:
        final = _filter_rows(_filter_aspects(final, filters, counts), filters, counts)
        if ids is not None:
            final = final.assign(participant_ids=final["item_id"].map(ids).fillna(""))
        rows = pair_rows(conn, project, final, kind) if materialize else None
        summary = label_summary(final.rename(columns={"n_labels": "n_annotators"}))
    counts["rows"] = len(final) if rows is None else len(rows)
    is_rater = labels["source"] != "adjudicated"
    if "rater_kind" in labels:
        is_rater &= labels["rater_kind"] != "gold"
    raters = labels[is_rater]
    annotators = int(raters.loc[raters["item_id"].isin(final["item_id"]), "annotator"].nunique())
    return ExportResult(project, kind, rows, counts, filters, method, judge, annotators, summary,
                        final if kind != "rubric" else None, excluded)


STEP_WORDS = {"items": "Items in the project", "final_labels": "Items (and aspects) with a final label",
              "aspect": "Aspect or criterion filter", "source": "Label source filter",
              "min_agreement": "Minimum agreement filter", "exclude_ties": "Ties excluded",
              "exclude_both_bad": "'Both bad' pairs excluded", "rows": "Rows exported"}
FILTER_STEPS = ("aspect", "source", "min_agreement", "exclude_ties", "exclude_both_bad")


def counts_table(result: ExportResult) -> pd.DataFrame:
    """The export's counts in words, with how many rows each filter removed.

    Returns:
        step (words), rows (left after the step), removed (by this filter; empty for the other steps).
    """
    rows, previous = [], None
    for key, n in result.counts.items():
        removed = previous - n if key in FILTER_STEPS and previous is not None else None
        rows.append({"step": STEP_WORDS.get(key, key), "rows": int(n), "removed": removed})
        if key != "items":
            previous = n
    return pd.DataFrame(rows, columns=["step", "rows", "removed"]).astype({"removed": "Int64"})


def label_summary(frame: pd.DataFrame) -> dict:
    """Rows per source, agreement statistics and judges of exported rows (for the dataset card).

    Args:
        frame: rows with source, agreement, n_annotators, judge.
    """
    agreement = frame["agreement"].astype(float)
    return {"sources": {s: int((frame["source"] == s).sum()) for s in SOURCES},
            "with_agreement": int(agreement.notna().sum()),
            "mean_agreement": float(agreement.mean()) if agreement.notna().any() else None,
            "median_agreement": float(agreement.median()) if agreement.notna().any() else None,
            "mean_human_labels": float(frame["n_annotators"].mean()) if len(frame) else None,
            "judges": sorted(str(j) for j in frame["judge"].dropna().unique())}


def _check(project: Project, kind: str, filters: ExportFilters) -> None:
    if kind not in KINDS:
        raise ExportError(f"Unknown export kind '{kind}' (use {', '.join(KINDS)})")
    wanted = {"dpo": "pairwise", "helpsteer2": "pairwise", "rubric": "rubric"}.get(kind)
    if wanted and wanted != project.task_type:
        raise ExportError(f"Project '{project.name}' is a {project.task_type} project; the '{kind}' "
                          f"export needs a {wanted} project")
    if project.task_type == "rubric" and (filters.exclude_ties or filters.exclude_both_bad):
        raise ExportError(f"Project '{project.name}' is a rubric project: excluding ties or both-bad "
                          f"applies to pairwise projects only")
    unknown = sorted(set(filters.sources) - set(SOURCES))
    if unknown:
        raise ExportError(f"Unknown label source(s) {unknown} (use {', '.join(SOURCES)})")
    aspects = sorted(set(filters.aspects) - set(project.config.aspect_names))
    if aspects:
        raise ExportError(f"Project '{project.name}' has no aspect or criterion {aspects} "
                          f"(it has {project.config.aspect_names})")


def _filter_aspects(final: pd.DataFrame, filters: ExportFilters, counts: dict) -> pd.DataFrame:
    if filters.aspects:
        final = final[final["aspect"].isin(filters.aspects)]
        counts["aspect"] = len(final)
    return final


def _filter_rows(frame: pd.DataFrame, filters: ExportFilters, counts: dict) -> pd.DataFrame:
    """Apply the row filters in a fixed order, recording the rows left after each."""
    steps = [("source", bool(filters.sources), lambda f: f["source"].isin(filters.sources)),
             ("min_agreement", filters.min_agreement is not None,
              lambda f: f["agreement"].astype(float).fillna(-1.0) >= (filters.min_agreement or 0.0)),
             ("exclude_ties", filters.exclude_ties, lambda f: f["value"].astype(float) != 0),
             ("exclude_both_bad", filters.exclude_both_bad, lambda f: ~f["both_bad"].astype(bool))]
    for name, is_on, keep in steps:
        if is_on:
            frame = frame[keep(frame)]
            counts[name] = len(frame)
    return frame.reset_index(drop=True)


def pair_rows(conn: Connection, project: Project, final: pd.DataFrame, kind: str) -> pd.DataFrame:
    """DPO or HelpSteer2-style rows from pairwise final labels (see the module docstring)."""
    value = final["value"].to_numpy(dtype=float)
    b_wins = value > 0
    texts = export_store.pair_texts(storage.cursor(conn), project.id,
                                    pd.DataFrame({"item_id": final["item_id"], "b_chosen": b_wins}),
                                    with_responses=kind == "helpsteer2")
    rows = texts[["id"]].assign(aspect=final["aspect"].to_numpy())
    if kind == "helpsteer2":
        rows = rows.join(texts[["prompt", "context", "response_a", "response_b", "chosen", "rejected"]])
        rows = rows.rename(columns={"response_a": "response_1", "response_b": "response_2"})
        rows["preference_strength"] = helpsteer2_strength(value, [p.value for p in project.config.scale])
    else:
        positive = [p.value for p in project.config.scale if p.value > 0]
        rows = rows.join(texts[["prompt", "context", "chosen", "rejected", "chosen_model", "rejected_model"]])
        p_a, p_b = final["p_a"].to_numpy(dtype=float), final["p_b"].to_numpy(dtype=float)
        rows = rows.assign(label=value, strength=np.abs(value), margin=np.abs(value) / max(positive),
                           is_tie=value == 0, both_bad=final["both_bad"].to_numpy(dtype=bool),
                           p_chosen=np.where(b_wins, p_b, p_a), p_tie=final["p_tie"].to_numpy(dtype=float),
                           p_rejected=np.where(b_wins, p_a, p_b),
                           judge_label=final["judge_value"].to_numpy(dtype=float))
    provenance = final.rename(columns={"n_labels": "n_annotators"})
    for column in PROVENANCE:
        rows[column] = provenance[column].to_numpy()
    rows["judge_id"] = rows["judge_id"].astype("Int64")
    if "participant_ids" in final:  # asked for (ExportFilters.with_participant_ids)
        rows["participant_ids"] = final["participant_ids"].to_numpy()
    return rows


def helpsteer2_strength(values: np.ndarray, scale: list[int]) -> np.ndarray:
    """Signed values on our scale -> HelpSteer2-Preference strength -3..3 (module docstring)."""
    positive = sorted(v for v in scale if v > 0)
    magnitude = np.abs(np.asarray(values, dtype=float))
    if len(positive) == 1:
        mapped = np.full(magnitude.shape, 2.0)
    else:
        mapped = np.clip(1 + 2 * (magnitude - positive[0]) / (positive[-1] - positive[0]), 1, 3)
    return (np.sign(values) * np.floor(mapped + 0.5)).astype(int)


def rubric_rows(conn: Connection, project: Project, final: pd.DataFrame) -> pd.DataFrame:
    """One row per response: item_id, id, prompt, context, response_idx, response, model, one
    column per criterion (the aggregate), then provenance: source ('both' when criteria differ in source),
    n_annotators (the most labels of any criterion), agreement (mean over criteria), judge."""
    cur = storage.cursor(conn)
    keys = ["item_id", "response_idx"]
    criteria = [c.name for c in project.config.criteria if c.name in set(final["aspect"])]
    scores = final.pivot_table(index=keys, columns="aspect", values="value", aggfunc="first")
    scores = scores.reindex(columns=criteria).reset_index()
    grouped = final.groupby(keys)
    meta = grouped.agg(n_annotators=("n_labels", "max"), agreement=("agreement", "mean"),
                       judge_id=("judge_id", "first"), judge=("judge", "first")).reset_index()
    meta["source"] = grouped["source"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else "both").to_numpy()
    items = item_store.items_frame(cur, project.id)[["item_id", "external_id", "prompt", "context"]]
    responses = item_store.responses_frame(cur, project.id).rename(
        columns={"idx": "response_idx", "text": "response"})
    frame = scores.merge(meta, on=keys).merge(items, on="item_id").merge(responses, on=keys)
    frame = frame.rename(columns={"external_id": "id"})
    frame["judge_id"] = frame["judge_id"].astype("Int64")
    columns = ["item_id", "id", "prompt", "context", "response_idx", "response", "model", *criteria, *PROVENANCE]
    return frame.sort_values(keys, kind="stable")[columns].reset_index(drop=True)


def _audit(conn: Connection, project: Project, kind: str, filters: ExportFilters) -> ExportResult:
    """Every label event or judgment of the project (within the date range and annotator set)."""
    cur = storage.cursor(conn)
    excluded = {}
    if kind == "events":
        rows = label_store.label_events_frame(cur, project.id)
        if filters.annotators:
            rows = rows[rows["annotator"].isin(filters.annotators)]
        rows, excluded = read_exclusion(conn, project, filters.include_excluded).apply(rows)
        if filters.with_participant_ids:
            rows.insert(rows.columns.get_loc("annotator") + 1, "participant_id",
                        rows["annotator_id"].map(participant_ids(conn, project)))
    else:
        rows = judgment_store.judgments_frame(cur, project.id)
    keep = pd.Series(True, index=rows.index)
    if filters.since is not None:
        keep &= rows["created_at"] >= pd.Timestamp(filters.since)
    if filters.until is not None:
        keep &= rows["created_at"] < pd.Timestamp(filters.until)
    rows = rows[keep].reset_index(drop=True)
    n_annotators = int(rows["annotator"].nunique()) if kind == "events" else 0
    return ExportResult(project, kind, rows, {"rows": len(rows)}, filters, annotators=n_annotators, exclusion=excluded)


def iter_rows(conn: Connection, result: ExportResult,
              chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The export's rows in chunks (at least one chunk, possibly empty)."""
    if result.rows is not None:
        yield result.rows
        return
    for start in range(0, max(len(result.final), 1), chunk_rows):
        chunk = result.final.iloc[start:start + chunk_rows]
        yield pair_rows(conn, result.project, chunk, result.kind)


def _pair_schema(kind: str, with_participant_ids: bool = False) -> pa.Schema:
    """The Arrow schema of preference rows, so that every chunk is written alike."""
    text, number = pa.string(), pa.float64()
    columns = [("id", text), ("aspect", text), ("prompt", text), ("context", text)]
    if kind == "helpsteer2":
        columns += [("response_1", text), ("response_2", text), ("chosen", text), ("rejected", text),
                    ("preference_strength", pa.int64())]
    else:
        columns += [("chosen", text), ("rejected", text), ("chosen_model", text), ("rejected_model", text),
                    ("label", number), ("strength", number), ("margin", number), ("is_tie", pa.bool_()),
                    ("both_bad", pa.bool_()), ("p_chosen", number), ("p_tie", number), ("p_rejected", number),
                    ("judge_label", number)]
    columns += [("source", text), ("n_annotators", pa.int64()), ("agreement", number), ("judge_id", pa.int64()),
                ("judge", text)] + ([("participant_ids", text)] if with_participant_ids else [])
    return pa.schema(columns)


# ---------------------------------------------------------------- writing


def write_export(conn: Connection, result: ExportResult, path: str | Path, file_format: str) -> int:
    """Write an export's rows to one file in a file format; return the row count."""
    schema = (_pair_schema(result.kind, result.filters.with_participant_ids)
              if result.kind in ("dpo", "helpsteer2") else None)
    return write_chunks(conn, iter_rows(conn, result), path, file_format, schema)


def export_bytes(conn: Connection, result: ExportResult, file_format: str) -> bytes:
    """The rows in one file format, in memory (for a download button)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rows.{file_format}"
        write_export(conn, result, path, file_format)
        return path.read_bytes()


def export_dataset(conn: Connection, project_name: str, fmt: str, out: str | Path,
                   filters: ExportFilters = ExportFilters(), *, method: str | None = None,
                   judge: str | None = None, card: str | Path | None = None,
                   push_to: str | None = None) -> dict:
    """Export a project in one of FORMATS to `out` (a file, or a folder for 'hf').

    Args:
        fmt: '<kind>-<jsonl|parquet|csv>' or 'hf' (the project's main kind as a DatasetDict,
            with a README.md dataset card in the folder).
        card: also write the dataset card to this path (file formats).
        push_to: a Hub dataset repo id to push the 'hf' export to (needs HF_TOKEN and the network).

    Returns:
        {project, format, out, rows, counts, exclusion (annotate.study.exclusion: participants and
        labels left out, with its sentence), card}.
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format '{fmt}' (use {', '.join(FORMATS)})")
    if push_to and fmt != "hf":
        raise ExportError("Only the 'hf' format can be pushed to the Hugging Face Hub")
    out = Path(out)
    if fmt == "hf":
        result = build_export(conn, project_name, default_kind(get_project(conn, project_name)), filters,
                              method=method, judge=judge)
        out.mkdir(parents=True, exist_ok=True)
        card = out / "README.md"
        save_hf(result.rows, render_card(result, fmt), out, push_to)
    else:
        kind, file_format = fmt.rsplit("-", 1)
        result = build_export(conn, project_name, kind, filters, method=method, judge=judge, materialize=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_export(conn, result, out, file_format)
        if card:
            Path(card).write_text(render_card(result, fmt), encoding="utf-8")
    return {"project": project_name, "format": fmt, "out": str(out), "rows": result.n_rows,
            "counts": result.counts, "exclusion": result.exclusion, "card": str(card) if card else None}
