"""Check items: items with a known answer, used as attention checks or as training items.

An item is marked with a purpose ('attention' or 'training'), its expected answer (a canonical
label: pairwise {aspect: signed value}, rubric {response_idx: {criterion: score}}) and the
researcher's explanation (shown after a training item is submitted). The answer comes from the
project's gold rater (imported with `--map gold=COL`, annotators.kind 'gold') or from a file
(CSV / JSONL / JSON / Parquet with `id`, `answer`, optional `explanation` and `purpose`).

Scoring (`is_correct`): a pairwise answer is right when its overall verdict (A / tie / B, the sign
of the value; annotate.signs) is the expected one, whatever the strength; a rubric answer when
every expected score is matched within the study's `check_tolerance` points.

Check items are served only as checks: the study never serves them to participants as real items,
and answers to them are stored apart from label events (they never count toward k).
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

import storage
from storage.db import Connection
from storage import items as item_store, study as store
from annotate.clock import utc_now
from annotate.errors import NotFoundError
from annotate.labeling.assignment import describe_label, presented_values
from annotate.projects import Project
from annotate.signs import VERDICT
from annotate.study.errors import StudyError

PURPOSES = ("attention", "training")


def mark_from_gold(conn: Connection, project: Project, purpose: str, *, item_ids: list[str] | None = None,
                   limit: int | None = None, explanation: str = "", seed: int = 0,
                   now: datetime | None = None) -> int:
    """Mark items with a gold label as check items of `purpose`, the gold label as the answer.

    Args:
        item_ids: the dataset's ids to mark (default: every gold-labeled item not yet marked).
        limit: at most this many, drawn at random with `seed` (so a few gold items become checks
            and the rest stay real items).

    Returns:
        How many items were marked.

    Raises:
        StudyError: an unknown purpose, or no gold labels in the project.
        NotFoundError: an id without a gold label.
    """
    _check_purpose(purpose)
    gold = store.gold_labels(storage.cursor(conn), project.id)
    if gold.empty:
        raise StudyError(f"Project '{project.name}' has no gold labels (import them with --map gold=COLUMN)")
    answers = {ext: _expected_from_rows(project, rows) for ext, rows in gold.groupby("external_id", sort=False)}
    ids = {ext: int(rows["item_id"].iloc[0]) for ext, rows in gold.groupby("external_id", sort=False)}
    if item_ids:
        missing = [i for i in item_ids if i not in answers]
        if missing:
            raise NotFoundError(f"Project '{project.name}': no gold label for item(s) {', '.join(missing[:5])}")
        chosen = list(item_ids)
    else:
        marked = set(store.check_items(storage.cursor(conn), project.id)["external_id"])
        chosen = [ext for ext in answers if ext not in marked]
    if limit is not None and limit < len(chosen):
        picks = np.random.default_rng(seed).choice(len(chosen), size=limit, replace=False)
        chosen = [chosen[i] for i in sorted(picks)]
    rows = [{"item_id": ids[ext], "project_id": project.id, "purpose": purpose, "expected": answers[ext],
             "explanation": explanation or None, "source": "gold"} for ext in chosen]
    now = now or utc_now()
    return storage.write(conn, lambda c: store.upsert_check_items(c, rows, now))


def mark_from_file(conn: Connection, project: Project, path: str | Path, purpose: str = "attention",
                   now: datetime | None = None) -> int:
    """Mark the items a file lists as check items; return how many.

    The file has one record per item: `id` (the dataset's id), `answer` (pairwise: A, B, tie or a
    signed value on the scale; rubric: JSON {response number from 1: {criterion: score}}), and
    optionally `explanation` and `purpose` ('attention' or 'training'; default `purpose`).

    Raises:
        ImportDataError: naming the file, line and field of the first bad record (nothing is marked).
    """
    from annotate.data.readers import read_records
    _check_purpose(purpose)
    cur = storage.cursor(conn)
    rows = []
    for record in read_records(path):
        data = record.data
        external_id = str(data.get("id") or "").strip()
        if not external_id:
            raise record.error("id", "missing")
        item_id = item_store.item_id_for(cur, project.id, external_id)
        if item_id is None:
            raise record.error("id", f"no item '{external_id}' in project '{project.name}'")
        row_purpose = str(data.get("purpose") or purpose).strip()
        if row_purpose not in PURPOSES:
            raise record.error("purpose", f"expected one of {', '.join(PURPOSES)}, got {row_purpose!r}")
        try:
            expected = parse_answer(project, data.get("answer"))
        except StudyError as exc:
            raise record.error("answer", str(exc)) from None
        rows.append({"item_id": item_id, "project_id": project.id, "purpose": row_purpose, "expected": expected,
                     "explanation": str(data.get("explanation") or "").strip() or None,
                     "source": f"file:{Path(path).name}"})
    now = now or utc_now()
    return storage.write(conn, lambda c: store.upsert_check_items(c, rows, now))


def mark_item(conn: Connection, project: Project, external_id: str, purpose: str, answer: object, explanation: str = "",
              now: datetime | None = None) -> None:
    """Mark one item (by the dataset's id) as a check item with `answer` (as in `parse_answer`):
    what the review page's "use as a check" does.

    Raises:
        NotFoundError: no such item; StudyError: a bad purpose or answer.
    """
    _check_purpose(purpose)
    item_id = item_store.item_id_for(storage.cursor(conn), project.id, external_id)
    if item_id is None:
        raise NotFoundError(f"No item '{external_id}' in project '{project.name}'")
    row = {"item_id": item_id, "project_id": project.id, "purpose": purpose,
           "expected": parse_answer(project, answer), "explanation": explanation.strip() or None,
           "source": "researcher"}
    now = now or utc_now()
    storage.write(conn, lambda c: store.upsert_check_items(c, [row], now))


def unmark(conn: Connection, project: Project, external_ids: list[str]) -> int:
    """Make check items ordinary items again (answers already given are kept); return how many."""
    cur = storage.cursor(conn)
    item_ids = [item_store.item_id_for(cur, project.id, ext) for ext in external_ids]
    unknown = [ext for ext, i in zip(external_ids, item_ids) if i is None]
    if unknown:
        raise NotFoundError(f"No item(s) {', '.join(unknown[:5])} in project '{project.name}'")
    return storage.write(conn, lambda c: store.delete_check_items(c, project.id, item_ids))


def check_items(conn: Connection, project: Project, purpose: str | None = None) -> pd.DataFrame:
    """The project's check items in marking order: item_id, external_id, purpose, answer (described
    in canonical A/B terms), expected (dict), explanation, source, created_at."""
    frame = store.check_items(storage.cursor(conn), project.id, purpose)
    frame["expected"] = [json.loads(e) for e in frame["expected"]]
    frame.insert(3, "answer", [describe_expected(project, e) for e in frame["expected"]])
    return frame


def check_of_item(conn: Connection, project: Project, external_id: str) -> dict | None:
    """How one item (by the dataset's id) is used as a check, for the review page: purpose, answer
    (in canonical A/B words), expected (dict) and explanation; None when it is an ordinary item."""
    frame = check_items(conn, project)
    rows = frame[frame["external_id"] == external_id]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {"purpose": row["purpose"], "answer": row["answer"], "expected": row["expected"],
            "explanation": row["explanation"] if isinstance(row["explanation"], str) else ""}


def check_item_ids(conn: Connection, project: Project) -> frozenset[int]:
    """Ids of the project's check items (never served as real items to participants)."""
    return frozenset(int(i) for i in store.check_items(storage.cursor(conn), project.id)["item_id"])


def parse_answer(project: Project, answer: object) -> dict:
    """An expected answer as a canonical label.

    Pairwise: 'A', 'B', 'tie' (case-insensitive) or a signed value on the project's scale ->
    {"overall": value} ('A' is the most negative point, 'B' the most positive). Rubric: a dict or
    JSON text {response number from 1: {criterion: score}} -> {"0": {criterion: score}, ...}.

    Raises:
        StudyError: an answer that is none of these, or off the scale.
    """
    config = project.config
    if config.task_type == "pairwise":
        values = [p.value for p in config.scale]
        text = str(answer if answer is not None else "").strip()
        verdict = {"a": "A", "b": "B", "tie": "tie"}.get(text.lower())
        if verdict is not None:
            value = {"A": min(values), "tie": 0, "B": max(values)}[verdict]  # annotate.signs: A negative
        else:
            try:
                value = int(text)
            except ValueError:
                raise StudyError(f"expected A, B, tie or a value on the scale {sorted(values)}, got {text!r}") from None
            if value not in values:
                raise StudyError(f"value {value} is not on the scale {sorted(values)}")
        return {"overall": value}
    data = json.loads(answer) if isinstance(answer, str) else answer
    if not isinstance(data, dict) or not data:
        raise StudyError('expected {"1": {"criterion": score}, ...} (response numbers from 1)')
    expected = {}
    for number, scores in data.items():
        if not str(number).isdigit() or int(number) < 1 or not isinstance(scores, dict):
            raise StudyError(f"response {number!r}: expected a response number from 1 with {{criterion: score}}")
        for criterion, score in scores.items():
            if criterion not in [c.name for c in config.criteria]:
                raise StudyError(f"unknown criterion '{criterion}'")
            if score not in config.criterion(criterion).scores:
                raise StudyError(f"criterion '{criterion}': score {score!r} is not on its scale")
        expected[str(int(number) - 1)] = {c: int(s) for c, s in scores.items()}
    return expected


def _expected_from_rows(project: Project, rows: pd.DataFrame) -> dict:
    """A gold label's value rows (aspect, response_idx, value) as a canonical expected answer."""
    if project.task_type == "pairwise":
        return {str(r.aspect): int(r.value) for r in rows.itertuples()}
    expected: dict[str, dict[str, int]] = {}
    for r in rows.itertuples():
        expected.setdefault(str(int(r.response_idx)), {})[str(r.aspect)] = int(r.value)
    return expected


def is_correct(project: Project, expected: dict, answer: dict) -> bool:
    """Whether a canonical answer matches the expected one (see the module docstring)."""
    if project.task_type == "pairwise":
        return int(np.sign(answer["overall"])) == int(np.sign(expected["overall"]))
    tolerance = project.config.study.check_tolerance
    given = {str(k): v for k, v in answer.items()}
    return all(abs(int(given.get(idx, {}).get(c, 10**9)) - int(s)) <= tolerance
               for idx, scores in expected.items() for c, s in scores.items())


def expected_as_presented(project: Project, expected: dict, order: str | None) -> dict:
    """The expected answer as the participant's screen lays it out (what the controls take)."""
    return presented_values(project, _rows(project, expected), order)


def describe_expected(project: Project, expected: dict, order: str | None = None) -> str:
    """The expected answer in words, as shown (with `order`) or in canonical terms (None)."""
    if project.task_type == "pairwise":
        verdict = VERDICT[int(np.sign(expected["overall"]))]
        if order == "BA" and verdict != "tie":
            verdict = "B" if verdict == "A" else "A"
        return "a tie" if verdict == "tie" else f"response {verdict} is better"
    return describe_label(project, _rows(project, expected), order)


def _rows(project: Project, expected: dict) -> list[tuple]:
    if project.task_type == "pairwise":
        return [(aspect, None, float(value)) for aspect, value in expected.items()]
    return [(c, int(idx), float(s)) for idx, scores in expected.items() for c, s in scores.items()]


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise StudyError(f"Unknown check purpose '{purpose}' (purposes: {', '.join(PURPOSES)})")

