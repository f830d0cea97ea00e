"""Built-in adapters for published preference datasets, and `import_items`, the import entry point.

- PandaLM test set (github.com/WeOpenML/PandaLM, data/): testset-v1.json with three annotators,
  plus the gpt-3.5-turbo and PandaLM-7B judge files. Labels 0 = tie, 1 = response1, 2 = response2.
- MT-Bench human judgments (HF `lmsys/mt_bench_human_judgments`): question_id, model_a, model_b,
  winner, judge, turn, conversation_a/b. Judges whose name starts with 'gpt4' become AI judges.
- MultiPref (HF `allenai/multipref`): text, completion_a/b, model_a/b and per-annotator
  overall/helpful/truthful/harmless preferences on the 5-point scale.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from storage.db import Connection
from annotate.config import MULTIPREF_SCALE, THREE_POINT_SCALE, Aspect, ProjectConfig
from annotate.errors import ImportDataError, NotFoundError
from annotate.data.importers import (ColumnMapping, ImportBatch, ImportReport, OnDuplicate, Record, id_field,
                                     import_file, read_records, text_field, write_batch)
from annotate.data.readers import check_nul
from annotate.projects import Project, get_project
from annotate.signs import verdict_of
from annotate.text_checks import refuse_nul

ADAPTERS = ("pandalm", "mtbench", "multipref")

# ---------------------------------------------------------------- PandaLM

PANDALM_TESTSET = "testset-v1.json"
PANDALM_JUDGES = {"gpt-3.5-turbo": ("gpt-3.5-turbo-testset-v1.json", "gpt_result", "gpt_reason"),
                  "pandalm-7b": ("pandalm-7b-testset-v1.json", "pandalm_result", "pandalm_reason")}
PANDALM_LABELS = {0: 0, 1: -1, 2: 1}  # PandaLM code -> signed value (response1 is A)
PANDALM_ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def pandalm_config() -> ProjectConfig:
    """The PandaLM test set's 3-point scale (response 1 better / tie / response 2 better)."""
    return ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE, overlap=3,
                         guidelines="Which response follows the instruction better? Ties are allowed.")


def pandalm_batch(folder: Path, config: ProjectConfig) -> ImportBatch:
    """Items, the three annotators' labels and the two judge files of the PandaLM test set.

    Six responses (items 157-164) are JSON booleans; their JSON text form ('true'/'false') is kept
    and the count reported in the batch notes.
    """
    folder = Path(folder)
    batch = ImportBatch()
    converted = 0
    for record in read_records(folder / PANDALM_TESTSET, "json"):
        external_id = id_field(record, "idx")
        texts = []
        for name in ("response1", "response2"):
            value = record.data.get(name)
            if isinstance(value, bool):
                value, converted = json.dumps(value), converted + 1
                record.data[name] = value
            texts.append(text_field(record, name))
        models = text_field(record, "cmp_key").split("_", 1)
        if len(models) != 2:
            raise record.error("cmp_key", "expected 'modelA_modelB'")
        batch.add_item(record, external_id, text_field(record, "instruction"), list(zip(texts, models)),
                       context=text_field(record, "input", required=False) or None,
                       metadata={"motivation_app": record.data.get("motivation_app"),
                                 "cmp_key": record.data.get("cmp_key")}, id_field="idx")
        for number, annotator in enumerate(PANDALM_ANNOTATORS, start=1):
            code = record.data.get(annotator)
            if code not in PANDALM_LABELS or isinstance(code, bool):
                raise record.error(annotator, f"expected 0, 1 or 2, got {code!r}")
            batch.add_label(external_id, f"pandalm-annotator-{number}",
                            [("overall", None, float(PANDALM_LABELS[code]))], f"import:{PANDALM_TESTSET}")
    for judge, (filename, result_field, reason_field) in PANDALM_JUDGES.items():
        _pandalm_judge(batch, folder / filename, judge, result_field, reason_field)
    if converted:
        batch.notes.append(f"converted {converted} boolean responses to their JSON text form")
    return batch


def _pandalm_judge(batch: ImportBatch, path: Path, judge: str, result_field: str, reason_field: str) -> None:
    config = {"backend": "external", "name": judge, "source": path.name}
    unparsed = 0
    for record in read_records(path, "json"):
        external_id = id_field(record, "idx")
        if external_id not in batch.places:
            raise record.error("idx", f"no item '{external_id}' in {PANDALM_TESTSET}")
        raw = record.data.get(result_field)
        code = {"1": 1, "2": 2, "tie": 0, "0": 0}.get(str(raw).strip().lower())
        value = PANDALM_LABELS.get(code)
        unparsed += value is None
        batch.add_judgment(external_id, judge, config, aspect="overall", presented_order="AB",
                           verdict=None if value is None else verdict_of(value), is_parsed=value is not None,
                           rationale=record.data.get(reason_field), raw_output=json.dumps(raw))
    if unparsed:
        batch.notes.append(f"{judge}: {unparsed} verdicts could not be parsed; stored as unparsed")


# ---------------------------------------------------------------- MT-Bench

MTBENCH_WINNERS = {"model_a": (-1, False), "model_b": (1, False), "tie": (0, False), "tie (bothbad)": (0, True)}


def mtbench_config() -> ProjectConfig:
    return ProjectConfig(task_type="pairwise", scale=THREE_POINT_SCALE, overlap=1, both_bad_flag=True,
                         guidelines="Which assistant answered the user's question better?")


def mtbench_batch(records: list[Record], config: ProjectConfig) -> ImportBatch:
    """One item per (question, unordered model pair, turn); a vote whose models come in the other
    order is flipped, so every item has one canonical A and B."""
    batch = ImportBatch()
    for record in records:
        models = sorted([text_field(record, "model_a"), text_field(record, "model_b")])
        swapped = models[0] != record.data["model_a"]
        turn = record.data.get("turn")
        if turn not in (1, 2):
            raise record.error("turn", f"expected 1 or 2, got {turn!r}")
        external_id = f"{id_field(record, 'question_id')}-{models[0]}-{models[1]}-t{turn}"
        winner = text_field(record, "winner")
        if winner not in MTBENCH_WINNERS:
            raise record.error("winner", f"expected one of {list(MTBENCH_WINNERS)}, got {winner!r}")
        value, both_bad = MTBENCH_WINNERS[winner]
        value = -value if swapped else value
        if external_id not in batch.places:
            conv_a, conv_b = (_conversation(record, "conversation_b"), _conversation(record, "conversation_a")) \
                if swapped else (_conversation(record, "conversation_a"), _conversation(record, "conversation_b"))
            prompt, context, answer_a = _turn(record, conv_a, turn)
            answer_b = _turn(record, conv_b, turn)[2]
            batch.add_item(record, external_id, prompt, [(answer_a, models[0]), (answer_b, models[1])],
                           context=context, metadata={"question_id": record.data["question_id"], "turn": turn},
                           id_field="question_id")
        judge = text_field(record, "judge")
        if judge.startswith("gpt4"):
            batch.add_judgment(external_id, judge, {"backend": "external", "name": judge, "source": "mt_bench"},
                               aspect="overall", presented_order="BA" if swapped else "AB",
                               verdict=verdict_of(value), is_parsed=True, raw_output=winner)
        else:
            batch.add_label(external_id, judge, [("overall", None, float(value))], "import:mt_bench",
                            both_bad=both_bad)
    return batch


def _conversation(record: Record, name: str) -> list[dict]:
    value = record.data.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None  # reported just below
    if not isinstance(value, list) or not all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                              for m in value):
        raise record.error(name, "expected a list of {role, content} messages")
    check_nul(Record(record.place, {name: value}))  # a conversation given as JSON text inside a cell
    return list(value)


def _turn(record: Record, conversation: list[dict], turn: int) -> tuple[str, str | None, str]:
    """(the user's message of this turn, the earlier turns as context, the assistant's answer)."""
    users = [m["content"] for m in conversation if m.get("role") == "user"]
    answers = [m["content"] for m in conversation if m.get("role") == "assistant"]
    if len(users) < turn or len(answers) < turn:
        raise record.error("conversation_a", f"has no turn {turn}")
    context = "\n\n".join(f"User: {u}\n\nAssistant: {a}" for u, a in zip(users[:turn - 1], answers)) or None
    return users[turn - 1], context, answers[turn - 1]


# ---------------------------------------------------------------- MultiPref

MULTIPREF_PREFS = {"a-is-clearly-better": -2, "a-is-slightly-better": -1, "tie": 0,
                   "b-is-slightly-better": 1, "b-is-clearly-better": 2}
MULTIPREF_ASPECTS = {"helpfulness": "helpful_pref", "truthfulness": "truthful_pref",
                     "harmlessness": "harmless_pref"}
MULTIPREF_CONFIDENCE = {"absolutely-confident": 5, "fairly-confident": 4, "not-confident": 2}


def multipref_config() -> ProjectConfig:
    return ProjectConfig(task_type="pairwise", scale=MULTIPREF_SCALE, overlap=4,
                         aspects=[Aspect(name=a) for a in MULTIPREF_ASPECTS], justification="optional")


def multipref_batch(records: list[Record], config: ProjectConfig) -> ImportBatch:
    """Items with the normal and expert annotators' 5-point preferences on four rows."""
    batch = ImportBatch()
    for record in records:
        external_id = id_field(record, "comparison_id")
        batch.add_item(record, external_id, text_field(record, "text"),
                       [(text_field(record, "completion_a"), text_field(record, "model_a", required=False)),
                        (text_field(record, "completion_b"), text_field(record, "model_b", required=False))],
                       metadata={k: record.data.get(k) for k in ("source", "category", "subject_study")
                                 if record.data.get(k) is not None}, id_field="comparison_id")
        for group in ("normal_worker_annotations", "expert_worker_annotations"):
            for annotation in _as_list(record, group):
                values = [("overall", None, _pref(record, group, annotation, "overall_pref"))]
                values += [(aspect, None, _pref(record, group, annotation, column))
                           for aspect, column in MULTIPREF_ASPECTS.items()]
                batch.add_label(external_id, str(annotation.get("evaluator") or f"{group}-unknown"), values,
                                "import:multipref",
                                confidence=MULTIPREF_CONFIDENCE.get(str(annotation.get("overall_confidence"))),
                                seconds=_number(annotation.get("time_spent")))
    return batch


def _as_list(record: Record, name: str) -> list[dict]:
    value = record.data.get(name)
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise record.error(name, "expected a list of annotation objects")
    return value


def _pref(record: Record, group: str, annotation: dict, column: str) -> float:
    raw = str(annotation.get(column, "")).strip().lower()
    if raw not in MULTIPREF_PREFS:
        raise record.error(f"{group}.{column}", f"expected one of {list(MULTIPREF_PREFS)}, got {raw!r}")
    return float(MULTIPREF_PREFS[raw])


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- entry points

BUILDERS = {"mtbench": (mtbench_config, mtbench_batch), "multipref": (multipref_config, multipref_batch)}


def adapter_config(adapter: str) -> ProjectConfig:
    """The project config an adapter's data needs (used when the project does not exist yet)."""
    if adapter == "pandalm":
        return pandalm_config()
    if adapter not in BUILDERS:
        raise ImportDataError(f"Unknown adapter '{adapter}' (adapters: {', '.join(ADAPTERS)})")
    return BUILDERS[adapter][0]()


def adapter_batch(adapter: str, source: Path, config: ProjectConfig) -> ImportBatch:
    """Build the batch for `adapter` from a folder (PandaLM) or a JSONL/JSON/CSV/Parquet file."""
    if adapter == "pandalm":
        return pandalm_batch(source, config)
    return BUILDERS[adapter][1](read_records(Path(source)), config)


def hf_records(dataset_id: str, split: str | None = None) -> list[Record]:
    """Load a Hugging Face dataset (needs the network) into records."""
    try:
        import datasets
        loaded = datasets.load_dataset(dataset_id, split=split)
    except Exception as exc:  # offline, unknown id, gated dataset: all reported the same way
        raise ImportDataError(f"Cannot load Hugging Face dataset '{dataset_id}': {exc}. Download it on a "
                              f"machine with network access and import the file instead") from None
    if isinstance(loaded, datasets.DatasetDict):
        loaded = loaded[split or next(iter(loaded))]
    frame: pd.DataFrame = loaded.to_pandas()
    return [Record(f"{dataset_id} row {i + 1}", row) for i, row in enumerate(frame.to_dict("records"))]


def adapter_batch_from_records(adapter: str, records: list[Record], config: ProjectConfig) -> ImportBatch:
    if adapter not in BUILDERS:
        raise ImportDataError(f"Adapter '{adapter}' cannot read a Hugging Face dataset")
    return BUILDERS[adapter][1](records, config)


def import_items(conn: Connection, project_name: str, source: str | Path | None = None, *,
                 adapter: str | None = None, fmt: str | None = None, mapping: ColumnMapping | None = None,
                 hf_dataset: str | None = None, hf_split: str | None = None, task_type: str | None = None,
                 on_duplicate: OnDuplicate = "error", shape: str = "items", dry_run: bool = False) -> ImportReport:
    """Import a file, folder or HF dataset into a project, creating the project if needed.

    A new project takes the adapter's config, or a default pairwise config for a generic file.
    A rubric project needs criteria, so it is created first (`projects create --task-type rubric
    --criteria FILE`); asking for a new rubric project here says so. All or nothing.
    """
    if (source is None) == (hf_dataset is None):
        raise ImportDataError("Give either a file or folder to import, or a Hugging Face dataset id")
    if not project_name.strip():
        raise ImportDataError("A project needs a non-empty name")
    refuse_nul(project_name, "A project name", ImportDataError)
    try:
        project = get_project(conn, project_name)
    except NotFoundError:
        project = None
    if project is None and task_type == "rubric" and not adapter:
        raise ImportDataError(f"No project '{project_name}' yet: a rubric project needs its criteria, so create it "
                              f"first with: python -m annotate projects create {project_name} --task-type rubric "
                              f"--criteria CRITERIA.json")
    if project is not None and task_type and task_type != project.task_type and not adapter:
        raise ImportDataError(f"Project '{project_name}' is a {project.task_type} project, not {task_type}")
    if project is None and shape != "items":
        raise ImportDataError(f"No project '{project_name}': a {shape} file adds to the items of an existing project")
    config = project.config if project else (
        adapter_config(adapter) if adapter else ProjectConfig(task_type="pairwise"))
    target = project or Project(0, project_name, config)
    if hf_dataset:
        batch = adapter_batch_from_records(adapter or "", hf_records(hf_dataset, hf_split), config)
    elif adapter:
        batch = adapter_batch(adapter, Path(source), config)
    else:
        return import_file(conn, target, Path(source), mapping=mapping, fmt=fmt, on_duplicate=on_duplicate,
                           shape=shape, create=project is None, dry_run=dry_run)
    return write_batch(conn, target, batch, on_duplicate=on_duplicate, create=project is None, dry_run=dry_run)


def import_upload(conn: Connection, project_name: str, filename: str, data: bytes, *,
                  mapping: ColumnMapping | None = None, task_type: str | None = None,
                  on_duplicate: OnDuplicate = "error", shape: str = "items", dry_run: bool = False) -> ImportReport:
    """Import a file uploaded in the browser: same rules and messages as `import_items`, which
    reads it from a temporary copy under its own name (so errors name the user's file)."""
    name = Path(filename).name
    if not name or name in (".", ".."):
        raise ImportDataError("The uploaded file has no name")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return import_items(conn, project_name, path, mapping=mapping, task_type=task_type,
                            on_duplicate=on_duplicate, shape=shape, dry_run=dry_run)
