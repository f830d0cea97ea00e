"""What an import reads: column mappings, and records turned into an `ImportBatch` (the writing is
in annotate/data/importers.py).

Shapes (`shape`):
- 'items' (default): one row per item, with optional label and judge columns (`human.NAME`,
  `judge.NAME`, `judge.NAME@BA` for the verdict with B shown first, `human.*` / `judge.*` for a
  column holding a {name: value} object, `gold` for a reference label). With `criterion` the
  file has one row per (item, criterion) ("long" graded data); `human.NAME.CRITERION` maps one
  column per criterion ("wide").
- 'judgments': one row per (item, judge, presented order, verdict[, probs, rationale]).
- 'labels': one row per (item, annotator, value[, aspect or criterion, time]).

Pairwise label values are an integer on the project's scale (negative: A better) or 'A', 'B',
'tie' (the smallest strength). Judge verdicts are in canonical A/B terms unless `judge_terms` is
'presented' (then 'A' is the response shown first). Imported raters are never logins: they are
annotators of kind 'imported' named 'import:NAME'; a gold column becomes the rater 'gold' of kind
'gold'.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Iterator, Literal

from pydantic import BaseModel, Field, ValidationError

from annotate.data.readers import Record, json_safe, type_name
from annotate.errors import ImportDataError
from annotate.projects import Project
from annotate.signs import SIGN, verdict_of

OnDuplicate = Literal["error", "skip"]
SHAPES = ("items", "judgments", "labels")
ORDERS = ("AB", "BA")
IMPORTED, GOLD = "imported", "gold"
GOLD_RATER = "gold"
CHUNK_SIZE = 20_000
PREVIEW_ROWS = 5


def rater_name(name: str, kind: str = IMPORTED) -> str:
    """The stored name of a rater from a file: 'import:NAME' (never a login's name), or 'gold'.

    Raises:
        ImportDataError: an empty name.
    """
    if kind == GOLD:
        return GOLD_RATER
    name = str(name).strip()
    if not name or name == "import:":
        raise ImportDataError("An imported rater needs a non-empty name (e.g. --map human.alice=COLUMN)")
    return name if name.startswith("import:") else f"import:{name}"


@dataclass
class ImportBatch:
    """What one import writes: items and responses (flushed chunk by chunk), label events with
    their values, and judgments (written at the end). `places` maps each external id to where it
    was first read, for error messages."""
    items: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    label_values: list[dict] = field(default_factory=list)
    judgments: list[dict] = field(default_factory=list)
    judges: dict[str, dict] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    labelled: dict[tuple[str, str], int] = field(default_factory=dict)
    valued: set[tuple[int, str, int | None]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add_item(self, record: Record, external_id: str, prompt: str, responses: list[tuple[str, str | None]],
                 context: str | None = None, reference: str | None = None, metadata: dict | None = None,
                 id_field: str = "id") -> None:
        """Add an item with its responses [(text, model)]; refuse an id seen earlier in the input."""
        if external_id in self.places:
            raise record.error(id_field, f"duplicate id '{external_id}' (first seen at {self.places[external_id]})")
        self.places[external_id] = record.place
        self.items.append({"external_id": external_id, "prompt": prompt, "context": context,
                           "reference": reference, "metadata": _metadata_json(metadata)})
        self.responses.extend({"external_id": external_id, "idx": i, "text": text, "model": model}
                              for i, (text, model) in enumerate(responses))

    def add_label(self, external_id: str, annotator: str, values: list[tuple[str, int | None, float]],
                  source: str, *, kind: str = IMPORTED, place: str | None = None, **event: Any) -> None:
        """Add values of a rater's label of an item; values of one rater and item (several rows
        or columns, one per aspect or criterion) make one label event. A value given twice for
        the same aspect and response is refused."""
        rater = rater_name(annotator, kind)
        where = place or self.places.get(external_id, "input")
        key = self.labelled.get((external_id, rater))
        if key is None:
            key = self.labelled[(external_id, rater)] = len(self.labels)
            self.labels.append({"key": key, "external_id": external_id, "annotator": rater, "rater_kind": kind,
                                "kind": "label", "source": source, "place": where,
                                "both_bad": bool(event.pop("both_bad", False)), **event})
        for aspect, idx, value in values:
            if (key, aspect, idx) in self.valued:
                what = aspect if idx is None else f"{aspect}' of response '{idx}"
                raise ImportDataError(f"{where}: rater '{rater}' labels item '{external_id}' ('{what}') more "
                                      f"than once in this input")
            self.valued.add((key, aspect, idx))
            self.label_values.append({"key": key, "aspect": aspect, "response_idx": idx, "value": value})

    def add_judgment(self, external_id: str, judge: str, judge_config: dict | None = None, *,
                     place: str | None = None, **judgment: Any) -> None:
        """Add an external judge's verdict (presented_order 'AB', 'BA' or None for rubric)."""
        if not str(judge).strip():
            raise ImportDataError(f"{place or self.places.get(external_id, 'input')}: a judge needs a non-empty name")
        self.judges.setdefault(judge, judge_config or {})
        self.judgments.append({"external_id": external_id, "judge": judge, "source": "import",
                               "place": place or self.places.get(external_id, "input"), **judgment})


@dataclass
class ImportReport:
    """What an import read and wrote (or, in a dry run, would write)."""
    project: str
    items: int = 0
    responses: int = 0
    label_events: int = 0
    judgments: int = 0
    skipped_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    records: int = 0
    labels_per_rater: dict[str, int] = field(default_factory=dict)
    judgments_per_judge: dict[str, dict[str, int]] = field(default_factory=dict)
    unparsed: dict[str, int] = field(default_factory=dict)
    out_of_scale: dict[str, dict] = field(default_factory=dict)
    already_present: dict[str, int] = field(default_factory=lambda: {"labels": 0, "judgments": 0})
    metadata_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    non_finite_as_null: int = 0
    preview: list[dict] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def count_out_of_scale(self, who: str, value: Any) -> None:
        entry = self.out_of_scale.setdefault(who, {"count": 0, "values": []})
        entry["count"] += 1
        if len(entry["values"]) < 5 and value not in entry["values"]:
            entry["values"].append(value)


class ColumnMapping(BaseModel):
    """Which input column holds which field. Unmapped columns of an items file become metadata
    unless `metadata` lists the ones to keep (the others are reported as ignored)."""
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
    judge_labels: dict[str, str] = Field(default_factory=dict, description="judge name[@AB|@BA] -> column")
    gold: str | None = Field(default=None, description="column with a reference label per item")
    judge_terms: Literal["canonical", "presented"] = "canonical"
    criterion: str | None = Field(default=None, description="column naming the aspect or criterion of a row")
    judge: str | None = Field(default=None, description="judgments shape: column with the judge's name")
    annotator: str | None = Field(default=None, description="labels shape: column with the annotator's name")
    order: str | None = Field(default=None, description="judgments shape: column with 'AB' or 'BA'")
    value: str | None = Field(default=None, description="long shapes: column with the verdict, label or score")
    response: str | None = Field(default=None, description="long shapes: column with the response index (rubric)")
    probs: str | None = None
    rationale: str | None = None
    time: str | None = Field(default=None, description="labels shape: column with the label's time (ISO 8601)")


def parse_mapping(lines: list[str] | tuple[str, ...], base: dict | None = None) -> ColumnMapping | None:
    """A mapping from FIELD=COLUMN strings (the CLI's --map, one line each on the Projects page):
    `responses`, `models` and `metadata` take comma-separated columns; `human.NAME`, `judge.NAME`
    (`judge.NAME@BA` for B shown first) and `human.*` / `judge.*` name label columns.

    Raises:
        ImportDataError: a line without '=', an unknown field or an invalid value.
    """
    data = dict(base or {})
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, column = (part.strip() for part in line.partition("="))
        if not sep or not name:
            raise ImportDataError(f"Column mapping: expected FIELD=COLUMN, got {line!r}")
        if name in ("responses", "models", "metadata"):
            data[name] = [c.strip() for c in column.split(",") if c.strip()]
        elif name.startswith(("human.", "judge.")):
            kind, _, rater = name.partition(".")
            if not rater.strip() or rater.strip() in ("@AB", "@BA"):
                raise ImportDataError(f"Column mapping: '{name}' needs a {'judge' if kind == 'judge' else 'rater'} "
                                      f"name after '{kind}.'")
            data.setdefault(f"{kind}_labels", {})[rater.strip()] = column
        else:
            data[name] = column
    if not data:
        return None
    unknown = sorted(set(data) - set(ColumnMapping.model_fields))
    if unknown:
        raise ImportDataError(f"Column mapping: unknown field(s) {', '.join(unknown)} (fields: "
                              f"{', '.join(ColumnMapping.model_fields)}, human.NAME, judge.NAME)")
    try:
        return ColumnMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"'{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        raise ImportDataError(f"Column mapping: {problems}") from None


# ---------------------------------------------------------------- field access


def _blank(value: Any) -> bool:
    """No value in a label or optional cell: absent, null, or an empty CSV cell."""
    return value is None or (isinstance(value, str) and not value.strip())


def text_field(record: Record, name: str, *, required: bool = True) -> str | None:
    """The text in `name` (an empty string is text); a clear error when missing or not text."""
    if name not in record.data or record.data[name] is None:
        if required:
            raise record.error(name, "missing")
        return None
    value = record.data[name]
    if not isinstance(value, str):
        raise record.error(name, f"expected text, got {type_name(value)}")
    return value


def _optional_text(record: Record, name: str | None) -> str | None:
    """An optional text column: an empty cell is no value."""
    value = text_field(record, name, required=False) if name else None
    return value or None


def id_field(record: Record, name: str) -> str:
    """An id: text, or an integer written as a number."""
    value = record.data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise record.error(name, "missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise record.error(name, f"expected text or an integer id, got {type_name(value)}")
    return str(value)


def _number(value: Any) -> float | None:
    """A number, or an integer written as text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def pairwise_value(project: Project, value: Any) -> int | None:
    """Parse a pairwise label ('A', 'B', 'tie' or a signed integer on the scale); None if invalid."""
    scale = sorted(p.value for p in project.config.scale)
    if isinstance(value, str):
        word = value.strip().lower()
        weakest = min(v for v in scale if v > 0)
        letters = {verdict.lower(): sign * weakest for verdict, sign in SIGN.items()}
        if word in letters:
            return letters[word]
    number = _number(value)
    if number is None or not number.is_integer():
        return None
    return int(number) if int(number) in scale else None


def _metadata_json(metadata: dict | None) -> str | None:
    if not metadata:
        return None
    try:
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # Parquet timestamps, decimals, bytes; NaN
        return json.dumps(json_safe(metadata), ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- building batches from records


class BatchBuilder:
    """Turns records of one shape into an ImportBatch, counting what it reads in the report."""

    def __init__(self, project: Project, mapping: ColumnMapping, source: str, shape: str,
                 report: ImportReport) -> None:
        if shape not in SHAPES:
            raise ImportDataError(f"Unknown shape '{shape}' (shapes: {', '.join(SHAPES)})")
        if project.task_type == "rubric" and mapping.models and len(mapping.models) != len(mapping.responses):
            raise ImportDataError(f"Column mapping: 'models' names {len(mapping.models)} columns but 'responses' "
                                  f"names {len(mapping.responses)}; give one model column per response or none")
        self.project, self.mapping, self.source, self.shape, self.report = project, mapping, source, shape, report
        self.batch = ImportBatch()
        self.bad_label: ImportDataError | None = None
        self.humans = [self._split(name, column) for name, column in mapping.human_labels.items()]
        self.judges = [self._split(name, column, orders=True) for name, column in mapping.judge_labels.items()]
        self.used = self.mapped_columns()
        self._add = {"items": self._item, "judgments": self._judgment_row, "labels": self._label_row}[shape]
        if project.task_type == "pairwise":
            self.columns, self.model_columns = [mapping.response_a, mapping.response_b], [mapping.model_a, mapping.model_b]
        else:
            self.columns, self.model_columns = mapping.responses, mapping.models or [None] * len(mapping.responses)

    def _split(self, key: str, column: str, orders: bool = False) -> tuple[str, str | None, str | None, str]:
        """(name, criterion, order, column) of a `human.NAME[.CRITERION]` / `judge.NAME[.CRITERION][@ORDER]` key."""
        name, order = key, None
        if orders and key[-3:] in ("@AB", "@BA"):
            name, order = key[:-3], key[-2:]
        criterion = next((c for c in self.project.config.aspect_names if name.endswith(f".{c}")), None)
        if criterion:
            name = name[:-len(criterion) - 1]
        if not name.strip():
            raise ImportDataError(f"Column mapping: '{key}' needs a name")
        return name, criterion, order, column

    def mapped_columns(self) -> dict[str, str]:
        """{column: the mapping field that names it} for every column this mapping reads."""
        m = self.mapping
        fields = {"id": m.id, "criterion": m.criterion, "gold": m.gold, "judge": m.judge, "annotator": m.annotator,
                  "order": m.order, "value": m.value, "response": m.response, "probs": m.probs,
                  "rationale": m.rationale, "time": m.time}
        if self.shape == "judgments":
            fields |= {"judge": m.judge or "judge",
                       "value": m.value or ("verdict" if self.project.task_type == "pairwise" else "score")}
        elif self.shape == "labels":
            fields |= {"annotator": m.annotator or "annotator", "value": m.value or "value"}
        else:
            fields |= {"prompt": m.prompt, "context": m.context, "reference": m.reference}
            if self.project.task_type == "pairwise":
                fields |= {"response_a": m.response_a, "response_b": m.response_b, "model_a": m.model_a,
                           "model_b": m.model_b}
            else:
                fields |= {f"responses[{i}]": c for i, c in enumerate(m.responses)}
                fields |= {f"models[{i}]": c for i, c in enumerate(m.models)}
            fields |= {f"metadata[{i}]": c for i, c in enumerate(m.metadata or [])}
            fields |= {f"human.{k}": c for k, c in m.human_labels.items()}
            fields |= {f"judge.{k}": c for k, c in m.judge_labels.items()}
        columns: dict[str, str] = {}
        for name, column in fields.items():
            if column:
                columns.setdefault(column, name)
        return columns

    def add(self, record: Record) -> None:
        self._add(record)

    # -- items shape

    def _item(self, record: Record) -> None:
        m = self.mapping
        external_id = id_field(record, m.id)
        columns, data = self.columns, record.data
        criterion = self._criterion(record) if m.criterion else None
        if not (criterion and external_id in self.batch.places):
            texts = [text_field(record, c) for c in columns]
            models = [_optional_text(record, c) if c else None for c in self.model_columns]
            used = self.used
            keep = m.metadata if m.metadata is not None else [k for k in data if k not in used]
            metadata = {k: data[k] for k in keep if not _blank(data.get(k))}
            self.batch.add_item(record, external_id, text_field(record, m.prompt), list(zip(texts, models)),
                                context=_optional_text(record, m.context),
                                reference=_optional_text(record, m.reference), metadata=metadata, id_field=m.id)
        n_responses = len(columns)
        for name, crit, _, column in self.humans:
            cells = self._cells(record, name, column)
            for rater, cell, where in cells:
                self._human(record, external_id, rater, cell, where, crit or criterion, n_responses, IMPORTED)
        if m.gold and not _blank(record.data.get(m.gold)):
            self._human(record, external_id, GOLD_RATER, record.data[m.gold], m.gold, criterion, n_responses, GOLD)
        for name, crit, order, column in self.judges:
            for judge, cell, where in self._cells(record, name, column):
                orders = cell if isinstance(cell, dict) and name == "*" and set(cell) <= set(ORDERS) else \
                    {order or "AB": cell}
                for presented, value in orders.items():
                    if not _blank(value):
                        self._judge(record, external_id, judge, value, where, crit or criterion, n_responses,
                                    presented)

    def _cells(self, record: Record, name: str, column: str) -> list[tuple[str, Any, str]]:
        """[(rater, cell, field name for errors)]: one for a plain column, one per key of a nested object."""
        value = record.data.get(column)
        if _blank(value):
            return []
        if name != "*":
            return [(name, value, column)]
        if isinstance(value, str) and value.strip()[:1] == "{":
            try:
                value = json.loads(value)
            except ValueError:
                raise record.error(column, "expected an object of {name: value}, got text that is not JSON") from None
        if not isinstance(value, dict):
            raise record.error(column, f"expected an object of {{name: value}}, got {type_name(value)}")
        for key in value:
            if not str(key).strip():
                raise record.error(column, "a rater or judge with an empty name")
        return [(str(k), v, f"{column}.{k}") for k, v in value.items() if not _blank(v)]

    def _criterion(self, record: Record) -> str:
        name = text_field(record, self.mapping.criterion)
        if name not in self.project.config.aspect_names:
            raise record.error(self.mapping.criterion, f"'{name}' is not an aspect or criterion of project "
                                                       f"'{self.project.name}' ({self.project.config.aspect_names})")
        return name

    def _human(self, record: Record, external_id: str, rater: str, cell: Any, where: str, criterion: str | None,
               n_responses: int, kind: str, **event: Any) -> None:
        values, bad = self._values(record, cell, where, criterion, n_responses)
        for value in bad:
            self.report.count_out_of_scale(rater_name(rater, kind), value)
            if self.bad_label is None:
                allowed = self._allowed(criterion)
                self.bad_label = record.error(where, f"label {value!r} is not {allowed}")
        if not bad:
            self.batch.add_label(external_id, rater, values, self.source, kind=kind, place=record.place, **event)

    def _allowed(self, criterion: str | None) -> str:
        if self.project.task_type == "pairwise":
            return f"'A', 'B', 'tie' or one of {sorted(p.value for p in self.project.config.scale)}"
        names = [criterion] if criterion else self.project.config.aspect_names
        return " / ".join(f"one of {list(self.project.config.criterion(c).scores)} for '{c}'" for c in names)

    def _values(self, record: Record, cell: Any, where: str, criterion: str | None,
                n_responses: int) -> tuple[list[tuple], list]:
        """([(aspect, response_idx, value)], [values off the scale]) of a label cell."""
        config = self.project.config
        if config.task_type == "pairwise":
            value = pairwise_value(self.project, cell)
            return ([(criterion or "overall", None, float(value))], []) if value is not None else ([], [cell])
        rows, bad = [], []
        for idx, scores in enumerate(self._rubric_cells(record, cell, where, criterion, n_responses)):
            for name, score in scores.items():
                number = _number(score)
                if number is None or not number.is_integer() or int(number) not in config.criterion(name).scores:
                    bad.append(score)
                else:
                    rows.append((name, idx, number))
        return rows, bad

    def _rubric_cells(self, record: Record, cell: Any, where: str, criterion: str | None,
                      n_responses: int) -> list[dict]:
        """A rubric cell as one {criterion: score} per response: a list per response, one object for
        one response, or a bare score when the criterion is known (column, row or the only one)."""
        if isinstance(cell, str) and cell.strip()[:1] in "[{":
            try:
                cell = json.loads(cell)
            except ValueError:
                raise record.error(where, "expected a score or an object of criterion scores, got text "
                                          "that is not JSON") from None
        if hasattr(cell, "tolist"):
            cell = cell.tolist()
        cells = cell if isinstance(cell, list) else [cell]
        only = criterion or (self.project.config.aspect_names[0] if len(self.project.config.criteria) == 1 else None)
        if only and not any(isinstance(c, dict) for c in cells):
            cells = [{only: c} for c in cells]
        if len(cells) != n_responses or not all(isinstance(c, dict) and c for c in cells):
            raise record.error(where, f"expected an object of criterion scores per response ({n_responses})")
        for scores in cells:
            unknown = [k for k in scores if k not in self.project.config.aspect_names]
            if unknown:
                raise record.error(where, f"criterion {unknown[0]!r} is not in project '{self.project.name}' "
                                          f"({self.project.config.aspect_names})")
        return cells

    def _judge(self, record: Record, external_id: str, judge: str, cell: Any, where: str, criterion: str | None,
               n_responses: int, order: str | None, **extra: Any) -> None:
        """A judge's verdict; one that cannot be read is stored unparsed with the raw cell, and a
        number off the scale is also counted as out of scale."""
        raw = cell if isinstance(cell, str) else json.dumps(json_safe(cell), ensure_ascii=False)
        if self.project.task_type == "pairwise":
            value = pairwise_value(self.project, cell)
            if value is not None and order == "BA" and self.mapping.judge_terms == "presented":
                value = -value
            if value is None and _number(cell) is not None:
                self.report.count_out_of_scale(f"judge {judge}", cell)
            self.batch.add_judgment(external_id, judge, place=record.place, aspect=criterion or "overall",
                                    presented_order=order or "AB", verdict=None if value is None else verdict_of(value),
                                    is_parsed=value is not None, raw_output=raw, **extra)
            return
        try:
            cells = self._rubric_cells(record, cell, where, criterion, n_responses)
        except ImportDataError:
            cells = None
        for idx in range(n_responses):
            scores = cells[idx] if cells else {criterion or "overall": None}
            for name, score in scores.items():
                number = _number(score)
                ok = cells is not None and number is not None and number.is_integer() and \
                    int(number) in self.project.config.criterion(name).scores
                if cells is not None and not ok and number is not None:
                    self.report.count_out_of_scale(f"judge {judge}", score)
                self.batch.add_judgment(external_id, judge, place=record.place, aspect=name, response_idx=idx,
                                        score=number if ok else None, verdict=str(int(number)) if ok else None,
                                        is_parsed=ok, raw_output=raw, **extra)

    # -- long shapes

    def _long_common(self, record: Record) -> tuple[str, str | None, int | None]:
        m = self.mapping
        external_id = id_field(record, m.id)
        criterion = self._criterion(record) if m.criterion and not _blank(record.data.get(m.criterion)) else None
        if self.project.task_type == "rubric":
            criterion = criterion or (self.project.config.aspect_names[0]
                                      if len(self.project.config.criteria) == 1 else None)
            if criterion is None:
                raise record.error(m.criterion or "criterion", "missing (the project has several criteria)")
            idx = record.data.get(m.response) if m.response else 0
            number = _number(idx)
            if number is None or not number.is_integer() or number < 0:
                raise record.error(m.response, f"expected a response index 0, 1, ..., got {idx!r}")
            return external_id, criterion, int(number)
        return external_id, criterion, None

    def _judgment_row(self, record: Record) -> None:
        m = self.mapping
        external_id, criterion, idx = self._long_common(record)
        judge = text_field(record, m.judge or "judge").strip()
        order = None
        if self.project.task_type == "pairwise":
            order = str(record.data.get(m.order) or "").strip().upper() if m.order else "AB"
            if order not in ORDERS:
                raise record.error(m.order, f"expected 'AB' or 'BA', got {record.data.get(m.order)!r}")
        value_column = m.value or ("verdict" if self.project.task_type == "pairwise" else "score")
        if value_column not in record.data:
            raise record.error(value_column, "missing")
        extra = {"rationale": _optional_text(record, m.rationale)}
        if m.probs and not _blank(record.data.get(m.probs)):
            extra["probs"] = self._probs(record)
        cell = record.data[value_column]
        if _blank(cell):
            cell = ""
        if self.project.task_type == "pairwise":
            self._judge(record, external_id, judge, cell, value_column, criterion, 2, order, **extra)
        else:
            number = _number(cell)
            ok = number is not None and number.is_integer() and int(number) in self.project.config.criterion(criterion).scores
            if not ok and number is not None:
                self.report.count_out_of_scale(f"judge {judge}", cell)
            self.batch.add_judgment(external_id, judge, place=record.place, aspect=criterion, response_idx=idx,
                                    score=number if ok else None, verdict=str(int(number)) if ok else None,
                                    is_parsed=ok, raw_output=str(cell), **extra)

    def _probs(self, record: Record) -> list[float]:
        raw = record.data[self.mapping.probs]
        try:
            probs = json.loads(raw) if isinstance(raw, str) else raw
            probs = probs.tolist() if hasattr(probs, "tolist") else probs
            probs = [float(p) for p in probs]
        except (TypeError, ValueError):
            probs = None
        if not probs or any(not 0 <= p <= 1 for p in probs):
            raise record.error(self.mapping.probs, f"expected a list of probabilities, got {raw!r}")
        return probs

    def _label_row(self, record: Record) -> None:
        m = self.mapping
        external_id, criterion, idx = self._long_common(record)
        annotator = text_field(record, m.annotator or "annotator")
        value_column = m.value or "value"
        if _blank(record.data.get(value_column)):
            raise record.error(value_column, "missing")
        event = {}
        if m.time and not _blank(record.data.get(m.time)):
            event["created_at"] = _time(record, m.time)
        cell = record.data[value_column]
        if self.project.task_type == "pairwise":
            self._human(record, external_id, annotator, cell, value_column, criterion, 2, IMPORTED, **event)
            return
        number = _number(cell)
        if number is None or not number.is_integer() or \
                int(number) not in self.project.config.criterion(criterion).scores:
            self.report.count_out_of_scale(rater_name(annotator), cell)
            if self.bad_label is None:
                self.bad_label = record.error(value_column, f"label {cell!r} is not {self._allowed(criterion)}")
            return
        self.batch.add_label(external_id, annotator, [(criterion, idx, number)], self.source, place=record.place,
                             **event)


def _time(record: Record, column: str) -> str:
    value = record.data[column]
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise record.error(column, f"expected an ISO 8601 time such as 2024-05-01T12:00:00Z, got {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def batch_from_records(project: Project, records: list[Record], mapping: ColumnMapping, source: str,
                       shape: str = "items") -> ImportBatch:
    """Build a validated batch from a list of records (small inputs; imports stream instead)."""
    builder = BatchBuilder(project, mapping, source, shape, ImportReport(project.name))
    for record in records:
        builder.add(record)
    if builder.bad_label is not None:
        raise builder.bad_label
    return builder.batch


def chunked(records: Iterator[Record], size: int | None = None) -> Iterator[list[Record]]:
    """Lists of up to `size` (default CHUNK_SIZE) records."""
    while chunk := list(islice(records, size or CHUNK_SIZE)):
        yield chunk
