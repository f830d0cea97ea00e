"""Import items, and optionally existing human labels and judge verdicts, all-or-nothing.

Every format is read into records tagged with their place ("data.jsonl line 3"), turned into an
`ImportBatch` of DataFrames, validated completely, and only then written in one transaction by
`write_batch`. A bad record raises ImportDataError naming the file, the line or row, and the
field; the database is left exactly as it was.

Pairwise label values in files may be an integer on the project's scale (negative: A better), or
one of 'A', 'B', 'tie' (which map to the smallest strength on the scale).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import duckdb
import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

import storage
from storage import items as item_store, judgments as judgment_store, labels as label_store, projects as project_store
from annotate.labeling.annotators import ensure_annotators
from annotate.errors import ImportDataError
from annotate.hashing import stable_hash
from annotate.projects import Project
from annotate.signs import SIGN, verdict_of

FORMATS = ("jsonl", "json", "csv", "parquet")
OnDuplicate = Literal["error", "skip"]


@dataclass
class Record:
    """One input record and where it came from, for error messages."""
    place: str
    data: dict

    def error(self, field_name: str, problem: str) -> ImportDataError:
        return ImportDataError(f"{self.place}, field '{field_name}': {problem}")


@dataclass
class ImportBatch:
    """Everything one import writes, as DataFrames (see storage/items.py and storage/labels.py)."""
    items: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    label_values: list[dict] = field(default_factory=list)
    judgments: list[dict] = field(default_factory=list)
    judges: dict[str, dict] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    labelled: set[tuple[str, str]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add_item(self, record: Record, external_id: str, prompt: str, responses: list[tuple[str, str | None]],
                 context: str | None = None, reference: str | None = None, metadata: dict | None = None,
                 id_field: str = "id") -> None:
        """Add an item with its responses [(text, model)]; refuse an id seen earlier in the input."""
        if external_id in self.places:
            raise record.error(id_field, f"duplicate id '{external_id}' (first seen at {self.places[external_id]})")
        self.places[external_id] = record.place
        self.items.append({"external_id": external_id, "prompt": prompt, "context": context,
                           "reference": reference,
                           "metadata": json.dumps(metadata, ensure_ascii=False) if metadata else None})
        self.responses.extend({"external_id": external_id, "idx": i, "text": text, "model": model}
                              for i, (text, model) in enumerate(responses))

    def add_label(self, external_id: str, annotator: str, values: list[tuple[str, int | None, float]],
                  source: str, **event: Any) -> None:
        """Add a human label event with rows (aspect, response_idx, value); one per annotator and item."""
        if (external_id, annotator) in self.labelled:
            raise ImportDataError(f"{self.places[external_id]}: annotator '{annotator}' labels item "
                                  f"'{external_id}' more than once in this input")
        self.labelled.add((external_id, annotator))
        key = len(self.labels)
        self.labels.append({"key": key, "external_id": external_id, "annotator": annotator, "kind": "label",
                            "source": source, "both_bad": bool(event.pop("both_bad", False)), **event})
        self.label_values.extend({"key": key, "aspect": a, "response_idx": r, "value": v} for a, r, v in values)

    def add_judgment(self, external_id: str, judge: str, judge_config: dict, **judgment: Any) -> None:
        """Add an external judge's verdict; the judge is identified by its config's hash."""
        self.judges.setdefault(judge, judge_config)
        self.judgments.append({"external_id": external_id, "judge": judge, "source": "import", **judgment})


@dataclass
class ImportReport:
    project: str
    items: int
    responses: int
    label_events: int
    judgments: int
    skipped_duplicates: int
    notes: list[str]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class ColumnMapping(BaseModel):
    """Which input column holds which field. Unmapped columns become metadata unless `metadata`
    lists the ones to keep."""
    id: str = "id"
    prompt: str = "prompt"
    context: str | None = None
    reference: str | None = None
    response_a: str = "response_a"
    response_b: str = "response_b"
    model_a: str | None = None
    model_b: str | None = None
    responses: list[str] = Field(default_factory=lambda: ["response"])
    models: list[str] = Field(default_factory=list)
    metadata: list[str] | None = None
    human_labels: dict[str, str] = Field(default_factory=dict, description="annotator name -> column")
    judge_labels: dict[str, str] = Field(default_factory=dict, description="judge name -> column")


# ---------------------------------------------------------------- reading files


def read_records(path: Path, fmt: str | None = None) -> list[Record]:
    """Read a JSONL, JSON (array), CSV or Parquet file into records, each tagged with its place.

    Raises:
        ImportDataError: missing or empty file, bytes that are not UTF-8, a line that is not valid
            JSON, a record that is not an object.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ImportDataError(f"{path.name}: unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    if not path.is_file():
        raise ImportDataError(f"{path}: no such file")
    if fmt == "parquet":
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise ImportDataError(f"{path.name}: not a readable Parquet file ({exc})") from None
        records = [Record(f"{path.name} row {i + 1}", row) for i, row in enumerate(rows)]
    else:
        text = _decode(path)
        records = list({"jsonl": _jsonl, "json": _json, "csv": _csv}[fmt](path.name, text))
    if not records:
        raise ImportDataError(f"{path.name}: file is empty (no records)")
    return records


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ImportDataError(f"{path.name} line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start}); save the file as UTF-8") from None


def _jsonl(name: str, text: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportDataError(f"{name} line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise ImportDataError(f"{name} line {number}: expected a JSON object, got {_type(data)}")
        yield Record(f"{name} line {number}", data)


def _json(name: str, text: str) -> Iterator[Record]:
    if not text.strip():
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportDataError(f"{name} line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, list):
        raise ImportDataError(f"{name}: expected a JSON array of objects, got {_type(data)}")
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise ImportDataError(f"{name} record {number}: expected a JSON object, got {_type(row)}")
        yield Record(f"{name} record {number}", row)


def _csv(name: str, text: str) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # a cell may be a 5 MB response
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 2
    try:
        for row in reader:
            if None in row:
                raise ImportDataError(f"{name} line {line}: more cells than header columns")
            yield Record(f"{name} line {line}", {k: (v if v != "" else None) for k, v in row.items()})
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportDataError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None


def _type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------- field access


def text_field(record: Record, name: str, *, required: bool = True) -> str | None:
    """The text in `name`; a clear error when missing (if required) or not text."""
    if name not in record.data or record.data[name] is None:
        if required:
            raise record.error(name, "missing")
        return None
    value = record.data[name]
    if not isinstance(value, str):
        raise record.error(name, f"expected text, got {_type(value)}")
    return value


def id_field(record: Record, name: str) -> str:
    """An id: text, or an integer written as a number."""
    value = record.data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise record.error(name, "missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise record.error(name, f"expected text or an integer id, got {_type(value)}")
    return str(value)


def pairwise_value(project: Project, value: Any) -> int | None:
    """Parse a pairwise label ('A', 'B', 'tie' or a signed integer on the scale); None if invalid."""
    scale = sorted(p.value for p in project.config.scale)
    weakest = min(v for v in scale if v > 0)
    if isinstance(value, str):
        word = value.strip().lower()
        letters = {verdict.lower(): sign * weakest for verdict, sign in SIGN.items()}
        if word in letters:
            return letters[word]
        try:
            value = int(word)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        return None
    return int(value) if int(value) in scale else None



# ---------------------------------------------------------------- generic import


def batch_from_records(project: Project, records: list[Record], mapping: ColumnMapping, source: str) -> ImportBatch:
    """Build a validated batch from generic records with a column mapping."""
    batch = ImportBatch()
    if project.task_type == "rubric" and mapping.models and len(mapping.models) != len(mapping.responses):
        raise ImportDataError(f"Column mapping: 'models' names {len(mapping.models)} columns but 'responses' "
                              f"names {len(mapping.responses)}; give one model column per response or none")
    used = {mapping.id, mapping.prompt, mapping.context, mapping.reference, mapping.response_a,
            mapping.response_b, mapping.model_a, mapping.model_b, *mapping.responses, *mapping.models,
            *mapping.human_labels.values(), *mapping.judge_labels.values()}
    for record in records:
        external_id = id_field(record, mapping.id)
        if project.task_type == "pairwise":
            texts = [text_field(record, mapping.response_a), text_field(record, mapping.response_b)]
            model_columns = [mapping.model_a, mapping.model_b]
        else:
            texts = [text_field(record, c) for c in mapping.responses]
            model_columns = mapping.models or [None] * len(texts)
        models = [text_field(record, c, required=False) if c else None for c in model_columns]
        keep = mapping.metadata if mapping.metadata is not None else [k for k in record.data if k not in used]
        metadata = {k: record.data.get(k) for k in keep if record.data.get(k) is not None}
        batch.add_item(record, external_id, text_field(record, mapping.prompt), list(zip(texts, models)),
                       context=text_field(record, mapping.context, required=False) if mapping.context else None,
                       reference=text_field(record, mapping.reference, required=False) if mapping.reference else None,
                       metadata=metadata, id_field=mapping.id)
        for annotator, column in mapping.human_labels.items():
            if record.data.get(column) is not None:
                values = _label_values(project, record, column, len(texts))
                batch.add_label(external_id, annotator, values, source)
        for judge, column in mapping.judge_labels.items():
            if record.data.get(column) is not None:
                _add_file_judgment(batch, project, record, external_id, judge, column, source, len(texts))
    return batch


def _label_values(project: Project, record: Record, column: str, n_responses: int) -> list[tuple]:
    raw = record.data[column]
    if project.task_type == "pairwise":
        value = pairwise_value(project, raw)
        if value is None:
            allowed = sorted(p.value for p in project.config.scale)
            raise record.error(column, f"label {raw!r} is not 'A', 'B', 'tie' or one of {allowed}")
        return [("overall", None, float(value))]
    per_response = _rubric_cells(raw, n_responses)
    if per_response is None:
        raise record.error(column, f"expected an object of criterion scores per response ({n_responses})")
    rows = []
    for idx, scores in enumerate(per_response):
        for criterion in project.config.criteria:
            score = scores.get(criterion.name)
            if isinstance(score, bool) or not isinstance(score, (int, float)) or score not in criterion.scores:
                raise record.error(column, f"response {idx} criterion '{criterion.name}': score {score!r} "
                                           f"is not one of {list(criterion.scores)}")
            rows.append((criterion.name, idx, float(score)))
    return rows


def _rubric_cells(raw: Any, n_responses: int) -> list[dict] | None:
    """A rubric cell as one {criterion: score} object per response (JSON text is parsed, a single
    object stands for a single response); None when it has another shape."""
    try:
        cells = json.loads(raw) if isinstance(raw, str) and raw.strip()[:1] in "[{" else raw
    except ValueError:
        return None
    cells = cells if isinstance(cells, list) else [cells]
    if len(cells) != n_responses or not all(isinstance(c, dict) for c in cells):
        return None
    return cells


def _add_file_judgment(batch: ImportBatch, project: Project, record: Record, external_id: str,
                       judge: str, column: str, source: str, n_responses: int) -> None:
    """A judge's verdict from a file; one that cannot be read is stored unparsed, with the raw cell."""
    raw = record.data[column]
    config = {"backend": "external", "name": judge, "source": source, "column": column}
    if project.task_type == "pairwise":
        value = pairwise_value(project, raw)
        batch.add_judgment(external_id, judge, config, verdict=None if value is None else verdict_of(value),
                           is_parsed=value is not None, raw_output=str(raw), aspect="overall")
    else:
        cells = _rubric_cells(raw, n_responses) or [None] * n_responses
        for idx, scores in enumerate(cells):
            for criterion in project.config.criteria:
                score = scores.get(criterion.name) if isinstance(scores, dict) else None
                ok = isinstance(score, (int, float)) and not isinstance(score, bool) and score in criterion.scores
                batch.add_judgment(external_id, judge, config, aspect=criterion.name, response_idx=idx,
                                   score=float(score) if ok else None, verdict=str(score) if ok else None,
                                   is_parsed=ok, raw_output=json.dumps(raw if scores is None else scores,
                                                                       ensure_ascii=False, default=str))


def import_file(conn: duckdb.DuckDBPyConnection, project: Project, path: str | Path, *,
                mapping: ColumnMapping | None = None, fmt: str | None = None,
                on_duplicate: OnDuplicate = "error") -> ImportReport:
    """Import a generic JSONL / JSON / CSV / Parquet file into a project, all or nothing."""
    path = Path(path)
    records = read_records(path, fmt)
    batch = batch_from_records(project, records, mapping or ColumnMapping(), f"import:{path.name}")
    return write_batch(conn, project, batch, on_duplicate=on_duplicate)


# ---------------------------------------------------------------- writing


def check_labels(project: Project, batch: ImportBatch) -> None:
    """Refuse label values the project cannot hold: an aspect or criterion it does not have, or a
    value off its scale (an adapter's data imported into a project with another config)."""
    config = project.config
    by_key = {label["key"]: label["external_id"] for label in batch.labels}
    n_responses: dict[str, int] = {}
    for response in batch.responses:
        n_responses[response["external_id"]] = n_responses.get(response["external_id"], 0) + 1
    scale = {p.value for p in config.scale}
    for row in batch.label_values:
        external_id, aspect, value = by_key[row["key"]], row["aspect"], row["value"]
        if aspect not in config.aspect_names:
            problem = f"aspect or criterion '{aspect}' is not in the project (it has {config.aspect_names})"
        elif config.task_type == "pairwise" and value not in scale:
            problem = f"value {value:g} of '{aspect}' is not on the project's scale {sorted(scale)}"
        elif config.task_type == "rubric" and (value not in config.criterion(aspect).scores
                                               or not 0 <= row["response_idx"] < n_responses[external_id]):
            problem = f"score {value:g} of '{aspect}' for response {row['response_idx']} does not fit the project"
        else:
            continue
        raise ImportDataError(f"{batch.places[external_id]}: item '{external_id}': {problem}; nothing was "
                              f"imported into project '{project.name}'")


def write_batch(conn: duckdb.DuckDBPyConnection, project: Project, batch: ImportBatch,
                on_duplicate: OnDuplicate = "error", create: bool = False) -> ImportReport:
    """Write a validated batch in one transaction; with on_duplicate='skip' items whose external id
    the project already has are left out (with their labels and judgments). With `create`, the
    project (`project.id` unused) is created in the same transaction, so a failed import leaves
    no empty project behind."""
    check_labels(project, batch)
    items = pd.DataFrame(batch.items, columns=item_store.ITEM_COLUMNS)
    existing = set() if create else item_store.existing_external_ids(
        storage.cursor(conn), project.id, items["external_id"].tolist())
    if existing and on_duplicate == "error":
        first = sorted(existing, key=lambda e: batch.places[e])[0]
        raise ImportDataError(f"{batch.places[first]}: item id '{first}' already exists in project "
                              f"'{project.name}' ({len(existing)} duplicate ids in all); nothing was "
                              f"imported. Use --on-duplicate skip to import only the new items")
    keep = ~items["external_id"].isin(existing)
    responses = pd.DataFrame(batch.responses, columns=item_store.RESPONSE_COLUMNS)
    responses = responses[~responses["external_id"].isin(existing)]
    labels = pd.DataFrame(batch.labels)
    if not labels.empty:
        labels = labels[~labels["external_id"].isin(existing)]
    judgments = pd.DataFrame(batch.judgments)
    if not judgments.empty:
        judgments = judgments[~judgments["external_id"].isin(existing)]

    def write(cur: duckdb.DuckDBPyConnection) -> None:
        project_id = project_store.insert_project(cur, project.name, project.task_type,
                                                  project.config.model_dump_json()) if create else project.id
        id_map = item_store.insert_items(cur, project_id, items[keep], responses)
        if not labels.empty:
            annotators = ensure_annotators(cur, sorted(labels["annotator"].unique()))
            events = labels.assign(project_id=project_id, item_id=labels["external_id"].map(id_map),
                                   annotator_id=labels["annotator"].map(annotators))
            label_store.insert_label_events(cur, events.drop(columns=["external_id", "annotator"]),
                                            pd.DataFrame(batch.label_values))
        if not judgments.empty:
            judge_ids = {name: judgment_store.get_or_create_judge(
                cur, name, config.get("backend", "external"), json.dumps(config, sort_keys=True),
                stable_hash(config), None) for name, config in batch.judges.items()}
            frame = judgments.assign(item_id=judgments["external_id"].map(id_map),
                                     judge_id=judgments["judge"].map(judge_ids))
            judgment_store.insert_judgments(cur, frame.drop(columns=["external_id", "judge"]))

    storage.write(conn, write)
    return ImportReport(project.name, int(keep.sum()), len(responses), len(labels), len(judgments),
                        len(existing), batch.notes)
