"""Import items, existing human labels, gold labels and judge verdicts, all or nothing.

A file is read as a stream of records (annotate/data/readers.py) and turned chunk by chunk into an
`ImportBatch` (annotate/data/import_batch.py, which documents the shapes and the mapping). Every
import runs inside ONE write transaction: items are written chunk by chunk, so memory stays
bounded for any file size; labels and judgments are written at the end, after every check. Any
error rolls the whole transaction back and the database is left exactly as it was. A dry run
does the same work, then rolls back: its report (with a preview of the first rows as they would
be stored) is what the Projects page shows before anything is written.

A bad record raises ImportDataError naming the file, the line or row, and the field. Ids the
project already has are an error, or with on_duplicate='skip' the items are left as they are
and only the labels and judgments they do not have yet are added (so a second file can add a
judge's other presented order, and importing the same file twice adds nothing).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import storage
from storage import imports as import_store, items as item_store, judgments as judgment_store, labels as label_store
from storage import projects as project_store
from storage.db import Connection, Cursor
from annotate.data.import_batch import (GOLD, GOLD_RATER, IMPORTED, SHAPES, BatchBuilder, ColumnMapping,
                                        ImportBatch, ImportReport, OnDuplicate, chunked, id_field, pairwise_value,
                                        parse_mapping, rater_name, text_field, batch_from_records)
from annotate.data.readers import FORMATS, Record, ReadStats, file_format, iter_records, read_records
from annotate.errors import ImportDataError
from annotate.hashing import stable_hash
from annotate.projects import Project

__all__ = ["FORMATS", "SHAPES", "GOLD", "GOLD_RATER", "IMPORTED", "ColumnMapping", "ImportBatch", "ImportReport",
           "OnDuplicate", "Record", "batch_from_records", "id_field", "import_file", "pairwise_value",
           "parse_mapping", "rater_name", "read_records", "text_field", "write_batch", "preview_rows", "describe_report"]


class _DryRun(Exception):
    """Raised inside the write transaction to roll a dry run back, carrying its report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


def import_file(conn: Connection, project: Project, path: str | Path, *,
                mapping: ColumnMapping | None = None, fmt: str | None = None, on_duplicate: OnDuplicate = "error",
                shape: str = "items", create: bool = False, dry_run: bool = False) -> ImportReport:
    """Import a JSONL / JSON / CSV / Parquet file of `shape` into a project, all or nothing.

    Args:
        create: create the project (`project.id` unused) in the same transaction, so that a
            failed import leaves no empty project behind.
        dry_run: read and check everything, then write nothing; the report has a preview.
    Raises:
        ImportDataError: naming the file, line and field of the first problem.
    """
    path = Path(path)
    fmt = file_format(path, fmt)
    mapping = mapping or ColumnMapping()

    def run(cur: Cursor) -> ImportReport:
        stats = ReadStats()
        report = ImportReport(project.name, dry_run=dry_run)
        builder = BatchBuilder(project, mapping, f"import:{path.name}", shape, report)
        writer = _Writer(cur, project, report, on_duplicate, create)
        for number, chunk in enumerate(chunked(iter_records(path, fmt, stats))):
            if number == 0 and fmt in ("csv", "parquet"):  # a fixed header: check before reading values
                _check_mapped_columns(builder, stats, path)
            for record in chunk:
                builder.add(record)
            if number == 0:
                report.preview = preview_rows(builder.batch, project)
            writer.items(builder.batch)
            builder.batch.items.clear()
            builder.batch.responses.clear()
            if not mapping.criterion:  # rows of one item may follow each other only in the criterion shape
                builder.batch.places.clear()
        _check_mapped_columns(builder, stats, path)
        _refuse_bad_labels(builder, report)
        writer.finish(builder.batch)
        _describe_columns(report, builder, stats, mapping, shape)
        if dry_run:
            raise _DryRun(report)
        return report

    try:
        return storage.write(conn, run)
    except _DryRun as done:
        return done.report


def write_batch(conn: Connection, project: Project, batch: ImportBatch,
                on_duplicate: OnDuplicate = "error", create: bool = False, dry_run: bool = False) -> ImportReport:
    """Write a batch built in memory (the adapters'), with the same checks and rules as `import_file`."""
    def run(cur: Cursor) -> ImportReport:
        report = ImportReport(project.name, notes=list(batch.notes), dry_run=dry_run,
                              records=len(batch.items) or len(batch.labels) + len(batch.judgments))
        report.preview = preview_rows(batch, project)
        writer = _Writer(cur, project, report, on_duplicate, create)
        writer.items(batch)
        writer.finish(batch)
        if dry_run:
            raise _DryRun(report)
        return report

    try:
        return storage.write(conn, run)
    except _DryRun as done:
        return done.report


def describe_report(report: ImportReport) -> list[str]:
    """The report in lines of words: what was read, written, left out and why."""
    verb = "Would import" if report.dry_run else "Imported"
    lines = [f"{verb} {report.items} items, {report.label_events} human labels and {report.judgments} judgments "
             f"into '{report.project}' (read {report.records} records)" +
             (f"; {report.skipped_duplicates} ids were already there" if report.skipped_duplicates else "")]
    for rater, n in report.labels_per_rater.items():
        lines.append(f"  labels by {rater}: {n}")
    for judge, orders in report.judgments_per_judge.items():
        shown = ", ".join(f"{n} with {'A' if o == 'AB' else 'B'} shown first" if o in ("AB", "BA") else f"{n}"
                          for o, n in orders.items())
        unparsed = report.unparsed.get(judge, 0)
        lines.append(f"  judgments by {judge}: {shown}" + (f" ({unparsed} unparsed, kept raw)" if unparsed else ""))
    for who, entry in report.out_of_scale.items():
        lines.append(f"  off the scale, {who}: {entry['count']} (e.g. {', '.join(map(repr, entry['values']))}); "
                     f"stored as unparsed")
    present = report.already_present
    if present["labels"] or present["judgments"]:
        lines.append(f"  already in the project, not added again: {present['labels']} labels, "
                     f"{present['judgments']} judgments")
    if report.metadata_columns:
        lines.append(f"  kept as item metadata: {', '.join(report.metadata_columns)}")
    if report.ignored_columns:
        lines.append(f"  columns ignored: {', '.join(report.ignored_columns)}")
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def _check_mapped_columns(builder: BatchBuilder, stats: ReadStats, path: Path) -> None:
    """Refuse a mapped column that the file does not have (it would silently import nothing)."""
    for column, name in builder.mapped_columns().items():
        if column not in stats.columns:
            known = ", ".join(list(stats.columns)[:30]) or "none"
            raise ImportDataError(f"{path.name}: column '{column}' (mapped to '{name}') is not in the file "
                                  f"(columns: {known}); nothing was imported")


def _refuse_bad_labels(builder: BatchBuilder, report: ImportReport) -> None:
    """Human and gold labels off the scale stop the import: say the first and count them all."""
    if builder.bad_label is None:
        return
    raters = {k: v["count"] for k, v in report.out_of_scale.items() if not k.startswith("judge ")}
    counts = ", ".join(f"{k}: {v}" for k, v in raters.items())
    raise ImportDataError(f"{builder.bad_label}; {sum(raters.values())} label(s) in all are off the scale "
                          f"({counts}); nothing was imported")


def _describe_columns(report: ImportReport, builder: BatchBuilder, stats: ReadStats, mapping: ColumnMapping,
                      shape: str) -> None:
    used = builder.mapped_columns()
    rest = [c for c in stats.columns if c not in used]
    if shape != "items":
        report.ignored_columns = rest
    elif mapping.metadata is None:
        report.metadata_columns = rest
    else:
        report.metadata_columns = [c for c in mapping.metadata if c in stats.columns]
        report.ignored_columns = [c for c in rest if c not in mapping.metadata]
    report.records = stats.records
    report.non_finite_as_null = stats.non_finite
    if stats.non_finite:
        report.notes.append(f"{stats.non_finite} JSON NaN/Infinity value(s) read as null (missing)")


def preview_rows(batch: ImportBatch, project: Project, n: int = 5) -> list[dict]:
    """The first `n` items as they will be stored, in words: id, prompt, responses (canonical
    order), models, metadata, and each rater's label and judge's verdict; for a labels or
    judgments file, its first rows."""
    labels: dict[str, list[str]] = {}
    values = pd.DataFrame(batch.label_values[:2000])
    by_key = values.groupby("key") if len(values) else None
    for label in batch.labels[:2000]:
        if by_key is not None and label["key"] in by_key.groups:
            shown = ", ".join(_value_words(project, r.aspect, r.response_idx, r.value)
                              for r in by_key.get_group(label["key"]).itertuples())
            labels.setdefault(label["external_id"], []).append(f"{label['annotator']}: {shown}")
    verdicts: dict[str, list[str]] = {}
    for j in batch.judgments[:4000]:
        shown = j.get("verdict") if j.get("is_parsed") else f"unreadable ({j.get('raw_output')})"
        order = f", {'A' if j.get('presented_order') == 'AB' else 'B'} shown first" if j.get("presented_order") else ""
        verdicts.setdefault(j["external_id"], []).append(f"{j['judge']}{order}: {shown}")
    if not batch.items:
        ids = list(dict.fromkeys([*labels, *verdicts]))[:n]
        return [{"item": i, "labels": "; ".join(labels.get(i, [])), "judges": "; ".join(verdicts.get(i, []))}
                for i in ids]
    responses: dict[str, list[dict]] = {}
    for response in batch.responses[:n * 20]:
        responses.setdefault(response["external_id"], []).append(response)
    rows = []
    names = ["A", "B"] if project.task_type == "pairwise" else None
    for item in batch.items[:n]:
        row = {"item": item["external_id"], "prompt": _short(item["prompt"])}
        for r in responses.get(item["external_id"], []):
            name = names[r["idx"]] if names else str(r["idx"] + 1)
            row[f"response {name}"] = _short(r["text"])
            if r["model"]:
                row[f"model {name}"] = r["model"]
        meta = json.loads(item["metadata"]) if item["metadata"] else {}
        row["metadata"] = ", ".join(f"{k} = {_short(str(v), 40)}" for k, v in meta.items())
        row["labels"] = "; ".join(labels.get(item["external_id"], []))
        row["judges"] = "; ".join(verdicts.get(item["external_id"], []))
        rows.append(row)
    return rows


def _value_words(project: Project, aspect: str, response_idx, value: float) -> str:
    """A label value in the project's words: 'A is slightly better', 'relevance of response 1 = 3 (answers)'."""
    config = project.config
    if config.task_type == "pairwise":
        words = {float(p.value): p.label for p in config.scale}.get(value, f"{value:g}")
        return words if aspect == "overall" else f"{aspect}: {words}"
    criterion = next((c for c in config.criteria if c.name == aspect), None)
    text = criterion.scores.get(int(value), "") if criterion is not None and float(value).is_integer() else ""
    where = "" if pd.isna(response_idx) or response_idx == 0 else f" of response {int(response_idx) + 1}"
    return f"{aspect}{where} = {value:g}" + (f" ({text})" if text and text != f"{value:g}" else "")


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A DataFrame of dicts built column by column (several times faster than from the dicts)."""
    return pd.DataFrame({c: [row[c] for row in rows] for c in columns}, columns=columns)


def _short(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"


class _Writer:
    """Writes one import inside its transaction and counts what it wrote in the report."""

    def __init__(self, cur: Cursor, project: Project, report: ImportReport,
                 on_duplicate: OnDuplicate, create: bool) -> None:
        self.cur, self.project, self.report, self.on_duplicate, self.create = cur, project, report, on_duplicate, create
        self.project_id = project_store.insert_project(cur, project.name, project.task_type,
                                                       project.config.model_dump_json()) if create else project.id
        self.max_before = import_store.max_item_id(cur)

    def items(self, batch: ImportBatch) -> None:
        """Insert the batch's items (those the project has already are an error, or skipped)."""
        if not batch.items:
            return
        items = _frame(batch.items, item_store.ITEM_COLUMNS)
        found = import_store.existing_items(self.cur, self.project_id, items["external_id"].tolist())
        repeated = sorted((e for e, i in found.items() if i > self.max_before), key=lambda e: batch.places[e])
        if repeated:  # earlier chunks of this file are written already; ids within a chunk are checked on reading
            raise ImportDataError(f"{batch.places[repeated[0]]}: duplicate id '{repeated[0]}' (first seen earlier in "
                                  f"this file)")
        existing = set(found)
        if existing and self.on_duplicate == "error":
            first = sorted(existing, key=lambda e: batch.places[e])[0]
            raise ImportDataError(f"{batch.places[first]}: item id '{first}' already exists in project "
                                  f"'{self.project.name}' ({len(existing)} duplicate ids in this part of the file); "
                                  f"nothing was imported. Use --on-duplicate skip to import only the new items")
        keep = ~items["external_id"].isin(existing)
        responses = _frame(batch.responses, item_store.RESPONSE_COLUMNS)
        responses = responses[~responses["external_id"].isin(existing)]
        item_store.insert_items(self.cur, self.project_id, items[keep], responses)
        self.report.items += int(keep.sum())
        self.report.responses += len(responses)
        self.report.skipped_duplicates += len(existing)

    def finish(self, batch: ImportBatch) -> None:
        self.labels(batch)
        self.judgments(batch)

    def _with_items(self, frame: pd.DataFrame, what: str) -> pd.DataFrame:
        ids = import_store.item_ids(self.cur, self.project_id, frame["external_id"])
        frame = frame.merge(ids, on="external_id", how="left")
        missing = frame[frame["item_id"].isna()]
        if len(missing):
            first = missing.iloc[0]
            raise ImportDataError(f"{first['place']}: {what} for item '{first['external_id']}', which project "
                                  f"'{self.project.name}' does not have; import the items first")
        return frame.astype({"item_id": "int64", "n_responses": "int64"})

    def labels(self, batch: ImportBatch) -> None:
        if not batch.labels:
            return
        events = self._with_items(pd.DataFrame(batch.labels), "a label")
        values = pd.DataFrame(batch.label_values)
        self._check_values(events, values)
        ids: dict[str, int] = {}
        for kind, names in events.groupby("rater_kind")["annotator"]:
            names = sorted(names.unique())
            clash = {n: k for n, k in import_store.rater_kinds(self.cur, names).items() if k != kind}
            if clash:
                name, other = next(iter(clash.items()))
                raise ImportDataError(f"Rater '{name}' of this file is already an annotator of kind '{other}'; "
                                      f"its labels would be mixed with this file's; nothing was imported")
            ids |= import_store.ensure_raters(self.cur, names, kind)
        events["annotator_id"] = events["annotator"].map(ids)
        if not self.create:
            done = import_store.labelled_pairs(self.cur, self.project_id)
            seen = events.merge(done, on=["item_id", "annotator_id"], how="left", indicator=True)["_merge"] == "both"
            self.report.already_present["labels"] += int(seen.sum())
            events = events[~seen.to_numpy()]
        values = values[values["key"].isin(events["key"])]
        events = events.assign(project_id=self.project_id)
        self.report.label_events += label_store.insert_label_events(self.cur, events, values)
        self.report.labels_per_rater = {k: int(v) for k, v in events["annotator"].value_counts().sort_index().items()}

    def _check_values(self, events: pd.DataFrame, values: pd.DataFrame) -> None:
        """Refuse values the project cannot hold: an aspect or criterion it does not have, a value
        off its scale, a response index the item does not have (an adapter's data imported into a
        project with another config)."""
        config = self.project.config
        scale = {p.value for p in config.scale}
        rows = values.merge(events[["key", "external_id", "place", "n_responses"]], on="key")
        for row in rows.itertuples():
            aspect, value = row.aspect, row.value
            if aspect not in config.aspect_names:
                problem = f"aspect or criterion '{aspect}' is not in the project (it has {config.aspect_names})"
            elif config.task_type == "pairwise" and value not in scale:
                problem = f"value {value:g} of '{aspect}' is not on the project's scale {sorted(scale)}"
            elif config.task_type == "rubric" and (value not in config.criterion(aspect).scores
                                                   or not 0 <= row.response_idx < row.n_responses):
                problem = f"score {value:g} of '{aspect}' for response {row.response_idx} does not fit the project"
            else:
                continue
            raise ImportDataError(f"{row.place}: item '{row.external_id}': {problem}; nothing was imported into "
                                  f"project '{self.project.name}'")

    def judgments(self, batch: ImportBatch) -> None:
        if not batch.judgments:
            return
        frame = self._with_items(pd.DataFrame(batch.judgments), "a judgment")
        for column in ("presented_order", "response_idx"):
            if column not in frame:
                frame[column] = None
        unit = ["judge", "item_id", "aspect", "response_idx", "presented_order"]
        keys = frame[unit].astype(object).where(frame[unit].notna(), "")
        repeated = keys.duplicated()
        if repeated.any():
            row = frame[repeated.to_numpy()].iloc[0]
            order = f" with order {row['presented_order']}" if row["presented_order"] else ""
            raise ImportDataError(f"{row['place']}: judge '{row['judge']}' judges item '{row['external_id']}'"
                                  f"{order} more than once in this input")
        stored = {}
        for name in sorted(frame["judge"].unique()):
            config = {"backend": "external", "name": name, "project": self.project.name}
            judge_id, stored_name = judgment_store.external_judge(
                self.cur, self.project_id, name, json.dumps(config, sort_keys=True), stable_hash(config))
            stored[name] = (judge_id, stored_name)
            if stored_name != name:
                self.report.notes.append(f"judge '{name}': project '{self.project.name}' already has another judge "
                                         f"of that name, so these verdicts are stored as '{stored_name}'")
        frame["judge_id"] = frame["judge"].map(lambda n: stored[n][0])
        frame["judge_name"] = frame["judge"].map(lambda n: stored[n][1])
        if not self.create:
            done = judgment_store.judged_units_of(self.cur, self.project_id, [v[0] for v in stored.values()])
            probe = frame.assign(response_idx=frame["response_idx"].fillna(-1).astype("int64"),
                                 presented_order=frame["presented_order"].fillna(""))
            seen = probe.merge(done, on=["judge_id", "item_id", "aspect", "response_idx", "presented_order"],
                               how="left", indicator=True)["_merge"] == "both"
            self.report.already_present["judgments"] += int(seen.sum())
            frame = frame[~seen.to_numpy()]
        judgment_store.insert_judgments(self.cur, frame.drop(columns=["external_id", "judge", "judge_name", "place",
                                                                      "n_responses"]))
        self.report.judgments += len(frame)
        counts = frame.assign(order=frame["presented_order"].fillna("none"))
        for (judge, order), n in counts.groupby(["judge_name", "order"]).size().items():
            self.report.judgments_per_judge.setdefault(judge, {})[order] = int(n)
        for judge, n in counts[~counts["is_parsed"].astype(bool)].groupby("judge_name").size().items():
            self.report.unparsed[judge] = int(n)
